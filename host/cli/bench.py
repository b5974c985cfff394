"""`gatebook bench`: throughput and latency of the software matching path."""

import platform
from dataclasses import replace

from ..bench import GC_MODES, KINDS, run_benchmark, steady_tail
from ..compiled import engine_build
from ..flow import STANDARD_MIX
from ..peer_bench import PEER_MIX, flow_shape, peer_flow, run_peers
from ..symbols import DEFAULT_SYMBOLS
from .common import add_flow_options, load_commands

__all__ = ["register"]


def register(subparsers):
    parser = subparsers.add_parser(
        "bench", help="benchmark the software matching engine on the standard flow",
        description="Runs the golden-model engine in-process on the standard seeded flow "
                    "(see docs/benchmarks.md) and prints orders/s, events/s, per-command "
                    "latency percentiles and peak memory.")
    add_flow_options(parser, default_orders=200_000)
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs; the table shows each and the best (default 3)")
    parser.add_argument("--gc", choices=GC_MODES, default="off",
                        help="the cyclic collector during the runs: off (frozen after set-up, "
                             "disabled; the default), quiet (frozen, rare gen-0 passes, as "
                             "`gatebook run`), default (Python's)")
    parser.add_argument("--no-gc-control", dest="gc", action="store_const", const="default",
                        help="the same as --gc default")
    parser.add_argument("--peers", action="store_true",
                        help="instead: Gatebook beside the peer engines (matching-engine, "
                             "liquibook) on one flow of their kind, in one run "
                             "(docs/benchmarks.md, \"Peers\")")
    parser.add_argument("--tail", action="store_true",
                        help="instead: the commands among the slowest 1%% of each of --repeat "
                             "timed runs, by kind (slow by what they do, not by the machine)")
    parser.add_argument("--peer-levels", type=int, default=PEER_MIX.levels, metavar="N",
                        help="with --peers: price levels a side the passive orders spread "
                             f"over (default {PEER_MIX.levels}: deep queues; more levels, "
                             "shorter queues)")
    parser.add_argument("--hw-sim", nargs="*", type=int, metavar="DEPTH",
                        help="also count clock cycles of the matching pipeline in simulation, "
                             "per window depth (default depths 4 and 16)")
    parser.add_argument("--log", nargs="?", type=int, const=1_000_000, metavar="N",
                        help="then benchmark the write-ahead log: append per durability policy, "
                             "fsync latency, recovery of an N-command log (default 1,000,000), "
                             "snapshots (`gatebook bench-log` has more options)")
    parser.set_defaults(run=run_bench)


def run_bench(args):
    if args.peers:
        return run_peer_table(args)
    commands = load_commands(args)
    if args.tail:
        return run_tail(commands, args)
    mix = STANDARD_MIX
    print(f"gatebook bench: {len(commands):,} commands, seed {args.seed}, "
          f"symbols {len(mix.symbols)}, collector {args.gc}")
    print(f"python {platform.python_version()} on {platform.machine()}, {platform.system()}; "
          f"engine {engine_build()}")
    header = (f"{'run':>4} {'orders/s':>10} {'events/s':>11} {'p50 us':>7} {'p99 us':>7} "
              f"{'p99.9 us':>8} {'max us':>8} {'peak MiB':>8} {'gc':>4}")
    print(header)
    best = None
    runs = []
    for run in range(1, args.repeat + 1):
        result = run_benchmark(commands, DEFAULT_SYMBOLS, gc_mode=args.gc)
        runs.append(result)
        h = result.histogram
        print(f"{run:>4} {result.orders_per_second:>10,.0f} {result.events_per_second:>11,.0f} "
              f"{h.get_value_at_percentile(50) / 1000:>7.2f} {h.get_value_at_percentile(99) / 1000:>7.2f} "
              f"{h.get_value_at_percentile(99.9) / 1000:>8.2f} {h.get_max_value() / 1000:>8.1f} "
              f"{result.peak_rss_mib:>8.0f} {result.collections:>4}", flush=True)
        if best is None or result.orders_per_second > best.orders_per_second:
            best = result
    print(f"best {best.orders_per_second:,.0f} orders/s, {best.events / best.commands:.2f} events "
          f"per command; state hash {best.state_hash}")
    print(f"\nlatency by kind of command (run {runs.index(best) + 1})")
    print(f"{'kind':<18} {'count':>8} {'p50 us':>7} {'p99 us':>7} {'p99.9 us':>8}")
    for kind in KINDS:
        h = best.by_kind.get(kind)
        if h is not None:
            print(f"{kind:<18} {h.get_total_count():>8,} {h.get_value_at_percentile(50) / 1000:>7.2f} "
                  f"{h.get_value_at_percentile(99) / 1000:>7.2f} "
                  f"{h.get_value_at_percentile(99.9) / 1000:>8.2f}")
    if args.hw_sim is not None:
        from gatebook.sim.matcher.cycles import table        # needs Amaranth; only imported when asked
        print("\nmatching pipeline, Amaranth simulation (clock cycles; II = cycles between "
              "accepted commands, latency = command in to first event out)")
        print(table(tuple(args.hw_sim) or (4, 16)))
    if args.log:
        from .bench_log import run_log_bench
        print()
        run_log_bench(seed=args.seed, recovery_orders=args.log, orders=min(args.log, 200_000),
                      paced=min(args.log // 20, 2_000), snapshot_every=min(args.log // 4, 50_000))
    return 0 if best.commands else 1


def run_peer_table(args):
    """`gatebook bench --peers`: every engine of peer_bench.PEERS on one flow, one table."""
    mix = replace(PEER_MIX, levels=args.peer_levels)
    flow = peer_flow(args.orders, seed=args.seed, mix=mix)
    resting, levels, longest = flow_shape(flow)
    print(f"gatebook bench --peers: {len(flow):,} records (seed {args.seed}), one symbol: "
          f"{mix.passive:.0%} passive limit over {mix.levels} ticks a side, {mix.cancel:.0%} "
          f"cancels of live orders, {mix.marketable:.0%} marketable limit IOC; at the end "
          f"{resting:,} orders rest in {levels} levels, the longest queue {longest:,}")
    print(f"python {platform.python_version()}; each run a process of its own, the engines "
          f"alternating, collector quieted; trades and volume from one more run of each with "
          f"a counting listener")
    results = run_peers(flow, repeat=args.repeat)
    print(f"{'engine':<34} {'trades':>7} {'volume':>11}  {'commands/s, each run':<28} {'best':>9}")
    ran = [result for result in results if not result.skipped]
    for result in results:
        if result.skipped:
            print(f"{result.name:<34} skipped: {result.skipped}")
            continue
        runs = " / ".join(f"{result.commands / seconds / 1000:,.0f}k" for seconds in result.seconds)
        print(f"{result.name:<34} {result.trades:>7,} {result.volume:>11,}  {runs:<28} "
              f"{result.best_per_second:>9,.0f}")
    agree = len({(result.trades, result.volume) for result in ran}) == 1
    print("trades and volume " + ("agree across every engine" if agree else
                                  "DIFFER: the engines did not do the same work"))
    ours = ran[0]
    for other in ran[1:]:
        print(f"  {ours.name} / {other.name}: {ours.best_per_second / other.best_per_second:.2f}x")
    return 0 if agree else 1


def run_tail(commands, args):
    """`gatebook bench --tail`: what the engine's own latency tail is made of."""
    thresholds, slow, sizes = steady_tail(commands, DEFAULT_SYMBOLS, runs=max(2, args.repeat),
                                          gc_mode=args.gc)
    print(f"gatebook bench --tail: {len(commands):,} commands, {max(2, args.repeat)} timed "
          f"runs, collector {args.gc}; engine {engine_build()}")
    print("slowest 1% of each run from " + " / ".join(f"{t / 1000:.1f} us" for t in thresholds)
          + f"; in every run: {len(slow):,} commands")
    for kind in KINDS:
        chosen = [index for index, name in slow.items() if name == kind]
        if chosen:
            events = sorted(sizes[index] for index in chosen)
            print(f"  {kind:<18} {len(chosen):>6,}   events each {events[0]}..{events[-1]}, "
                  f"median {events[len(events) // 2]}")
    return 0
