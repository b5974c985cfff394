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


def test_a_circuit_breakers_window_and_timed_halt_survive_a_snapshot():
    """A restored engine keeps the breaker's reference, window and pause: same hash, same events."""
    from gatebook.host.symbols import SymbolSpec
    minute, second = 60_000_000_000, 1_000_000_000
    gate = SymbolSpec(1, "GATE", tick_size=100, price_min=500_000, price_max=2_000_000,
                      breaker_percent=10, breaker_window_ns=5 * minute,
                      breaker_pause_ns=30 * second)
    symbols = (gate,) + DEFAULT_SYMBOLS[1:]
    ts = iter(range(START_NS, START_NS + 10**9, 1000))
    seq = iter(range(1, 10**6))

    def order(order_id, side, price, user, qty=1):
        return (internal.NEW_ORDER.code, next(seq), next(ts), 1, order_id, user, side, 0, 0,
                price, 0, qty)

    original = MatchingEngine(symbols)
    original.apply(order(1, 1, 1_000_000, 9))        # a print at 100.00 opens a window
    original.apply(order(2, 0, 1_000_000, 8))
    original.apply(order(3, 1, 1_050_000, 9))
    original.apply(order(4, 1, 1_200_000, 9))
    tripped = original.apply(order(5, 0, 1_200_000, 8, qty=2))  # 105 trades; 120 > 110: halt
    assert [event for event in tripped if event[0] == internal.TRADING_STATE.code]
    assert original.books[1].halted and original.books[1].resume_at
    copy = restore(decode(encode(capture(original, 123))), symbols)
    assert copy.state_hash() == original.state_hash()
    # The pause ends on the same command for both, and the window's band is the same.
    later = [order(6, 0, 1_200_000, 8)]
    later.append((internal.NEW_ORDER.code, next(seq), START_NS + 31 * second, 1, 7, 8, 0, 0, 0,
                  1_200_000, 0, 1))
    later.append(order(8, 0, 1_200_000, 8))
    for command in later:
        assert copy.apply(command) == original.apply(command)
    assert copy.state_hash() == original.state_hash()


def test_a_snapshot_whose_counts_overrun_its_body_is_refused_even_with_a_valid_crc():
    """Something other than Gatebook wrote it (the CRC matches): a clear refusal, no struct.error."""
    import zlib
    from gatebook.host.wal.format import struct_of
    from gatebook.wire.wal import SNAPSHOT_BOOK, SNAPSHOT_HEADER
    engine = MatchingEngine(DEFAULT_SYMBOLS)
    for command in stamped(seeded_commands(1, 200)):
        engine.apply(command)
    data = bytearray(encode(capture(engine)))
    header, book = struct_of(SNAPSHOT_HEADER, "little"), struct_of(SNAPSHOT_BOOK, "little")
    fields = list(book.unpack_from(data, header.size))
    fields[SNAPSHOT_BOOK.field_names.index("orders")] = 10**6       # far past the body's end
    book.pack_into(data, header.size, *fields)
    crc = zlib.crc32(data[header.size:], zlib.crc32(data[:header.size - 4]))
    data[header.size - 4:header.size] = crc.to_bytes(4, "little")
    with pytest.raises(SnapshotError, match="do not fit"):
        decode(bytes(data))
