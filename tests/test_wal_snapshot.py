"""Snapshots restore an engine that hashes and behaves exactly like the original."""

import logging

import pytest

from gatebook.wire import internal
from gatebook.wire.enums import AdminAction, MassCancelScope
from gatebook.host.engine import MatchingEngine
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.host.clock import ManualClock
from gatebook.host.wal.journal import JournaledExchange
from gatebook.host.wal.loadgen import START_NS, STEP_NS, seeded_commands, stamped
from gatebook.host.wal.recovery import recover
from gatebook.host.wal.snapshot import SnapshotError, capture, decode, encode, list_snapshots, restore

from wal_helpers import reference_hash, write_log


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_restored_engine_matches_hash_and_future_events(seed):
    commands = list(stamped(seeded_commands(seed, 6000)))
    original = MatchingEngine(DEFAULT_SYMBOLS)
    for command in commands[:4000]:
        original.apply(command)
    original.books[2].halted = True                    # state the flow itself never sets
    copy = restore(decode(encode(capture(original, 123))), DEFAULT_SYMBOLS)
    assert copy.state_hash() == original.state_hash()
    assert any(book.live_stops(0) or book.live_stops(1) for book in original.books.values())
    tail = commands[4000:] + [
        (internal.MASS_CANCEL.code, 6001, 0, int(MassCancelScope.USER), 7, 0),
        (internal.ADMIN.code, 6002, 0, int(AdminAction.END_OF_DAY), 0xFFFF),
    ]
    for command in tail:                               # same events, in the same order
        assert copy.apply(command) == original.apply(command)
    assert copy.state_hash() == original.state_hash()


def test_damaged_or_foreign_snapshots_are_refused():
    engine = MatchingEngine(DEFAULT_SYMBOLS)
    for command in stamped(seeded_commands(1, 500)):
        engine.apply(command)
    data = bytearray(encode(capture(engine)))
    data[len(data) // 2] ^= 4
    with pytest.raises(SnapshotError, match="CRC"):
        decode(bytes(data))
    with pytest.raises(SnapshotError, match="shorter than its header"):
        decode(b"GBSNAP")
    state = decode(encode(capture(engine)))
    with pytest.raises(SnapshotError, match="does not list"):
        restore(state, DEFAULT_SYMBOLS[:1])


@pytest.mark.parametrize("policy", ["batched", "none"])
def test_a_snapshot_is_never_ahead_of_the_durable_log(tmp_path, policy):
    # batched with a timer far away, and none: the records are written (and
    # acknowledged) long before any fdatasync would come on its own.
    exchange = JournaledExchange(str(tmp_path), policy=policy, batch_ms=60_000,
                                 snapshot_every=0, clock=ManualClock(START_NS, STEP_NS))
    for command in seeded_commands(4, 500):
        exchange.submit(*command)
    assert exchange.writer.wait_acked(500, timeout=10)
    synced_before = exchange.writer.synced_seq
    exchange.snapshot(wait=True)
    assert list_snapshots(str(tmp_path))[0][0] == 500
    assert synced_before < 500 <= exchange.writer.synced_seq   # the snapshot waited for it
    exchange.close()


def test_snapshots_count_from_the_last_one_in_the_log_across_restarts(tmp_path):
    # Restarted every 200 commands with a snapshot due every 300: counting
    # from each process's start, no snapshot was ever taken and every restart
    # replayed the whole log.
    directory = str(tmp_path)
    for restart in range(6):
        exchange = JournaledExchange(directory, snapshot_every=300)
        next_seq = exchange.sequencer.next_seq
        assert exchange.recovery.replayed < 300 + 200
        exchange.sequencer.clock = ManualClock(START_NS + (next_seq - 1) * STEP_NS, STEP_NS)
        for command in list(seeded_commands(1, next_seq + 199))[next_seq - 1:]:
            exchange.submit(*command)
        exchange.close()
    seqs = [seq for seq, _ in list_snapshots(directory)]
    assert seqs and seqs[0] >= 900
    engine, report = recover(directory)
    assert report.replayed <= 300 and engine.state_hash() == reference_hash(1200)


def test_leftover_partial_snapshots_are_removed_on_start(tmp_path, caplog):
    directory = str(tmp_path)
    write_log(directory, 300)
    leftover = tmp_path / "snapshot-00000000000000000250.snap.partial"
    leftover.write_bytes(b"half a snapshot")
    with caplog.at_level(logging.WARNING, logger="gatebook.wal"):
        exchange = JournaledExchange(directory)
    exchange.close()
    assert not leftover.exists()
    assert any(leftover.name in message for message in caplog.messages)
    assert any(leftover.name in note for note in exchange.recovery.notes)
