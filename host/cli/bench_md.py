"""`gatebook bench-md`: the WebSocket market-data fanout's rate, its delay, and its cost."""

import sys
import time

from ..flow import generate_flow
from .common import Progress

__all__ = ["register"]


def register(subparsers):
    parser = subparsers.add_parser(
        "bench-md", help="WebSocket market data: messages/s, delay to N clients, engine cost",
        description="One seeded flow through the engine, the ITCH feed and the MoldUDP64 "
                    "publisher: flat out without the WebSocket fanout, flat out with it and "
                    "N clients connected (in separate processes, some reading slowly), then "
                    "paced, with the delay from each engine event to a client's receipt.")
    parser.add_argument("--orders", type=int, default=50_000, metavar="N",
                        help="commands in the flow (default 50,000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--clients", type=int, default=1000, metavar="N",
                        help="WebSocket clients, each watching one symbol's L2, the symbols "
                             "in turn (default 1,000)")
    parser.add_argument("--slow", type=int, default=100, metavar="N",
                        help="of them, clients that read one message every 200 ms (default 100)")
    parser.add_argument("--rate", type=int, default=2000, metavar="N",
                        help="commands/s of the paced run (default 2,000)")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="length of the paced run (default 10)")
    parser.add_argument("--nats", metavar="URL",
                        help="also run flat out with the NATS fanout (gatebook run --md-nats) "
                             "publishing to this server, JetStream on")
    parser.set_defaults(run=run_bench_md)


def _wait_connected(server, clients, seconds=120):
    deadline = time.monotonic() + seconds
    while server.clients < clients and time.monotonic() < deadline:
        print(f"\rbench-md: {server.clients:,}/{clients:,} clients connected", end="",
              file=sys.stderr, flush=True)
        time.sleep(0.25)
    print(file=sys.stderr)


def run_bench_md(args):
    from ..marketdata.ws_bench import (Rig, collect_clients, percentiles, run_flat_out,
                                       run_paced, stamped, start_clients)
    # Flat out, events carry timestamp 0, which clients do not time: only the paced
    # run's commands are stamped with the wall clock, as they are applied.
    commands = [stamped(command, 0) for command in generate_flow(args.orders, seed=args.seed)]
    paced = list(generate_flow(int(args.rate * args.seconds), seed=args.seed + 1))
    print(f"bench-md: {len(commands):,} commands (seed {args.seed}); {args.clients:,} WebSocket "
          f"clients ({args.slow:,} slow), each watching one symbol's L2 (10 levels a side)")

    alone = Rig()
    rate_alone, itch_alone = run_flat_out(alone, commands, Progress("engine alone"))
    print(f"\rengine + ITCH publisher, no fanout:     {rate_alone:>10,.0f} commands/s  "
          f"{itch_alone:>10,.0f} ITCH messages/s", flush=True)

    if args.nats:
        nats = Rig("nats", args.nats)
        try:
            rate_nats, itch_nats = run_flat_out(nats, commands, Progress("engine with NATS"))
        finally:
            nats.close()
        print(f"\rengine + ITCH publisher, NATS fanout:  {rate_nats:>10,.0f} commands/s  "
              f"{itch_nats:>10,.0f} ITCH messages/s  ({rate_nats / rate_alone:.0%} of the rate "
              f"without; {nats.nats.published:,} states, {nats.nats.executions:,} executions "
              f"published)", flush=True)
    rig = Rig("websocket")
    try:
        budget = 60 + args.seconds + len(commands) / max(rate_alone, 1) * 4
        processes = start_clients(rig.server.address, args.clients, args.slow, budget)
        _wait_connected(rig.server, args.clients)
        connected = rig.server.clients
        # Paced first, so the delays are not those of a backlog left by the flat-out run.
        sent_before, started = rig.server.served["messages"], time.perf_counter()
        done = run_paced(rig, paced, args.rate, args.seconds, Progress("paced"))
        time.sleep(0.5)
        paced_sent = rig.server.served["messages"] - sent_before
        paced_seconds = time.perf_counter() - started
        print(f"\rpaced at {args.rate:,} commands/s ({done:,} commands, {connected:,} clients "
              f"connected): {paced_sent / paced_seconds:,.0f} WebSocket messages/s sent",
              flush=True)
        sent_before, started = rig.server.served["messages"], time.perf_counter()
        rate_fanout, itch_fanout = run_flat_out(rig, commands, Progress("engine with fanout"))
        print(f"\rengine + ITCH publisher, fanout on:     {rate_fanout:>10,.0f} commands/s  "
              f"{itch_fanout:>10,.0f} ITCH messages/s  ({rate_fanout / rate_alone:.0%} of the "
              f"rate without; {(rig.server.served['messages'] - sent_before) / (time.perf_counter() - started):,.0f} "
              f"WebSocket messages/s sent meanwhile)", flush=True)
    finally:
        rig.close()                                  # which ends the clients' connections
    report = collect_clients(processes)
    delays = percentiles(report["delays_us"])
    print(f"clients: {report['connected']:,} connected, {report['failed']:,} failed or cut; "
          f"fast clients read {report['messages']:,} messages, slow ones "
          f"{report['slow_messages']:,}; server cut: "
          + (", ".join(f"{kind} {count}" for kind, count in sorted(rig.server.cut.items()))
             or "none") + f"; resyncs {rig.server.source.resyncs}")
    if delays:
        print("delay engine event -> client receipt (paced run, fast clients, sampled): "
              + ", ".join(f"p{point:g} {value / 1000:,.2f} ms" if point != "max" else
                          f"max {value / 1000:,.2f} ms" for point, value in delays.items()))
    return 0
