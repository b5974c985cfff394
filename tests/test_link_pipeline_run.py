"""A real `gatebook run --link` pipelining to a simulated lane over a veth (issue 13).

`gatebook run` in this process's namespace reaches its lane through a veth pair
into a test namespace, where `python -m gatebook.sim.cosim` serves the lane's
Verilog as a compiled Verilator harness (the Amaranth simulation where no harness
is built). A client on loopback logs four users in and sends racing OUCH traffic
(tests/link_pipeline_flow.py: adds, cancels, replaces renaming tokens, fills,
token reuse, a few hostile datagrams); every reply each user gets, numbered and in
order, must be the one `gatebook run` on the golden engine gives the same traffic,
timestamps aside (the wall clock stamps them). The run's summary shows the
commands went down the link many per round trip. A lane that dies mid-run still
ends the run with status 3, as it did one command at a time.
"""

import os
import subprocess
import sys
import time

import pytest

from gatebook.dpdk_bridge.udp import SocketUdp
from gatebook.host.ouch.framing import OUTBOUND_CODEC, decode_datagram
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.sim.cosim.netns import FarEnd, link_namespace, why_no_namespaces
from gatebook.sim.hybrid.hot_flow import hot_flow

from link_pipeline_flow import racing_datagrams  # noqa: E402 (tests/ is on sys.path)
from ouch_login import FlowClient, write_accounts

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TAG = f"p{os.getpid() % 10000}"
USERS = (1, 2, 3, 4)
# Datagrams no session sent: refused (and answered) before they touch any state.
HOSTILE = [b"", b"\x00" * 3, b"\xff" * 40, bytes(range(256))]


@pytest.fixture(scope="module")
def link_netns():
    why = why_no_namespaces()
    if why:
        pytest.skip(why)
    with link_namespace(_TAG) as made:
        yield made


def _far_end(ns, iface):
    """The harness at depth 16 where it is built, else the Amaranth simulation at depth 4."""
    from gatebook.sim.hybrid.verilator_link import built_harness, verilator_available
    if verilator_available() and built_harness(16) is not None:
        return FarEnd(ns, iface, "harness", depth=16), 16
    return FarEnd(ns, iface, "amaranth", depth=4), 4


def _start(accounts_file, messages, extra=()):
    with SocketUdp() as probe:
        port = probe.address[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "gatebook.cli", "run", "--listen", f"127.0.0.1:{port}",
         "--md", "none", "--max-orders", str(messages), "--seconds", "120",
         "--accounts", accounts_file, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=_REPO)
    # Read up to the last start line: communicate() later reads the pipe itself, so
    # a line this iterator had read ahead of the one it stopped at would be lost.
    last = "run: link:" if any(arg.startswith("--link") for arg in extra) else \
        "run: gateway and replier"
    opening = []
    for line in server.stdout:
        opening.append(line)
        if line.startswith(last):
            break
    return server, port, opening


def _stop(server):
    try:
        out, err = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.terminate()
            server.communicate(timeout=10)
    return out, err


def _by_user(replies):
    """{user: [(reply number, record with its timestamp zeroed)]} of reply datagrams
    (execution reports are numbered per user, whose id their header carries)."""
    out = {user: [] for user in USERS}
    for payload in replies:
        try:
            user, first, records = decode_datagram(payload, OUTBOUND_CODEC)
        except ValueError:
            continue
        if user in out:
            out[user] += [(first + k, (record[0], 0) + tuple(record[2:]))
                          for k, record in enumerate(records)]
    return out


def _serve(accounts_file, datagrams, expect=None, extra=()):
    """`gatebook run` (with `extra`) sent `datagrams` in small paced groups; (stdout,
    replies by user). Waits for `expect`'s replies, or until the run has ended."""
    messages = sum(int.from_bytes(payload[12:14], "big") for _, payload in datagrams)
    server, port, opening = _start(accounts_file, messages, extra)
    replies = []
    try:
        with SocketUdp() as sock:
            client = FlowClient(sock, ("127.0.0.1", port), USERS)
            replies += sock.early if hasattr(sock, "early") else []
            sock.send([(junk, ("127.0.0.1", port)) for junk in HOSTILE])
            for at in range(0, len(datagrams), 12):
                client.send(datagrams[at:at + 12])
                replies += [payload for payload, _ in sock.recv(256)]
                time.sleep(0.01)
            wanted = sum(map(len, expect.values())) if expect else None
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                replies += [payload for payload, _ in sock.recv(256)]
                got = _by_user(replies)
                if wanted is not None and sum(map(len, got.values())) >= wanted:
                    break
                if wanted is None and server.poll() is not None:
                    replies += [payload for payload, _ in sock.recv(256)]
                    break
                time.sleep(0.02)
            got = _by_user(replies)
    finally:
        out, err = _stop(server)
    assert server.returncode == 0, err
    return "".join(opening) + out, got


def test_run_link_pipelines_and_replies_as_the_golden_engine(link_netns, tmp_path):
    ns, pairs = link_netns
    accounts_file = write_accounts(tmp_path / "accounts.json", USERS)
    datagrams = racing_datagrams(hot_flow(9, 800), DEFAULT_SYMBOLS, seed=4, users=len(USERS))
    golden_out, golden = _serve(accounts_file, datagrams)
    assert "matching: golden model in-process" in golden_out
    assert sum(map(len, golden.values())) > 800
    far, depth = _far_end(ns, pairs[1][1])
    try:
        out, got = _serve(accounts_file, datagrams, golden, [
            "--link-iface", pairs[1][0], "--link-peer", far.mac, "--link-depth", str(depth)])
    finally:
        far.stop()
    assert "run: link: a burst's commands in flight together" in out, out
    for user in USERS:
        assert got[user] == golden[user], user
    matched = int(out.split("pipeline matched ")[1].split(" ")[0].replace(",", ""))
    trips = int(out.split(" round trips")[0].rsplit(" ", 1)[1].replace(",", ""))
    assert matched > 50 and trips * 2 < matched, out


def test_a_lane_that_dies_mid_run_ends_the_run_with_status_3(link_netns, tmp_path):
    ns, pairs = link_netns
    accounts_file = write_accounts(tmp_path / "accounts.json", USERS)
    datagrams = racing_datagrams(hot_flow(2, 200), DEFAULT_SYMBOLS, seed=5, users=len(USERS))
    far, depth = _far_end(ns, pairs[1][1])
    server, port, _ = _start(accounts_file, 10_000, [
        "--link-iface", pairs[1][0], "--link-peer", far.mac, "--link-depth", str(depth)])
    try:
        with SocketUdp() as sock:
            client = FlowClient(sock, ("127.0.0.1", port), USERS)
            client.send(datagrams[:40])
            deadline = time.monotonic() + 30
            replies = []
            while not replies and time.monotonic() < deadline:
                replies += sock.recv(64)
                time.sleep(0.01)
            assert replies, "no replies before the lane died"
            far.stop()
            client.send(datagrams[40:])
            out, err = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
        far.stop()
    assert server.returncode == 3, err
    assert "gatebook run: the lane at" in err and "answered" in err
