"""`python -m gatebook.sim.cosim.link_bench`: what a lane costs the hybrid host, in process and over a link.

One seeded flow on the lane's home symbol (`--flow hot`, a hot symbol's quotes,
requotes and takers, `gatebook.sim.hybrid.hot_flow`; or `--flow adversarial`,
`gatebook.sim.flows.hybrid_flow`) goes through the hybrid host with
its lane in process (the compiled Verilator harness) and at the far end of
a veth pair (`python -m gatebook.sim.cosim --sim harness` in a network namespace,
reached through a DPDK af_packet port, or an AF_PACKET socket without DPDK),
pipelined (`HybridExchange.run`, up to `--window` commands in flight) and one
command at a time (`HybridExchange.apply`, what `gatebook run` does). Every
row checks its state hash against the golden engine's and gives the share of
the commands the lane handled itself, and the host's own CPU time per command
(this process only: the harness and the far end run in others). The first in-process row sends every
command of the owned symbol through the lane (`FitsWindow(host_keeps=False)`,
the policy before the host kept what the lane could only punt), for comparison. Needs root for the
namespace. Wall-clock figures: on a shared machine compare rows of one run.

``--callgrind`` counts instructions instead (`gatebook.host.hybrid.bench`), which a busy
machine does not move: the host's instructions per command on the same flow, pipelined
through the Verilator harness in process (the harness is a child process callgrind does
not follow, so the count is the host's own work: front end, router, merger, link codec,
engine), and the golden engine's alone, for the build as installed and the Python source
(``GATEBOOK_PURE_PYTHON=1``, which loads every compiled module from source).
"""

import argparse
import functools
import itertools
import os
import sys
import time

from gatebook.host.bench import time_each
from gatebook.host.compiled import PURE_PYTHON_ENV
from gatebook.host.hybrid.bench import instructions_per_command
from gatebook.host.engine import MatchingEngine
from gatebook.host.hybrid import FitsWindow, HybridExchange
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.sim.flows import SYMBOL, hybrid_flow
from gatebook.sim.hybrid.hot_flow import HOT_MIX, hot_flow

from .netns import FarEnd, link_namespace, why_no_namespaces

__all__ = ["main"]

_ports = itertools.count(900)


def _percentile(samples, fraction):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] / 1000


def _row(name, mode, commands, make_link, window, golden_hash, policy=None):
    hybrid = HybridExchange(DEFAULT_SYMBOLS, [make_link()], [SYMBOL], window=window,
                            policy=policy)
    try:
        cpu = time.process_time()
        if mode == "pipelined":
            start = time.perf_counter()
            hybrid.run(commands)
            seconds, p50, p99 = time.perf_counter() - start, None, None
        else:
            samples, seconds = time_each(hybrid.apply, commands)
            p50, p99 = _percentile(samples, 0.5), _percentile(samples, 0.99)
        host_us = (time.process_time() - cpu) / len(commands) * 1e6
        same = hybrid.state_hash() == golden_hash
        lane_share = hybrid.lane_commands / len(commands)
    finally:
        hybrid.close()
    return name, mode, len(commands) / seconds, p50, p99, host_us, lane_share, same


def _host_port(iface):
    """A DPDK af_packet port on `iface`, or an AF_PACKET socket where DPDK is missing."""
    from gatebook.dpdk_bridge import dpdk_available
    if dpdk_available()[0]:
        from gatebook.dpdk_bridge.eal import Eal
        return Eal.start().attach(f"net_af_packet{next(_ports)},iface={iface}"), "dpdk af_packet"
    from gatebook.dpdk_bridge.raw import RawSocketPort
    from gatebook.wire.link_frame import ETHERTYPE
    return RawSocketPort(iface, ETHERTYPE), "af_packet socket"


def _flow(args):
    if args.flow == "hot":
        return hot_flow(args.seed, args.commands), f"a hot symbol: {HOT_MIX.describe()}"
    return (hybrid_flow(args.seed, args.commands, symbols=(SYMBOL,)),
            "adversarial (gatebook.sim.flows.hybrid_flow)")


def _print_instructions(args):
    commands, described = _flow(args)
    print(f"callgrind, {len(commands):,} commands (seed {args.seed}) on the lane's home "
          f"symbol, {described}; depth {args.depth}, window {args.window}; instructions per "
          f"command in this process")
    from gatebook.sim.hybrid.verilator_link import VerilatorLink, build_harness
    # Built here, and the measured processes run exactly this binary.
    in_process = functools.partial(VerilatorLink, harness=build_harness(args.depth))
    for pure in (False, True):
        build = f"{PURE_PYTHON_ENV}=1" if pure else "as installed"
        hybrid = instructions_per_command(commands, in_process, depth=args.depth,
                                          homes=(SYMBOL,), window=args.window, pure=pure)
        golden = instructions_per_command(commands, pure=pure)
        print(f"  {build:22} hybrid, harness in process {hybrid:>9,.0f}   "
              f"golden engine alone {golden:>7,.0f}", flush=True)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m gatebook.sim.cosim.link_bench",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--commands", type=int, default=20000)
    parser.add_argument("--flow", choices=("hot", "adversarial"), default="hot")
    parser.add_argument("--depth", type=int, default=16, help="orders per side in the window")
    parser.add_argument("--window", type=int, default=16, help="commands in flight, pipelined")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--no-veth", action="store_true", help="in-process rows only")
    parser.add_argument("--spins", type=int, default=0,
                        help="empty polls before the host naps, over the veth (the simulated "
                             "far end shares this machine's cores; default 0)")
    parser.add_argument("--callgrind", action="store_true",
                        help="instructions per command under callgrind instead of the clock")
    args = parser.parse_args(argv)
    if args.callgrind:
        return _print_instructions(args)
    why = None if args.no_veth else why_no_namespaces()
    if why:
        print(f"link_bench: {why}", file=sys.stderr)
        return 2
    from gatebook.sim.hybrid.verilator_link import VerilatorLink
    commands, described = _flow(args)
    golden = MatchingEngine(DEFAULT_SYMBOLS)
    start = time.perf_counter()
    for command in commands:
        golden.apply(command)
    seconds = time.perf_counter() - start
    rows = [("golden engine, no lane", "apply", len(commands) / seconds, None, None,
             seconds / len(commands) * 1e6, 0.0, True)]
    golden_hash = golden.state_hash()
    in_process = lambda: VerilatorLink(args.depth)           # noqa: E731
    for name, mode, policy in (
            ("in process, lane sees every cmd", "pipelined", FitsWindow(host_keeps=False)),
            ("Verilator harness in process", "pipelined", None),
            ("Verilator harness in process", "apply", None)):
        rows.append(_row(name, mode, commands, in_process, args.window, golden_hash, policy))
        print(f"link_bench: {rows[-1][0]}, {mode} done", file=sys.stderr, flush=True)
    if not args.no_veth:
        _veth_rows(args, commands, golden_hash, rows)
    print(f"{len(commands):,} commands (seed {args.seed}) on the lane's home symbol, "
          f"{described}; depth {args.depth}, window {args.window}")
    print(f"{'lane':38} {'mode':9} {'commands/s':>10} {'p50 us':>7} {'p99 us':>7} "
          f"{'host us':>7} {'in lane':>7}  hash")
    for name, mode, rate, p50, p99, host_us, share, same in rows:
        cells = [f"{value:7.1f}" if value is not None else f"{'-':>7}" for value in (p50, p99)]
        print(f"{name:38} {mode:9} {rate:10,.0f} {cells[0]} {cells[1]} {host_us:7.1f} "
              f"{share:7.0%}  {'= golden' if same else 'DIFFERS'}")
    return 0 if all(row[-1] for row in rows) else 1


def _veth_rows(args, commands, golden_hash, rows):
    from gatebook.host.net.link import PacketLaneLink
    with link_namespace(f"b{os.getpid() % 10000}") as (ns, pairs):
        far = FarEnd(ns, pairs[1][1], "harness", depth=args.depth)
        try:
            for mode in ("pipelined", "apply"):
                port_kind = []

                def over_link():
                    port, kind = _host_port(pairs[1][0])
                    port_kind.append(kind)
                    return PacketLaneLink(port, far.mac, args.depth, spins=args.spins)
                row = _row("", mode, commands, over_link, args.window, golden_hash)
                rows.append((f"harness over veth ({port_kind[0]})",) + row[1:])
                print(f"link_bench: {rows[-1][0]}, {mode} done", file=sys.stderr, flush=True)
        finally:
            far.stop()


if __name__ == "__main__":
    sys.exit(main())
