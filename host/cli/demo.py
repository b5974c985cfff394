"""`gatebook demo`: the exchange on its embedded defaults, with a seeded flow."""

from ..bench import latency_histogram, time_each
from ..engine import MatchingEngine
from ..runtime import quiet_gc
from ..stats import RunStats
from ..symbols import DEFAULT_SYMBOLS
from ..views import format_l1, format_l2, format_trades
from .common import Progress, add_flow_options, load_commands, write_commands
from .ledger import DemoLedger

__all__ = ["register", "run_demo"]


def register(subparsers):
    parser = subparsers.add_parser(
        "demo", help="run the software exchange on a seeded synthetic flow and show the result",
        description="Runs the software matching path on the embedded symbol list with a "
                    "deterministic synthetic order flow, then prints each symbol's book (L1 "
                    "and L2), the last trades and a summary: orders, trades, rejects by reason, "
                    "orders/s and matching latency percentiles.")
    add_flow_options(parser, default_orders=200_000)
    parser.add_argument("--levels", type=int, default=5, help="L2 levels to show per side (default 5)")
    parser.add_argument("--self-trade-prevention", action="store_true",
                        help="cancel an incoming order where it would trade with its own user")
    parser.add_argument("--record", metavar="FILE",
                        help="also write the commands to FILE for `gatebook book --input`")
    parser.set_defaults(run=run_demo)


def run_demo(args):
    commands = load_commands(args)
    if args.record:
        write_commands(args.record, commands)
    engine = MatchingEngine(DEFAULT_SYMBOLS, self_trade_prevention=args.self_trade_prevention)
    stats = RunStats()
    engine.subscribe(stats)
    ledger = DemoLedger(engine)     # the run's executions into an SQLite ledger (docs/ledger.md)
    progress = Progress("matching")
    with quiet_gc():
        samples, elapsed = time_each(engine.apply, commands, progress)
    progress.done()
    histogram = latency_histogram()
    for value in samples:
        histogram.record_value(max(1, value))
    print(render_report(engine, stats, histogram, elapsed, args.levels))
    print("\n" + ledger.report())
    return 0


def render_report(engine, stats, histogram, elapsed, levels):
    names = {symbol: book.spec.name for symbol, book in engine.books.items()}
    out = ["Gatebook demo: software matching path, embedded symbols, seeded flow", ""]
    for book in engine.books.values():
        if not (book.keys[0] or book.keys[1] or book.last_trade_price):
            continue
        out += [format_l1(book), format_l2(book, levels), ""]
    out += ["Last trades", format_trades(stats.last_trades, names), ""]
    percentile = histogram.get_value_at_percentile
    by_name = stats.by_name()
    rows = [
        ("commands", f"{stats.commands:,}"),
        ("orders accepted", f"{by_name.get('accepted', 0):,}"),
        ("trades (executions)", f"{by_name.get('executed', 0):,}"),
        ("shares traded", f"{stats.volume:,}"),
        ("cancels (all reasons)", f"{by_name.get('cancelled', 0):,}"),
        ("replaces", f"{by_name.get('replaced', 0):,}"),
        ("stops triggered", f"{by_name.get('stop_triggered', 0):,}"),
        ("rejects", f"{by_name.get('rejected', 0):,}"),
    ]
    rows += [(f"  {reason.lower()}", f"{count:,}") for reason, count in stats.reject_summary()]
    rows += [
        ("orders/s (timed per command)", f"{stats.commands / elapsed:,.0f}"),
        ("matching latency p50", f"{percentile(50) / 1000:.1f} us"),
        ("matching latency p99", f"{percentile(99) / 1000:.1f} us"),
        ("matching latency p99.9", f"{percentile(99.9) / 1000:.1f} us"),
        ("state hash", engine.state_hash()),
    ]
    width = max(len(label) for label, _ in rows)
    out += ["Summary"] + [f"  {label:<{width}}  {value}" for label, value in rows]
    return "\n".join(out)
