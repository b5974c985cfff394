"""`gatebook bench-shards`: one shard, then N, on the same flow split by symbol.

Engine only (`gatebook.host.shards.bench`): every shard a process of its own,
all started together; throughput is every command over the span from the first
shard's start to the last one's end. On a machine others share, that span
includes waiting for a core, so the CPU seconds each shard used are reported
too, and the rate the shards reach per CPU second (what N free cores give).
"""

import os

from ..compiled import engine_build
from ..flow import FlowMix, generate_flow
from ..shards.bench import assign_round_robin, run_shards, split_flow
from ..symbols import DEFAULT_SYMBOLS
from .common import Progress

__all__ = ["register"]


def _counts(text):
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1 or max(counts) > 16:
        import argparse
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of shard counts 1..16")
    return counts


def register(subparsers):
    parser = subparsers.add_parser(
        "bench-shards", help="benchmark 1 shard against N on the same flow split by symbol",
        description="Generates the standard flow over --symbols symbols, runs it in one shard "
                    "process, then split by symbol (round robin) over N shard processes at "
                    "once, and prints commands/s in total and per shard, CPU seconds, and the "
                    "ratio to one shard (docs/benchmarks.md, \"Shards\").")
    parser.add_argument("--shards", type=_counts, default=[1, 2], metavar="N,N",
                        help="shard counts to run, in order (default 1,2)")
    parser.add_argument("--orders", type=int, default=400_000, metavar="N",
                        help="commands in the flow (default 400,000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--symbols", type=int, default=4, metavar="K",
                        help="symbols in the flow, the first K of the defaults (default 4)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per shard count; the best is kept (default 3)")
    e2e = parser.add_argument_group(
        "end to end", "Also send the flow as OUCH datagrams over loopback UDP through one "
        "`gatebook run --shard NAME` per shard, one sender process per shard.")
    e2e.add_argument("--e2e", action="store_true", help="run the end-to-end form too")
    e2e.add_argument("--e2e-orders", type=int, default=200_000, metavar="N",
                     help="commands of the flow sent end to end (default 200,000)")
    e2e.add_argument("--e2e-log", choices=("strict", "batched", "none"),
                     help="give every shard a write-ahead log with this durability "
                          "(default: no log)")
    e2e.add_argument("--batch", type=int, default=32,
                     help="messages per datagram end to end (default 32)")
    parser.set_defaults(run=run_bench_shards)


def run_bench_shards(args):
    specs = DEFAULT_SYMBOLS[:max(1, min(args.symbols, len(DEFAULT_SYMBOLS)))]
    if max(args.shards) > len(specs):
        print(f"gatebook bench-shards: {max(args.shards)} shards need at least as many "
              f"symbols (--symbols {len(specs)})")
        return 2
    mix = FlowMix(symbols=tuple(spec.symbol_id for spec in specs))
    progress = Progress("generating flow")
    flow = generate_flow(args.orders, seed=args.seed, mix=mix, specs=specs, progress=progress)
    progress.done()
    load = os.getloadavg()[0]
    print(f"gatebook bench-shards: {len(flow):,} commands of the standard mix on "
          f"{', '.join(spec.name for spec in specs)}, seed {args.seed}; engine "
          f"{engine_build()}; {os.cpu_count()} CPUs, load average {load:.2f} at the start")
    print(f"{'shards':>6} {'commands/s':>11} {'CPU s':>7} {'per CPU s':>10}  per shard: "
          "symbols, commands, commands/s, CPU s")
    best = {}
    for count in args.shards:
        groups = assign_round_robin(specs, count)
        parts = split_flow(flow, groups)
        for _ in range(args.repeat):
            result = run_shards(parts, specs)
            if count not in best or result.per_second > best[count].per_second:
                best[count] = result
        result = best[count]
        names = {spec.symbol_id: spec.name for spec in specs}
        shards = "; ".join(
            f"{'+'.join(names[s] for s in group)} {shard.commands:,} {shard.per_second:,.0f} "
            f"{shard.cpu_seconds:.2f}" for group, shard in zip(groups, result.shards))
        cpu_rate = result.commands / max(shard.cpu_seconds for shard in result.shards)
        print(f"{count:>6} {result.per_second:>11,.0f} "
              f"{sum(s.cpu_seconds for s in result.shards):>7.2f} {cpu_rate:>10,.0f}  {shards}",
              flush=True)
    if 1 in best:
        one = best[1]
        one_cpu = one.commands / one.shards[0].cpu_seconds
        for count, result in best.items():
            if count != 1:
                cpu_rate = result.commands / max(s.cpu_seconds for s in result.shards)
                print(f"{count} shards / 1 shard: {result.per_second / one.per_second:.2f}x "
                      f"commands/s; {cpu_rate / one_cpu:.2f}x per CPU second of the busiest "
                      "shard (each shard on a core of its own)")
    print(f"load average {os.getloadavg()[0]:.2f} at the end; best of {args.repeat} runs each")
    if args.e2e:
        _end_to_end(args, flow[:args.e2e_orders], specs)
    return 0


def _end_to_end(args, flow, specs):
    from .shards_e2e import run_end_to_end
    print(f"\nend to end: {len(flow):,} commands as OUCH over loopback UDP, {args.batch} per "
          f"datagram, one `gatebook run --shard` and one sender per shard; log "
          f"{args.e2e_log or 'off'}; load average {os.getloadavg()[0]:.2f}")
    print(f"{'shards':>6} {'commands/s':>11} {'CPU s':>7} {'senders':>7} {'per CPU s':>10}  "
          "per shard: commands, commands/s, CPU s, waited for a CPU s, its sender's CPU s, "
          "replies (of expected), gaps")
    rates, cpu_rates = {}, {}
    for count in args.shards:
        groups = assign_round_robin(specs, count)
        run, results, summaries = run_end_to_end(flow, specs, groups, batch=args.batch,
                                                 log=args.e2e_log)
        rates[count] = run.per_second
        shards = "; ".join(f"{s.commands:,} {s.per_second:,.0f} {s.cpu_seconds:.2f} "
                           f"{r['shard_waited_seconds']:.2f} {r['cpu_seconds']:.2f} "
                           f"{r['replies']:,}/{r['expected']:,} {r['gap_messages']}"
                           + (f" refused {r['refused']}" if r["refused"] else "")
                           for s, r in zip(run.shards, results))
        busiest = max(s.cpu_seconds for s in run.shards) or float("nan")
        cpu_rates[count] = run.commands / busiest
        cpu = sum(s.cpu_seconds for s in run.shards)
        senders = sum(r["cpu_seconds"] for r in results)
        print(f"{count:>6} {run.per_second:>11,.0f} {cpu:>7.2f} {senders:>7.2f} "
              f"{cpu_rates[count]:>10,.0f}  {shards}", flush=True)
        for index, summary in enumerate(summaries):
            print(f"{'':>6}   S{index}: {summary.removeprefix('run: ')}")
    if 1 in rates:
        for count, rate in rates.items():
            if count != 1:
                print(f"end to end, {count} shards / 1 shard: {rate / rates[1]:.2f}x "
                      f"commands/s; {cpu_rates[count] / cpu_rates[1]:.2f}x per CPU second of "
                      "the busiest shard")
