"""Snapshots restore an engine that hashes and behaves exactly like the original."""

import pytest

from gatebook.wire import internal
from gatebook.wire.enums import AdminAction, MassCancelScope
from host.engine import MatchingEngine
from host.symbols import DEFAULT_SYMBOLS
from host.wal.loadgen import seeded_commands, stamped
from host.wal.snapshot import SnapshotError, capture, decode, encode, restore


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
