"""A network namespace with veth pairs into it: where a far end runs on one machine.

# Ref: ip-netns(8), veth(4).

`link_namespace(tag)` makes namespace `gblink<tag>` and two veth pairs into
it: one for order traffic (the namespace end has 198.18.1.2/24, ours takes
198.18.1.1 through DPDK or a socket) and one for link frames only (IPv6 off,
so the kernel sends nothing of its own on it). `FarEnd` runs `python -m
gatebook.sim.cosim` in such a namespace. Needs root.

The namespace end of the link pair always has the address `FAR_END_MAC`: the
gateware endpoint has its MAC built in, so a fixed address lets every far end
reuse one cached build instead of converting and compiling it again for the
random address the kernel would give (each namespace is its own link, so the
same address in two of them never meets).
"""

import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from gatebook.sim.endpoint.amaranth_port import ENDPOINT_MAC

__all__ = ["why_no_namespaces", "link_namespace", "FarEnd", "CLIENT_IP", "EXCHANGE_IP",
           "FAR_END_MAC"]

_ROOT = Path(__file__).resolve().parents[2]

CLIENT_IP, EXCHANGE_IP = "198.18.1.2", "198.18.1.1"
# The endpoint bench's own address, so the far ends and the bench share one build.
FAR_END_MAC = ENDPOINT_MAC


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def _no_ipv6(iface, ns=None):
    prefix = ["ip", "netns", "exec", ns] if ns else []
    subprocess.run(prefix + ["sysctl", "-q", "-w", f"net.ipv6.conf.{iface}.disable_ipv6=1"],
                   capture_output=True)


def why_no_namespaces():
    """None when namespaces and veth pairs can be made here, else the reason."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces and veth pairs"
    name = f"gbprobe{os.getpid() % 100000}"
    try:
        done = _ip("netns", "add", name, check=False)
    except FileNotFoundError:
        return "iproute2's `ip` is not installed"
    if done.returncode != 0:
        return f"cannot create a network namespace here: {done.stderr.strip()}"
    _ip("netns", "del", name, check=False)
    return None


@contextmanager
def link_namespace(tag):
    """Yield (namespace, [(ours, theirs) for orders, (ours, theirs) for the link])."""
    ns = f"gblink{tag}"
    pairs = [(f"gbo{tag}", f"gbp{tag}"), (f"gbl{tag}", f"gbm{tag}")]
    _ip("netns", "add", ns)
    try:
        for (ours, theirs), address in zip(pairs, ([], ["address", FAR_END_MAC])):
            _ip("link", "add", ours, "type", "veth", "peer", "name", theirs, *address)
            _no_ipv6(ours)
            _ip("link", "set", theirs, "netns", ns)
            _ip("-n", ns, "link", "set", theirs, "up")
            _ip("link", "set", ours, "up")
        _ip("-n", ns, "addr", "add", f"{CLIENT_IP}/24", "dev", pairs[0][1])
        _ip("-n", ns, "link", "set", "lo", "up")
        _no_ipv6(pairs[1][1], ns)
        yield ns, pairs
    finally:
        for ours, _ in pairs:
            _ip("link", "del", ours, check=False)
        _ip("netns", "del", ns, check=False)


class FarEnd:
    """`python -m gatebook.sim.cosim` in namespace `ns`, serving a lane on `iface`; `mac` is its address.

    `extra` adds arguments to the command line. Raises RuntimeError with the
    far end's output when it ends before it serves. Its stderr joins its
    stdout: a simulator build can write more warnings than a pipe holds.
    """

    def __init__(self, ns, iface, sim, depth=4, stall=0.0, extra=()):
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-m", "gatebook.sim.cosim", "--iface", iface,
             "--sim", sim, "--depth", str(depth), "--stall", str(stall), "--seconds", "3600",
             *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=_ROOT,
            start_new_session=True)
        self.lines = []
        for line in self.process.stdout:            # building a simulation takes a while
            self.lines.append(line)
            if line.startswith("cosim: serving"):
                self.mac = line.split("(")[1].split(")")[0]
                return
        raise RuntimeError(f"the far end did not start:\n{self.stop()[-5000:]}")

    def stop(self):
        """End the far end (simulator included); return all it printed."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        out, _ = self.process.communicate(timeout=30)
        return "".join(self.lines) + out
