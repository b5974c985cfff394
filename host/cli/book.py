"""`gatebook book`: replay a flow and show one symbol's book at L1, L2 or L3."""

import sys

from ..engine import MatchingEngine
from ..symbols import DEFAULT_SYMBOLS
from ..views import format_l1, format_l2, format_l3
from .common import Progress, add_flow_options, load_commands

__all__ = ["register"]


def register(subparsers):
    parser = subparsers.add_parser(
        "book", help="replay a recorded or generated flow and print one symbol's book",
        description="Replays commands through the golden-model engine, then prints the book "
                    "of SYMBOL: L1 (best bid and offer, last trade), L2 (aggregated levels) or "
                    "L3 (every order in time priority).")
    parser.add_argument("symbol", help="symbol name (e.g. GATE) or numeric id")
    parser.add_argument("--level", type=int, choices=(1, 2, 3), default=2,
                        help="1 = top of book, 2 = price levels, 3 = orders (default 2)")
    parser.add_argument("--depth", type=int, default=10, help="levels per side for L2 and L3 (default 10)")
    add_flow_options(parser, default_orders=20_000)
    parser.set_defaults(run=run_book)


def run_book(args):
    specs = {spec.name: spec for spec in DEFAULT_SYMBOLS}
    by_id = {str(spec.symbol_id): spec for spec in DEFAULT_SYMBOLS}
    spec = specs.get(args.symbol.upper()) or by_id.get(args.symbol)
    if spec is None:
        listed = ", ".join(f"{s.name} ({s.symbol_id})" for s in DEFAULT_SYMBOLS)
        print(f"gatebook book: unknown symbol {args.symbol!r}; listed: {listed}", file=sys.stderr)
        return 2
    commands = load_commands(args)
    engine = MatchingEngine(DEFAULT_SYMBOLS)
    progress = Progress("replaying")
    for index, command in enumerate(commands, 1):
        engine.apply(command)
        if not index % 50_000:
            progress(index, len(commands))
    progress.done()
    book = engine.books[spec.symbol_id]
    print(f"{spec.name} after {len(commands):,} commands (last seq {engine.last_seq})")
    if args.level == 1:
        print(format_l1(book))
    elif args.level == 2:
        print(format_l1(book))
        print(format_l2(book, args.depth))
    else:
        print(format_l3(book, args.depth))
    return 0
