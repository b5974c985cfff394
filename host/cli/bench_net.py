"""`gatebook bench-net`: packet-path throughput, DPDK and kernel socket side by side."""

import os
import sys
import tempfile
import time

from ..ouch.bench import (bench_copy, bench_engine, bench_ingress, bench_socket_end_to_end,
                         gateway_commands, order_datagrams, write_order_pcap)
from ..ouch.gateway import Gateway
from ..sequencer import Sequencer
from ..symbols import DEFAULT_SYMBOLS

__all__ = ["register"]


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
    parser.set_defaults(run=run_bench_net)


def run_bench_net(args):
    from gatebook.dpdk_bridge import dpdk_available
    available, why = dpdk_available()
    datagrams = order_datagrams(args.orders, args.seed, args.batch)
    commands = gateway_commands(datagrams)
    rows, best, best_cpu = [], 0.0, 0.0
    gateway_path = Gateway(Sequencer(time.time_ns), DEFAULT_SYMBOLS).path
    with tempfile.TemporaryDirectory() as tmp:
        if available:
            pcap, small = os.path.join(tmp, "orders.pcap"), os.path.join(tmp, "small.pcap")
            write_order_pcap(pcap, datagrams)
            write_order_pcap(small, datagrams[:4096])
            for burst in (32, 256):
                copy = bench_copy(small, burst, args.copy_packets, min(4096, len(datagrams)))
                rows.append(("dpdk net_pcap: burst copy only", burst, copy["pps"], None, None))
            # The gateway and replier that run (compiled where built), then, when
            # that is the compiled twin, the Python reference beside it.
            paths = [(None, "dpdk net_pcap -> gateway -> engine -> replies")]
            if Gateway(Sequencer(time.time_ns), DEFAULT_SYMBOLS).path.startswith("compiled"):
                paths.append((False, "dpdk net_pcap -> python gateway -> engine -> replies"))
            # `repeat` rounds, each running every end-to-end row and the engine
            # alone once, so a machine whose speed drifts moves them together;
            # each row shows its best run by each clock.
            rounds = {(compiled, burst): [] for compiled, _ in paths for burst in (32, 256)}
            engine_runs = []
            for _ in range(max(1, args.repeat)):
                for (compiled, burst), runs in rounds.items():
                    runs.append(bench_ingress(pcap, burst, len(datagrams), compiled))
                    if runs[-1]["orders"] != len(commands):
                        print(f"bench-net: decoded {runs[-1]['orders']} of {len(commands)} "
                              f"orders", file=sys.stderr)
                        return 1
                engine_runs.append(bench_engine(commands, repeat=1))
            for compiled, name in paths:
                for burst in (32, 256):
                    runs = rounds[compiled, burst]
                    seconds = min(run["seconds"] for run in runs)
                    per_cpu = len(commands) / min(run["cpu_seconds"] for run in runs)
                    rows.append((name, burst, max(run["pps"] for run in runs),
                                 len(commands) / seconds, per_cpu))
                    if compiled is None:
                        gateway_path = runs[-1]["path"]
                        best = max(best, len(commands) / seconds)
                        best_cpu = max(best_cpu, per_cpu)
        else:
            print(f"bench-net: DPDK unavailable, DPDK rows skipped: {why}", file=sys.stderr)
            engine_runs = [bench_engine(commands, repeat=1) for _ in range(max(1, args.repeat))]
    alone = {"commands_per_s": max(run["commands_per_s"] for run in engine_runs),
             "commands_per_cpu_s": max(run["commands_per_cpu_s"] for run in engine_runs)}
    engine, engine_cpu = alone["commands_per_s"], alone["commands_per_cpu_s"]
    rows.append(("golden-model engine alone, the same commands", None, None, engine, engine_cpu))
    # the round-trip client waits for one reply per datagram: one order each
    single = datagrams if args.batch == 1 else order_datagrams(args.orders, args.seed)
    sock = bench_socket_end_to_end(single[:args.socket_orders])
    rows.append(("kernel UDP socket, loopback round trip (window 64)", None, None,
                 sock["orders_per_s"], None))
    print(f"gateway and replier: {gateway_path}")
    print(f"{'path':52s} {'burst':>5s} {'packets/s':>12s} {'orders/s':>10s} {'per cpu s':>10s}")
    for name, burst, pps, ops, cpu in rows:
        print(f"{name:52s} {burst or '-':>5} {f'{pps:,.0f}' if pps else '-':>12s} "
              f"{f'{ops:,.0f}' if ops else '-':>10s} {f'{cpu:,.0f}' if cpu else '-':>10s}")
    print(f"flow: {len(commands):,} orders in {len(datagrams):,} datagrams (seed {args.seed}, "
          f"batch {args.batch}); socket round trip answered "
          f"{sock['answered']:,} of {sock['orders']:,}")
    if best:
        print(f"engine alone / best DPDK end to end: {engine / best:.2f}x by the wall clock, "
              f"{engine_cpu / best_cpu:.2f}x by CPU time")
    return 0 if sock["answered"] == sock["orders"] else 1
