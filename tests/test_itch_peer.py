"""An independent ITCH 5.0 parser (PyPI itch-book, C++) reads our feed.

It must find nothing malformed, no unknown or duplicate order reference, no
crossed book, every execution we made, and the same depth our engine holds.
"""

import datetime

import pytest

from gatebook.wire.enums import Side
from gatebook.wire.internal import EXECUTED
from gatebook.host.engine import MatchingEngine
from gatebook.host.flow import FlowMix, generate_flow
from gatebook.host.marketdata.itch_feed import ItchFeed
from gatebook.host.marketdata.itch_file import read_itch_file, write_itch_file
from gatebook.host.symbols import DEFAULT_SYMBOLS

itch_book = pytest.importorskip("itch_book", reason="itch-book (the peer ITCH parser) not installed")

START = 1_700_000_000_000_000_000
DEPTH = 5


def run_flow(path, seed, mix):
    records = []
    engine = MatchingEngine(DEFAULT_SYMBOLS)
    feed = ItchFeed(DEFAULT_SYMBOLS, records.extend)
    engine.subscribe(feed)
    executions = []
    engine.subscribe(lambda events: executions.extend(e for e in events if e[0] == EXECUTED.code))
    records.extend(feed.start_of_day(START))
    for command in generate_flow(8000, seed=seed, mix=mix):
        engine.apply(command)
    records.extend(feed.end_of_day(START + 10**12))
    write_itch_file(path, records)
    return engine, executions, records


@pytest.mark.parametrize("seed, mix", [(5, FlowMix()), (6, FlowMix(mass_cancel_every=113, replace=0.2))])
def test_peer_parser_agrees_with_the_engine(tmp_path, seed, mix):
    path = tmp_path / "feed.itch"
    engine, executions, records = run_flow(path, seed, mix)
    assert read_itch_file(path) == records

    feed = itch_book.Feed(str(path), date=datetime.date(2023, 11, 14), price_type="fixed")
    last_depth, trades = {}, 0
    for batch in feed.batches(tables=("depth", "trades"), depth=DEPTH):
        trades += len(batch.trades["match_number"])
        depth = batch.depth
        for row, locate in enumerate(depth["locate"]):
            last_depth[int(locate)] = {name: int(column[row]) for name, column in depth.items()}
    stats = feed.stats
    for problem in ("unknown", "malformed", "missing_ref", "dup_ref", "rejected", "crossed_books"):
        assert stats[problem] == 0, (problem, stats)
    assert stats["last_event"] == "C", stats     # end of messages
    assert trades == len(executions)

    for symbol, book in engine.books.items():
        if symbol not in last_depth:
            assert not book.keys[0] and not book.keys[1]
            continue
        row = last_depth[symbol]
        for side, prefix in ((Side.BUY, "bid"), (Side.SELL, "ask")):
            ours = book.depth(side, DEPTH)
            theirs = [(row[f"{prefix}_px_{i:02d}"], row[f"{prefix}_sz_{i:02d}"], row[f"{prefix}_ct_{i:02d}"])
                      for i in range(DEPTH) if row[f"{prefix}_ct_{i:02d}"]]
            assert theirs == ours, (symbol, prefix)
