"""The feed checkpoint: a restart replays the log from the last snapshot, not from seq 1.

The exchange here is what `Exchange` (host/net/exchange_server.py) does with a
log, without sockets: commands in bursts, the feed's records published once a
burst is done, and the log's snapshot taken between bursts when it is due.
What the restarted feed sends is compared with a feed that never stopped,
packet for packet; a late joiner's snapshot and re-requests across the
restart are read with the independent parser itchfeed (tests/md_subscriber.py).
"""

import os
import zlib

import pytest

from gatebook.host.clock import ManualClock
from gatebook.host.marketdata.checkpoint import MAGIC, list_checkpoints, read_checkpoint
from gatebook.host.marketdata.resume import open_market_data
from gatebook.host.marketdata.snapshot import encode_snapshot
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.host.wal.journal import JournaledExchange
from gatebook.host.wal.loadgen import START_NS, STEP_NS, seeded_commands
from gatebook.wire import mold

from md_subscriber import PeerBook, assert_same_book, peer_snapshot
from test_md_publisher import messages_of
from test_md_restart import Reference

SESSION = "GATEBOOK01"
BURST = 32


class Feed:
    """A journaled exchange's feed, published burst by burst as the exchange loop does."""

    def __init__(self, directory, clock, snapshot_every=500, store_messages=100_000,
                 **log_options):
        self.sent = []
        self.journal = JournaledExchange(directory, DEFAULT_SYMBOLS, clock=clock,
                                         snapshot_every=snapshot_every, policy="none",
                                         **log_options)
        # An exchange hands the log its entries' states, so snapshots wait for a burst's end.
        self.journal.entry_states = dict
        self.start = open_market_data(DEFAULT_SYMBOLS, list.append, SESSION, self._send, clock,
                                      self.journal, store_messages)
        self.publisher = self.start.publisher
        self.publisher.publish(self.start.opening)

    def _send(self, packets):
        self.sent += packets
        return len(packets)

    def run(self, commands, reference):
        records = []
        self.start.feed.sink = records.extend
        for first in range(0, len(commands), BURST):
            for command in commands[first:first + BURST]:
                stamped = self.journal.sequencer.stamp(*command)
                self.start.feed(self.journal.apply(stamped))
                reference.apply(stamped)
            self.publisher.publish(records)
            records.clear()
            if self.journal.snapshot_due:
                self.journal.snapshot(wait=True)
                # Its checkpoint written before the next burst: which ones a test finds
                # must not depend on how fast the machine writes (a checkpoint due while
                # the last one is still being written is skipped).
                if self.start.checkpoints is not None:
                    self.start.checkpoints.close()

    def close(self):
        self.journal.close()
        if self.start.checkpoints is not None:
            self.start.checkpoints.close()


def _after(packets, sequence):
    """{sequence number: message} of `packets` from `sequence` on."""
    return {seq: message for seq, message in messages_of(packets).items() if seq >= sequence}


def _first_run(directory, commands, reference):
    feed = Feed(directory, ManualClock(START_NS, STEP_NS))
    feed.run(commands, reference)
    feed.close()
    return feed


def test_a_restart_goes_on_from_the_checkpoint_exactly_as_a_feed_that_never_stopped(tmp_path):
    directory = str(tmp_path / "log")
    commands = list(seeded_commands(7, 2600))
    reference = Reference()
    first = _first_run(directory, commands[:1700], reference)
    before = first.publisher.next_sequence
    kept = list_checkpoints(directory)
    assert [seq for seq, _ in kept] == [1536, 1024]       # the newest two, at the snapshots
    assert first.start.checkpoints.written == 3 and first.start.checkpoints.error is None

    second = Feed(directory, ManualClock(START_NS + 1700 * STEP_NS, STEP_NS))
    start = second.start
    assert start.continued and start.opening == [] and not start.refused, start.why
    assert "goes on from its feed checkpoint at seq 1,536 (164 logged commands" in start.why
    assert second.publisher.session == SESSION and second.publisher.next_sequence == before
    # A subscriber that lost the first run's last packets asks after the restart:
    # the store the checkpoint kept, and the replay's, send them again byte for byte.
    numbered = messages_of(first.sent)
    again, count = second.publisher.retransmission(before - 400, 400)
    assert count == 400 and messages_of(again) == {seq: numbered[seq]
                                                 for seq in range(before - 400, before)}
    # A late joiner right after the restart has the engine's book (read with itchfeed).
    records, next_sequence = second.publisher.snapshot()
    late, sequence = peer_snapshot(encode_snapshot(records, next_sequence))
    assert sequence == before
    assert_same_book(late, second.journal.engine)
    # Then the restarted feed sends what the feed that never stopped sends, message for
    # message under the same sequence numbers (the reference sends a packet per command).
    second.run(commands[1700:], reference)
    second.close()
    assert _after(second.sent, before) == _after(reference.packets, before)
    assert len(_after(second.sent, before)) > 500
    for packet in second.sent:
        parsed = mold.parse(packet)
        for offset, message in enumerate(parsed.messages):
            if parsed.sequence_number + offset >= sequence:
                late.apply(message)
    assert_same_book(late, second.journal.engine)


def test_every_message_of_the_session_rebuilds_the_book_across_two_restarts(tmp_path):
    """A subscriber of the whole session, across two restarts from checkpoints (itchfeed)."""
    directory = str(tmp_path / "log")
    commands = list(seeded_commands(11, 2400))
    reference, sent = Reference(), []
    for part, clock_start in ((commands[:900], 0), (commands[900:1700], 900),
                              (commands[1700:], 1700)):
        feed = Feed(directory, ManualClock(START_NS + clock_start * STEP_NS, STEP_NS))
        assert feed.start.continued == bool(clock_start), feed.start.why
        if clock_start:
            assert "from its feed checkpoint" in feed.start.why, feed.start.why
        feed.run(part, reference)
        feed.close()
        sent += feed.sent
    numbered = messages_of(sent)
    assert sorted(numbered) == list(range(1, len(numbered) + 1))
    subscriber = PeerBook()
    for sequence in sorted(numbered):
        subscriber.apply(numbered[sequence])
    assert_same_book(subscriber, feed.journal.engine)
    # All but the opening, stamped from the clock here and from the first command there.
    opening = len(feed.start.feed.start_of_day(0))
    assert _after(reference.packets, opening + 1) == _after(sent, opening + 1)


def test_a_pruned_log_goes_on_with_its_session_from_a_checkpoint(tmp_path):
    """Without a checkpoint a log pruned of its first segments opens a new session."""
    directory = str(tmp_path / "log")
    commands = list(seeded_commands(8, 2000))
    reference = Reference()
    options = dict(prune="delete", segment_bytes=16 << 10)
    first = Feed(directory, ManualClock(START_NS, STEP_NS), **options)
    first.run(commands[:1500], reference)
    first.close()
    assert first.journal.pruned, "the first segments were not pruned"
    before = first.publisher.next_sequence
    second = Feed(directory, ManualClock(START_NS + 1500 * STEP_NS, STEP_NS), **options)
    assert second.start.continued and "from its feed checkpoint" in second.start.why
    assert second.publisher.session == SESSION and second.publisher.next_sequence == before
    second.run(commands[1500:], reference)
    second.close()
    assert _after(second.sent, before) == _after(reference.packets, before)


def _forge(path, body):
    with open(path, "wb") as file:
        file.write(body + b"\nCRC " + f"{zlib.crc32(body):08x}".encode())


def _truncate(path):
    with open(path, "rb") as file:
        data = file.read()
    with open(path, "wb") as file:
        file.write(data[:len(data) // 2])


def _flip(path):
    with open(path, "r+b") as file:
        file.seek(len(MAGIC) + 40)
        byte = file.read(1)
        file.seek(len(MAGIC) + 40)
        file.write(bytes([byte[0] ^ 0x20]))


def _other_orders(path):
    """A valid CRC over a checkpoint whose displayed orders are not the snapshot's."""
    with open(path, "rb") as file:
        data = file.read()
    body = data[:-len(b"\nCRC 00000000")]
    _forge(path, body.replace(b'"displayed":[[', b'"displayed":[[9999', 1))


def _reused_refs(path):
    """A valid CRC over a checkpoint whose next order reference is one already shown."""
    with open(path, "rb") as file:
        data = file.read()
    body = data[:-len(b"\nCRC 00000000")]
    start = body.index(b'"next_ref":') + len(b'"next_ref":')
    end = body.index(b",", start)
    _forge(path, body[:start] + b"1" + body[end:])


def _other_session(path):
    with open(path, "rb") as file:
        data = file.read()
    _forge(path, data[:-len(b"\nCRC 00000000")].replace(b'"GATEBOOK01"', b'"OTHERSESS1"', 1))


def _garbage(path):
    _forge(path, MAGIC + b'{"session": [' * 10 + b"\n")


@pytest.mark.parametrize("damage, kind", [
    (_truncate, "truncated"), (_flip, "crc"), (_other_orders, "mismatch"),
    (_reused_refs, "mismatch"),
    (_other_session, "session"), (_garbage, "format")])
def test_a_damaged_or_forged_checkpoint_is_refused_and_the_whole_log_replayed(
        tmp_path, damage, kind):
    directory = str(tmp_path / "log")
    commands = list(seeded_commands(7, 1200))
    reference = Reference()
    first = _first_run(directory, commands[:1100], reference)
    before = first.publisher.next_sequence
    for _, path in list_checkpoints(directory):
        damage(path)
    second = Feed(directory, ManualClock(START_NS + 1100 * STEP_NS, STEP_NS))
    start = second.start
    assert start.refused == {kind: 2}, (start.refused, start.why)
    assert start.continued and "goes on (1,100 logged commands replayed" in start.why
    assert f"feed checkpoints refused: {kind} 2" in start.why, start.why
    assert second.publisher.next_sequence == before
    second.run(commands[1100:], reference)
    second.close()
    assert _after(second.sent, before) == _after(reference.packets, before)


def test_a_checkpoint_without_its_engine_snapshot_is_refused(tmp_path):
    directory = str(tmp_path / "log")
    first = _first_run(directory, list(seeded_commands(7, 1100)), Reference())
    newest, _ = list_checkpoints(directory)[0]
    os.unlink(os.path.join(directory, f"snapshot-{newest:020d}.snap"))
    second = Feed(directory, ManualClock(START_NS + 1100 * STEP_NS, STEP_NS))
    second.close()
    assert second.start.refused == {"no_snapshot": 1}
    assert "from its feed checkpoint at seq 512" in second.start.why, second.start.why
    assert second.publisher.next_sequence == first.publisher.next_sequence


def test_read_checkpoint_round_trips_what_was_written(tmp_path):
    directory = str(tmp_path / "log")
    first = _first_run(directory, list(seeded_commands(7, 600)), Reference())
    (seq, path), = list_checkpoints(directory)
    checkpoint = read_checkpoint(path)
    assert checkpoint.session == SESSION and checkpoint.command_seq == seq == 512
    assert checkpoint.next_sequence - len(checkpoint.messages) >= 1
    assert checkpoint.messages == [numbered for _, numbered in sorted(
        messages_of(first.sent).items())][:checkpoint.next_sequence - 1][
        -len(checkpoint.messages):]


def test_no_checkpoint_for_a_snapshot_taken_in_the_middle_of_a_command(tmp_path):
    """A log without an exchange's entry states snapshots inside `apply`, before the
    feed has heard that command's events: a checkpoint there would be one command off."""
    directory = str(tmp_path / "log")
    clock = ManualClock(START_NS, STEP_NS)
    journal = JournaledExchange(directory, DEFAULT_SYMBOLS, clock=clock, snapshot_every=300,
                                policy="none")
    start = open_market_data(DEFAULT_SYMBOLS, list.append, SESSION, len, clock, journal)
    records = []
    start.feed.sink = records.extend
    start.publisher.publish(start.opening)
    for command in seeded_commands(7, 700):
        start.feed(journal.apply(journal.sequencer.stamp(*command)))
        start.publisher.publish(records)
        records.clear()
    journal.close()
    start.checkpoints.close()
    # (a snapshot still being written when the next is due is skipped by the log itself)
    assert list_checkpoints(directory) == [] and start.checkpoints.skipped >= 1
