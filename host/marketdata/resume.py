"""The feed an exchange starts with: a new MoldUDP64 session, or the one its log was publishing.

# Ref: NASDAQ MoldUDP64 Protocol Specification 1.00 (a session's sequence
#      numbers never start over; a new session has a new name).

The feed is a pure function of the events: the start of day, then the ITCH
records of each command's events in order (itch_feed.py). The log keeps every
command's events (its OUTPUT records), so a restarted exchange with a
write-ahead log need not have saved anything about its feed:
`open_market_data` reads the logged events from seq 1 into a fresh feed and
takes every record as already sent (MoldPublisher.replay). The feed's order
references, the next sequence number, the retransmission store and the
snapshot book are then those of the session the last process was
publishing, and the session goes on under the same name. The events are the
logged ones, not a replay's: what stands in front of the engine (the
pre-trade risk gate, whose limits may have changed since) decided them once.
The replayed feed must show exactly the recovered engine's orders; only then
is the session continued.

Anything published for a command the log does not hold would be contradicted,
so this is as strong as the log's durability policy (strict by default: no
report or market data leaves before its command is on disk).

With a feed checkpoint (checkpoint.py, written beside each engine snapshot)
the replay starts after the newest one instead of at seq 1, from its feed,
book and store (which must show the orders of the engine snapshot beside
it). A checkpoint that cannot be read, names another session, lacks its
snapshot or disagrees with it is refused (logged, and counted in `MarketDataStart.refused` by kind),
and the next older one is tried, then the whole log.

When the log cannot say what was published (its first segments were pruned,
or the replay does not reach the recovered state), the exchange opens a new
session, named from the recovered sequence number, whose opening shows the
recovered book (ItchFeed.show_book).
"""

import logging
import os
import time
from collections import Counter

from gatebook.wire import itch50
from gatebook.wire.enums import Side
from gatebook.wire.positions import CODE, ITCH
from gatebook.host.wal.format import INPUT, OUTPUT
from gatebook.host.wal.reader import LogReader, decode_payload
from gatebook.host.wal.snapshot import SnapshotError, list_snapshots, read_snapshot, restore

from .checkpoint import CheckpointError, FeedCheckpointer, list_checkpoints, read_checkpoint
from .itch_feed import ItchFeed
from .publisher import STORE_MESSAGES, MoldPublisher

__all__ = ["open_market_data", "replay_log", "MarketDataStart"]

_log = logging.getLogger("gatebook.marketdata")
_CHUNK = 4096                     # commands replayed between hand-overs to the publisher
_ADD, _ADD_REF, _ADD_SHARES = itch50.ADD_ORDER.code, ITCH.ADD_ORDER.order_ref, ITCH.ADD_ORDER.shares


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
    refused : Counter
        Feed checkpoints refused, by kind (checkpoint.py; "session", "no_snapshot",
        "mismatch", "replay" here).
    checkpoints : FeedCheckpointer or None
        Writes a feed checkpoint with each snapshot the log takes.
    """

    def __init__(self, feed, publisher, opening, continued, why, refused=None):
        self.feed, self.publisher, self.opening = feed, publisher, opening
        self.continued, self.why = continued, why
        self.refused = refused if refused is not None else Counter()
        self.checkpoints = None


def replay_log(directory, last_seq, publisher, feed, after_seq=0):
    """Feed the logged events of commands `after_seq`+1..`last_seq` of the log in
    `directory` to `feed` (its state after `after_seq`; a new feed from seq 1), handing
    its records to `publisher.replay`.

    Returns whether the log held every one of those commands and its events (else
    the reason is logged).
    """
    records = []
    feed.sink = records.extend
    reader, expected, opened = LogReader(directory, after_seq + 1), after_seq + 1, after_seq > 0
    awaiting = None                     # the seq of an INPUT record whose events come next
    for _, record in reader:
        if record.kind == OUTPUT and record.seq == awaiting:
            feed(decode_payload(OUTPUT, record.payload, reader.version))
            awaiting = None
            if len(records) >= _CHUNK:
                publisher.replay(records)
                records.clear()
            continue
        if record.kind != INPUT:
            continue
        if awaiting is not None or record.seq != expected:
            _log.info("market data: %s has no events for seq %d or starts at seq %d, not %d: "
                      "a new session", directory, awaiting or 0, record.seq, expected)
            return False
        if record.seq > last_seq:
            break
        if not opened:
            # The first command's time, not the clock's: the same opening every replay.
            records += feed.start_of_day(record.ts)
            opened = True
        awaiting = record.seq
        expected += 1
    publisher.replay(records)
    publisher.end_replay()
    if awaiting is not None or expected != last_seq + 1:
        _log.info("market data: %s ends at seq %d, recovery reached %d: a new session",
                  directory, expected - 1, last_seq)
        return False
    return True


def _refuse(refused, kind, why):
    refused[kind] += 1
    _log.warning("market data: feed checkpoint refused (%s): %s; trying an older one, "
                 "else replaying the whole log", kind, why)


def _shows(feed_state, engine):
    """Whether a feed's state (ItchFeed.export_state) displays exactly `engine`'s resting
    orders and holds exactly its waiting stops."""
    displayed = {order_id: (shares, side)
                 for order_id, _, shares, side in feed_state["displayed"]}
    stops = {order_id: tuple(stop) for order_id, *stop in feed_state["stops"]}
    resting, pending = {}, {}
    for symbol, book in engine.books.items():
        for side in (Side.BUY, Side.SELL):
            for _, orders in book.orders_at(side):
                for order in orders:
                    resting[order.order_id] = (order.qty, order.side)
            for order in book.live_stops(side):
                pending[order.order_id] = (symbol, order.side, order.order_type, order.price,
                                           order.qty)
    return displayed == resting and stops == pending


def _matches_snapshot(checkpoint, engine):
    """Whether the checkpoint's displayed orders and stops are the engine's, exactly."""
    if not _shows(checkpoint.feed_state, engine):
        return False
    # The book subscribers hold shows the same orders under the same references, and
    # the next reference is a new one.
    shown = {record[_ADD_REF]: record[_ADD_SHARES] for record in checkpoint.book
             if record[CODE] == _ADD}
    return shown == {ref: shares for _, ref, shares, _ in checkpoint.feed_state["displayed"]} \
        and checkpoint.feed_state["next_ref"] > max(shown, default=0)


def _from_checkpoint(journal, symbols, session, send, store_messages, refused):
    """(feed, publisher, command seq) continued from the newest usable checkpoint, or None."""
    last_seq = journal.sequencer.next_seq - 1
    snapshots = dict(list_snapshots(journal.directory))
    for command_seq, path in list_checkpoints(journal.directory):
        try:
            checkpoint = read_checkpoint(path)
        except CheckpointError as error:
            _refuse(refused, error.kind, str(error))
            continue
        name = os.path.basename(path)
        if checkpoint.command_seq != command_seq or command_seq > last_seq:
            _refuse(refused, "format", f"{name}: seq {checkpoint.command_seq}, the log's "
                                       f"last {last_seq}")
            continue
        if checkpoint.session != session and not (
                checkpoint.session[:2] == session[:2] and checkpoint.session[2:].isdigit()
                and len(checkpoint.session) == 10):
            _refuse(refused, "session", f"{name}: session {checkpoint.session!r}, this "
                                        f"exchange's is {session!r}")
            continue
        if command_seq not in snapshots:
            _refuse(refused, "no_snapshot", f"{name}: no engine snapshot at seq {command_seq}")
            continue
        try:
            engine = restore(read_snapshot(snapshots[command_seq]), symbols)
        except (SnapshotError, OSError) as error:
            _refuse(refused, "no_snapshot", f"{name}: its engine snapshot: {error}")
            continue
        if engine.last_seq != command_seq or not _matches_snapshot(checkpoint, engine):
            _refuse(refused, "mismatch", f"{name}: its orders are not the engine snapshot's")
            continue
        feed = ItchFeed(symbols, None)
        feed.restore_state(checkpoint.feed_state)
        publisher = MoldPublisher(checkpoint.session, send, store_messages)
        publisher.restore(checkpoint.book, checkpoint.next_sequence, checkpoint.messages)
        try:
            replayed = replay_log(journal.directory, last_seq, publisher, feed, command_seq)
        except (KeyError, ValueError, TypeError) as error:    # a feed state that lies
            replayed = False
            _log.warning("market data: replaying from %s failed: %r", name, error)
        if not replayed or not _shows(feed.export_state(), journal.engine):
            _refuse(refused, "replay", f"{name}: the replay from it did not reach the "
                                       f"recovered state")
            continue
        return feed, publisher, command_seq
    return None


def _checkpointing(start, journal):
    """Write a feed checkpoint with every snapshot `journal` takes from now on."""
    start.checkpoints = FeedCheckpointer(
        journal.directory, start.feed, start.publisher,
        start.publisher.next_sequence + len(start.opening), journal.keep_snapshots)
    checkpoints = start.checkpoints
    # The exchange takes snapshots between bursts, once it hands the log its entries'
    # states: only then has the feed heard every event of the snapshot's commands.
    journal.snapshot_listeners.append(lambda command_seq: checkpoints.snapshot_taken(
        command_seq, journal.entry_states is not None))
    return start


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
        start = MarketDataStart(feed, MoldPublisher(session, send, store_messages),
                                feed.start_of_day(clock()), False,
                                f"a new session {session} (a new log)")
        return _checkpointing(start, journal) if continue_session else start
    refused = Counter()
    started = time.perf_counter()
    resumed = (_from_checkpoint(journal, symbols, session, send, store_messages, refused)
               if continue_session else None)
    if resumed is not None:
        feed, publisher, command_seq = resumed
        feed.sink = sink
        return _checkpointing(MarketDataStart(
            feed, publisher, [], True,
            f"session {publisher.session} goes on from its feed checkpoint at seq "
            f"{command_seq:,} ({last_seq - command_seq:,} logged commands replayed in "
            f"{time.perf_counter() - started:.2f} s)", refused), journal)
    feed = ItchFeed(symbols, sink)
    publisher = MoldPublisher(session, send, store_messages)
    replayed = (continue_session
                and replay_log(journal.directory, last_seq, publisher, feed))
    refusals = ("; feed checkpoints refused: " + ", ".join(
        f"{kind} {count}" for kind, count in sorted(refused.items()))) if refused else ""
    if replayed and _shows(feed.export_state(), journal.engine):
        feed.sink = sink
        return _checkpointing(MarketDataStart(
            feed, publisher, [], True,
            f"session {session} goes on ({last_seq:,} logged commands replayed in "
            f"{time.perf_counter() - started:.2f} s{refusals})", refused), journal)
    if replayed:
        _log.warning("market data: replaying %s did not reach the recovered state: "
                     "a new session", journal.directory)
    renamed = (session[:2] + f"{last_seq % 10**8:08d}")[:10]
    feed = ItchFeed(symbols, sink)
    opening = feed.start_of_day(clock())
    opening += feed.show_book(journal.engine, clock())
    start = MarketDataStart(feed, MoldPublisher(renamed, send, store_messages), opening, False,
                            f"a new session {renamed} showing the recovered book "
                            f"(the log does not show what {session} published{refusals})",
                            refused)
    return _checkpointing(start, journal) if continue_session else start
