"""`gatebook bench-net`: packet-path throughput, DPDK and kernel socket side by side.

With `--log` the DPDK end-to-end rows and the engine alone also run with the
write-ahead log on (host/wal/), as `gatebook run --log` runs it: every command
logged with its OUCH origin by a JournaledExchange, each burst's replies held
until the log acknowledges its last command; the log lives in a scratch
directory (its disk is what gets measured).
"""

import argparse
import collections
import itertools
import os
import sys
import tempfile
import time

from gatebook.wire.enums import OrderEntryProtocol
from gatebook.wire.positions import CODE, INTERNAL

from ..ouch.bench import (bench_copy, bench_engine, bench_ingress, bench_socket_end_to_end,
                         gateway_commands, order_datagrams, write_order_pcap)
from ..ouch.gateway import Gateway
from ..ouch.log_origin import OUCH_LOG, encode_origin
from ..ouch.replier import Replier
from ..runtime import quiet_gc
from ..sequencer import Sequencer
from ..symbols import DEFAULT_SYMBOLS
from ..wal.journal import JournaledExchange

__all__ = ["register", "LOG_MODES", "bench_ingress_logged", "bench_engine_logged"]

#: What --log takes: no log, or a durability policy of the log (host/wal/writer.py).
LOG_MODES = ("off", "strict", "batched", "none")
_SEQ = INTERNAL.NEW_ORDER.seq       # every command's seq (gatebook.wire.positions)
_OUCH = int(OrderEntryProtocol.OUCH)
# DPDK virtual-device names must be unique in the process; host/ouch/bench.py
# numbers its own from 200, these start far above.
_port_names = itertools.count(5_000_000)


def register(subparsers):
    parser = subparsers.add_parser(
        "bench-net", help="packets/s through the DPDK bridge and orders/s end to end",
        description="Writes a standard order flow as a pcap, then measures: DPDK burst copies "
                    "alone (net_pcap replaying from memory), DPDK ingress decoded into the "
                    "golden-model engine with replies sent out of a net_null port, for bursts of "
                    "32 and 256 (the gateway that runs, and the Python reference beside a "
                    "compiled one); the golden-model engine alone on the same commands; and "
                    "orders/s end to end over a kernel UDP socket on loopback.")
    parser.add_argument("--orders", type=int, default=100_000, help="orders in the flow (default 100,000)")
    parser.add_argument("--copy-packets", type=int, default=5_000_000,
                        help="packets for the copy-only figure (default 5,000,000)")
    parser.add_argument("--socket-orders", type=int, default=20_000,
                        help="orders for the kernel-socket round trip (default 20,000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1,
                        help="order messages per datagram, per session (default 1)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds of the DPDK end-to-end rows and the engine alone, "
                             "interleaved; each row shows its best (default 3)")
    parser.add_argument("--log", default="off,batched", type=_log_modes,
                        help="comma-separated: the DPDK end-to-end rows and the engine alone "
                             "without the write-ahead log (off) and with it under these "
                             "durability policies (strict, batched, none); default off,batched")
    parser.add_argument("--log-dir", help="where the logs go (default: the system temp "
                                          "directory); its disk is what gets measured")
    parser.set_defaults(run=run_bench_net)


def _log_modes(text):
    modes = tuple(mode.strip() for mode in text.split(",") if mode.strip())
    unknown = [mode for mode in modes if mode not in LOG_MODES]
    if unknown or not modes:
        raise argparse.ArgumentTypeError(f"--log takes {', '.join(LOG_MODES)}, not {text!r}")
    return modes


def run_bench_net(args):
    from gatebook.dpdk_bridge import dpdk_available
    available, why = dpdk_available()
    datagrams = order_datagrams(args.orders, args.seed, args.batch)
    commands = gateway_commands(datagrams)
    rows, best, best_cpu = [], 0.0, 0.0
    gateway_path = Gateway(Sequencer(time.time_ns), DEFAULT_SYMBOLS).path
    logged = [mode for mode in args.log if mode != "off"]
    with tempfile.TemporaryDirectory() as tmp, \
            tempfile.TemporaryDirectory(prefix="gatebook-bench-net-log-", dir=args.log_dir) as logs:
        log_dirs = (os.path.join(logs, f"log{number}") for number in itertools.count())
        if available:
            pcap, small = os.path.join(tmp, "orders.pcap"), os.path.join(tmp, "small.pcap")
            write_order_pcap(pcap, datagrams)
            write_order_pcap(small, datagrams[:4096])
            for burst in (32, 256):
                copy = bench_copy(small, burst, args.copy_packets, min(4096, len(datagrams)))
                rows.append(("dpdk net_pcap: burst copy only", burst, copy["pps"], None, None))
            # The gateway and replier that run (compiled where built), then, when
            # that is the compiled twin, the Python reference beside it; then
            # the running ones with the log on.
            paths = [(None, "dpdk net_pcap -> gateway -> engine -> replies")] * ("off" in args.log)
            if "off" in args.log and Gateway(Sequencer(time.time_ns),
                                             DEFAULT_SYMBOLS).path.startswith("compiled"):
                paths.append((False, "dpdk net_pcap -> python gateway -> engine -> replies"))
            paths += [(mode, f"dpdk net_pcap -> gateway -> journal (log {mode}) -> replies")
                      for mode in logged]
            # `repeat` rounds, each running every end-to-end row and the engine
            # alone once, so a machine whose speed drifts moves them together;
            # each row shows its best run by each clock.
            rounds = {(path, burst): [] for path, _ in paths for burst in (32, 256)}
            engine_runs = {mode: [] for mode in args.log}
            for _ in range(max(1, args.repeat)):
                for (path, burst), runs in rounds.items():
                    if path in LOG_MODES:
                        runs.append(bench_ingress_logged(pcap, burst, len(datagrams),
                                                         next(log_dirs), path))
                    else:
                        runs.append(bench_ingress(pcap, burst, len(datagrams), path))
                    if runs[-1]["orders"] != len(commands):
                        print(f"bench-net: decoded {runs[-1]['orders']} of {len(commands)} "
                              f"orders", file=sys.stderr)
                        return 1
                _engine_round(engine_runs, commands, log_dirs)
            for path, name in paths:
                for burst in (32, 256):
                    runs = rounds[path, burst]
                    seconds = min(run["seconds"] for run in runs)
                    per_cpu = len(commands) / min(run["cpu_seconds"] for run in runs)
                    rows.append((name, burst, max(run["pps"] for run in runs),
                                 len(commands) / seconds, per_cpu))
                    if path is None:
                        gateway_path = runs[-1]["path"]
                        best = max(best, len(commands) / seconds)
                        best_cpu = max(best_cpu, per_cpu)
        else:
            print(f"bench-net: DPDK unavailable, DPDK rows skipped: {why}", file=sys.stderr)
            engine_runs = {mode: [] for mode in args.log}
            for _ in range(max(1, args.repeat)):
                _engine_round(engine_runs, commands, log_dirs)
    for mode, runs in engine_runs.items():
        name = "golden-model engine alone, the same commands" + (
            "" if mode == "off" else f", log {mode}")
        rows.append((name, None, None, max(run["commands_per_s"] for run in runs),
                     max(run["commands_per_cpu_s"] for run in runs)))
    engine = max((run["commands_per_s"] for run in engine_runs.get("off", ())), default=None)
    engine_cpu = max((run["commands_per_cpu_s"] for run in engine_runs.get("off", ())),
                     default=None)
    # the round-trip client waits for one reply per datagram: one order each
    single = datagrams if args.batch == 1 else order_datagrams(args.orders, args.seed)
    sock = bench_socket_end_to_end(single[:args.socket_orders])
    rows.append(("kernel UDP socket, loopback round trip (window 64)", None, None,
                 sock["orders_per_s"], None))
    print(f"gateway and replier: {gateway_path}")
    print(f"{'path':60s} {'burst':>5s} {'packets/s':>12s} {'orders/s':>10s} {'per cpu s':>10s}")
    for name, burst, pps, ops, cpu in rows:
        print(f"{name:60s} {burst or '-':>5} {f'{pps:,.0f}' if pps else '-':>12s} "
              f"{f'{ops:,.0f}' if ops else '-':>10s} {f'{cpu:,.0f}' if cpu else '-':>10s}")
    print(f"flow: {len(commands):,} orders in {len(datagrams):,} datagrams (seed {args.seed}, "
          f"batch {args.batch}); socket round trip answered "
          f"{sock['answered']:,} of {sock['orders']:,}")
    if best and engine:
        print(f"engine alone / best DPDK end to end: {engine / best:.2f}x by the wall clock, "
              f"{engine_cpu / best_cpu:.2f}x by CPU time")
    return 0 if sock["answered"] == sock["orders"] else 1


def _engine_round(engine_runs, commands, log_dirs):
    for mode, runs in engine_runs.items():
        runs.append(bench_engine(commands, repeat=1) if mode == "off"
                    else bench_engine_logged(commands, next(log_dirs), mode))


def bench_engine_logged(commands, directory, policy="batched"):
    """Commands/s of a JournaledExchange (engine and log, `policy`) on `commands`,
    from the first apply to the last command acknowledged, by the wall clock
    and by this process's CPU time (the log writer's thread included)."""
    journal = JournaledExchange(directory, DEFAULT_SYMBOLS, policy=policy, snapshot_every=0)
    # As under Exchange, which keeps the order-entry states itself (these commands
    # have no origins, so there is no state to keep).
    journal.entry_states = dict
    apply = journal.apply
    with quiet_gc():
        start, cpu = time.perf_counter(), time.process_time()
        for command in commands:
            apply(command)
        journal.writer.wait_acked(journal.sequencer.next_seq - 1)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    journal.close()
    return {"commands": len(commands), "commands_per_s": len(commands) / seconds,
            "commands_per_cpu_s": len(commands) / cpu}


def bench_ingress_logged(pcap, burst, expected, directory, policy="batched"):
    """`bench_ingress` (host/ouch/bench.py) with the write-ahead log on.

    As `gatebook run --log` does it (host/net/exchange_server.py): the gateway
    stamps commands with the journal's sequencer; each is logged with its OUCH
    origin and applied by the JournaledExchange; a burst's replies wait until
    the log acknowledges the burst's last command, then leave through the
    net_null port. The clocks stop when the last reply has left.
    """
    from gatebook.dpdk_bridge.eal import Eal
    from gatebook.dpdk_bridge.udp import DpdkUdp
    udp = DpdkUdp(Eal.start().attach(f"net_pcap{next(_port_names)},rx_pcap={pcap}"),
                  "127.0.0.1", 15000, burst=burst)
    out = DpdkUdp(Eal.start().attach(f"net_null{next(_port_names)}"), "127.0.0.1", 15000,
                  burst=burst)
    journal = JournaledExchange(directory, DEFAULT_SYMBOLS, policy=policy, snapshot_every=0)
    writer = journal.writer
    gateway = Gateway(journal.sequencer, DEFAULT_SYMBOLS)
    replier = Replier(gateway, DEFAULT_SYMBOLS)
    # As Exchange does: the entry keeps its own state, so the journal does not
    # rebuild it from every origin it logs (snapshots would ask it for it).
    state = gateway.export_state(replier, deferred=True)
    journal.entry_states = lambda: {_OUCH: lambda: OUCH_LOG.encode_state(state())}
    held = collections.deque()          # (last seq of a burst, its reply datagrams)
    packets = replies = idle = 0
    log, add, commands_of, origin_of = journal.apply, replier.add, gateway.commands, gateway.origins.get
    recv, flush, send = udp.recv_ouch, replier.flush, out.send
    try:
        with quiet_gc():
            start, cpu = time.perf_counter(), time.process_time()
            while packets < expected and idle < 1000:
                data, frames = recv()
                if not frames:
                    idle += 1
                    continue
                idle = 0
                packets += len(frames)
                for command in commands_of(data, frames):
                    origin = encode_origin(command[CODE], origin_of(command[_SEQ]))
                    add(log(command, (_OUCH, origin)))
                held.append((journal.sequencer.next_seq - 1, flush()))
                while held and held[0][0] <= writer.acked_seq:
                    replies += send(held.popleft()[1])
            if held:
                writer.wait_acked(held[-1][0])
            while held:
                replies += send(held.popleft()[1])
            seconds = time.perf_counter() - start
            cpu = time.process_time() - cpu
    finally:
        journal.close()
        udp.close()
        out.close()
    return {"packets": packets, "orders": gateway.messages, "replies": replies,
            "seconds": seconds, "cpu_seconds": cpu, "pps": packets / seconds,
            "bad": sum(gateway.bad.values()), "path": gateway.path}
