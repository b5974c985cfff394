"""The feed an exchange starts with: a new MoldUDP64 session, or the one its log was publishing.

# Ref: NASDAQ MoldUDP64 Protocol Specification 1.00 (a session's sequence
#      numbers never start over; a new session has a new name).

The feed is a pure function of the commands: the start of day, then the ITCH
records of each command's events in order (itch_feed.py). So a restarted
exchange with a write-ahead log need not have saved anything about its feed:
`open_market_data` reads the log's commands from seq 1, runs them through a
golden-model engine and a fresh feed, and takes every record as already sent
(MoldPublisher.replay). The feed's order references, the next sequence
number, the retransmission store and the snapshot book are then those of the
session the last process was publishing, and the session goes on under the
same name. The replayed engine must reach the recovered engine's state hash;
only then is the session continued.

Anything published for a command the log does not hold would be contradicted,
so this is as strong as the log's durability policy (strict by default: no
report or market data leaves before its command is on disk).

When the log cannot say what was published (its first segments were pruned,
or the replay does not reach the recovered state), the exchange opens a new
session, named from the recovered sequence number, whose opening shows the
recovered book (ItchFeed.show_book).
"""

import logging
import time

from gatebook.host.engine import MatchingEngine
from gatebook.host.wal.format import INPUT
from gatebook.host.wal.reader import LogReader, decode_payload

from .itch_feed import ItchFeed
from .publisher import STORE_MESSAGES, MoldPublisher

__all__ = ["open_market_data", "replay_log", "MarketDataStart"]

_log = logging.getLogger("gatebook.marketdata")
_CHUNK = 4096                     # commands replayed between hand-overs to the publisher


class MarketDataStart:
    """What `open_market_data` decided: the feed, its publisher, what to send first.

    Attributes
    ----------
    feed : ItchFeed
    publisher : MoldPublisher
    opening : list
        ITCH records to publish before any command's (start of day, a new
        session's view of the recovered book); empty when a session goes on.
    continued : bool
        Whether the log's session goes on (else a new session started).
    why : str
        In words, for the operator.
    """

    def __init__(self, feed, publisher, opening, continued, why):
        self.feed, self.publisher, self.opening = feed, publisher, opening
        self.continued, self.why = continued, why


def replay_log(directory, symbols, last_seq, publisher, feed):
    """Replay commands 1..`last_seq` of the log in `directory` through a golden-model
    engine and `feed`, handing its records to `publisher.replay`.

    Returns the engine, or None (with the reason logged) when the log does not
    hold every command from seq 1 on.
    """
    engine = MatchingEngine(symbols)
    records = []
    feed.sink = records.extend
    reader, expected, opened = LogReader(directory), 1, False
    for _, record in reader:
        if record.kind != INPUT:
            continue
        if record.seq != expected:
            _log.info("market data: %s starts at seq %d, not 1: a new session", directory,
                      record.seq)
            return None
        if record.seq > last_seq:
            break
        if not opened:
            # The first command's time, not the clock's: the same opening every replay.
            records += feed.start_of_day(record.ts)
            opened = True
        feed(engine.apply(decode_payload(INPUT, record.payload, reader.version)[0]))
        expected += 1
        if len(records) >= _CHUNK:
            publisher.replay(records)
            records.clear()
    publisher.replay(records)
    publisher.end_replay()
    if expected != last_seq + 1:
        _log.info("market data: %s ends at seq %d, recovery reached %d: a new session",
                  directory, expected - 1, last_seq)
        return None
    return engine


def open_market_data(symbols, sink, session, send, clock, journal=None,
                     store_messages=STORE_MESSAGES, continue_session=True):
    """The feed and MoldUDP64 session an exchange starts with.

    Parameters
    ----------
    symbols : iterable of SymbolSpec
    sink : callable
        The feed's sink (the exchange's list of records to publish).
    session : str
        The session name of a new exchange (and of the session a log continues).
    send : callable(list of bytes) -> int
        Sends packets to the feed's destination.
    clock : callable returning int nanoseconds
    journal : JournaledExchange or None
        A recovered log: its session goes on if the log shows what it was.
    store_messages : int
        Messages the publisher keeps for retransmission.
    continue_session : bool
        False skips reading the log (an exchange that publishes nothing):
        the feed only learns the recovered book.

    Returns
    -------
    MarketDataStart
    """
    symbols = tuple(symbols)
    if journal is None:
        feed = ItchFeed(symbols, sink)
        return MarketDataStart(feed, MoldPublisher(session, send, store_messages),
                               feed.start_of_day(clock()), False, f"a new session {session}")
    last_seq = journal.sequencer.next_seq - 1
    if last_seq == 0:
        feed = ItchFeed(symbols, sink)
        return MarketDataStart(feed, MoldPublisher(session, send, store_messages),
                               feed.start_of_day(clock()), False,
                               f"a new session {session} (a new log)")
    feed = ItchFeed(symbols, sink)
    publisher = MoldPublisher(session, send, store_messages)
    started = time.perf_counter()
    engine = (replay_log(journal.directory, symbols, last_seq, publisher, feed)
              if continue_session else None)
    if engine is not None and engine.state_hash() == journal.engine.state_hash():
        feed.sink = sink
        return MarketDataStart(feed, publisher, [], True,
                               f"session {session} goes on ({last_seq:,} logged commands "
                               f"replayed in {time.perf_counter() - started:.2f} s)")
    if engine is not None:
        _log.warning("market data: replaying %s did not reach the recovered state: "
                     "a new session", journal.directory)
    renamed = (session[:2] + f"{last_seq % 10**8:08d}")[:10]
    feed = ItchFeed(symbols, sink)
    opening = feed.start_of_day(clock())
    opening += feed.show_book(journal.engine, clock())
    return MarketDataStart(feed, MoldPublisher(renamed, send, store_messages), opening, False,
                           f"a new session {renamed} showing the recovered book "
                           f"(the log does not show what {session} published)")

