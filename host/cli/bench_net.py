"""`gatebook bench-net`: packet-path throughput, DPDK and kernel socket side by side."""

import os
import sys
import tempfile

from ..net_bench import (bench_copy, bench_engine, bench_ingress, bench_socket_end_to_end,
                         gateway_commands, order_datagrams, write_order_pcap)

__all__ = ["register"]


def register(subparsers):
    parser = subparsers.add_parser(
        "bench-net", help="packets/s through the DPDK bridge and orders/s end to end",
        description="Writes a standard order flow as a pcap, then measures: DPDK burst copies "
                    "alone (net_pcap replaying from memory), DPDK ingress decoded into the "
                    "golden-model engine with replies encoded (net_pcap replay), for bursts of "
                    "32 and 256; the golden-model engine alone on the same commands; and "
                    "orders/s end to end over a kernel UDP socket on loopback.")
    parser.add_argument("--orders", type=int, default=100_000, help="orders in the flow (default 100,000)")
    parser.add_argument("--copy-packets", type=int, default=5_000_000,
                        help="packets for the copy-only figure (default 5,000,000)")
    parser.add_argument("--socket-orders", type=int, default=20_000,
                        help="orders for the kernel-socket round trip (default 20,000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.set_defaults(run=run_bench_net)


def run_bench_net(args):
    from dpdk_bridge import dpdk_available
    available, why = dpdk_available()
    datagrams = order_datagrams(args.orders, args.seed)
    rows, best = [], 0.0
    with tempfile.TemporaryDirectory() as tmp:
        if available:
            pcap, small = os.path.join(tmp, "orders.pcap"), os.path.join(tmp, "small.pcap")
            write_order_pcap(pcap, datagrams)
            write_order_pcap(small, datagrams[:4096])
            for burst in (32, 256):
                copy = bench_copy(small, burst, args.copy_packets, min(4096, len(datagrams)))
                rows.append(("dpdk net_pcap: burst copy only", burst, copy["pps"], None))
            for burst in (32, 256):
                ingress = bench_ingress(pcap, burst, len(datagrams))
                if ingress["orders"] != len(datagrams):
                    print(f"bench-net: decoded {ingress['orders']} of {len(datagrams)} orders",
                          file=sys.stderr)
                    return 1
                rows.append(("dpdk net_pcap -> gateway -> engine -> replies", burst,
                             ingress["pps"], ingress["orders"] / ingress["seconds"]))
                best = max(best, ingress["orders"] / ingress["seconds"])
        else:
            print(f"bench-net: DPDK unavailable, DPDK rows skipped: {why}", file=sys.stderr)
    engine = bench_engine(gateway_commands(datagrams))["commands_per_s"]
    rows.append(("golden-model engine alone, the same commands", None, None, engine))
    sock = bench_socket_end_to_end(datagrams[:args.socket_orders])
    rows.append(("kernel UDP socket, loopback round trip (window 64)", None, None,
                 sock["orders_per_s"]))
    print(f"{'path':52s} {'burst':>5s} {'packets/s':>12s} {'orders/s':>10s}")
    for name, burst, pps, ops in rows:
        print(f"{name:52s} {burst or '-':>5} {f'{pps:,.0f}' if pps else '-':>12s} "
              f"{f'{ops:,.0f}' if ops else '-':>10s}")
    print(f"flow: {len(datagrams):,} orders (seed {args.seed}); socket round trip answered "
          f"{sock['answered']:,} of {sock['orders']:,}")
    if best:
        print(f"engine alone / best DPDK end to end: {engine / best:.2f}x")
    return 0 if sock["answered"] == sock["orders"] else 1
