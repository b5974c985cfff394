"""The group-commit writer: what each policy acknowledges, and when."""

import threading
import time

import pytest

from gatebook.wire import internal
from gatebook.wire.codec import ProtocolCodec, WireError
from gatebook.host.engine import MatchingEngine
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.host.wal.journal import JournaledExchange
from gatebook.host.wal.loadgen import seeded_commands, stamped
from gatebook.host.wal.recovery import recover
from gatebook.host.wal.writer import Durability, LogWriter

_PRICE = 1_000_000


def _commands(count):
    return list(seeded_commands(3, count))


def _run(directory, policy, count=2000, **options):
    seen = []
    exchange = JournaledExchange(directory, policy=policy, **options)
    writer = exchange.writer
    exchange.writer.on_durable = lambda seq: seen.append((seq, writer.synced_seq, writer.written_seq))
    for command in _commands(count):
        exchange.submit(*command)
    exchange.close()
    return exchange, seen


def test_strict_acknowledges_only_synced_commands(tmp_path):
    exchange, seen = _run(str(tmp_path), "strict")
    assert seen and all(seq <= synced for seq, synced, _ in seen)
    assert seen[-1][0] == 2000 and exchange.writer.syncs == exchange.writer.batches
    assert exchange.writer.batches < 2000           # group commit: many commands per fdatasync


def test_batched_acknowledges_written_commands_and_syncs_on_its_timer(tmp_path):
    exchange, seen = _run(str(tmp_path), "batched", batch_ms=1)
    assert all(seq <= written for seq, _, written in seen)
    assert exchange.writer.syncs >= 1 and exchange.writer.synced_seq == 2000


def test_none_syncs_only_when_closing(tmp_path):
    exchange, seen = _run(str(tmp_path), "none")
    assert exchange.writer.syncs == 1 and seen[-1][0] == 2000


def test_wait_acked_blocks_until_durable(tmp_path):
    writer = LogWriter(str(tmp_path), Durability.STRICT)
    exchange_commands = JournaledExchange(str(tmp_path / "other"))
    seq, events = exchange_commands.submit(*_commands(1)[0])
    exchange_commands.close()
    writer.append(1, 5, b"", events)
    assert writer.wait_acked(1, timeout=5)
    assert not writer.wait_acked(2, timeout=0.05)
    writer.close()


def test_a_command_the_log_cannot_encode_is_refused_without_a_sequence_gap(tmp_path):
    exchange = JournaledExchange(str(tmp_path))
    good = (internal.NEW_ORDER.code, 1, 1, 7, 0, 0, 1, _PRICE, 0, 100)
    exchange.submit(*good)
    with pytest.raises(WireError):
        exchange.submit(internal.NEW_ORDER.code, 1, 2, 7, 0, 0, 1, _PRICE, 0, 1 << 40)
    seq, _ = exchange.submit(internal.CANCEL.code, 1, 7)
    assert seq == 2
    exchange.close()
    engine, report = recover(str(tmp_path), verify_outputs=True)
    assert report.last_seq == 2 and engine.state_hash() == exchange.engine.state_hash()


def test_policy_names_are_checked():
    with pytest.raises(ValueError):
        Durability("sometimes")


def _encoded(count, seed=5):
    """(seq, ts, command bytes, events) of a seeded flow, as the journal hands them over."""
    engine = MatchingEngine(DEFAULT_SYMBOLS)
    encode = ProtocolCodec(internal.COMMANDS).encode
    return [(command[1], command[2], encode(command), engine.apply(command))
            for command in stamped(seeded_commands(seed, count))]


def test_batched_syncs_on_time_while_a_backlog_is_written(tmp_path):
    # One command is acknowledged (written), then a backlog of 20,000 arrives
    # before its sync is due. Written as one batch, the backlog kept that
    # acknowledged command waiting for the backlog's whole encoding (about
    # 200 ms here) past its due time, when the policy promises N ms.
    flow = _encoded(20_002)
    batch_ms = 50
    writer = LogWriter(str(tmp_path), Durability.BATCHED, batch_ms=batch_ms)
    writer.append(*flow[0])
    assert writer.wait_synced(1, timeout=10)            # a sync just happened
    writer.append(*flow[1])
    assert writer.wait_acked(2, timeout=10)             # seq 2's is due in 50 ms
    # The backlog must reach the writer as one queue, however the threads are
    # scheduled: queue it under the writer's own lock (re-entrant), which the
    # writer needs to take its queue.
    held = time.monotonic()
    with writer._cond:
        for item in flow[2:]:
            writer.append(*item)
    held = (time.monotonic() - held) * 1000
    writer.close()
    # Seq 2's sync was due when the hold ended, or at 50 ms; how much later it began:
    late = writer.waited_micros.get_max_value() / 1000 - max(held, batch_ms)
    assert writer.waited_micros.get_total_count() >= 2
    assert late < 40, f"seq 2's fdatasync began {late:.0f} ms after it was due"


def test_events_the_log_cannot_encode_fail_it_on_the_callers_thread(tmp_path):
    # The records are encoded by `append`, on the matching thread (the writer
    # thread only writes bytes, so it does not compete for the GIL): an event
    # that does not fit its table stops the log there and then, with nothing
    # of that command queued, instead of later on the writer's thread.
    from gatebook.host.wal.writer import LogFailure
    flow = _encoded(3)
    writer = LogWriter(str(tmp_path), Durability.STRICT)
    writer.append(*flow[0])
    assert writer.wait_acked(1, timeout=10)
    seq, ts, command_bytes, events = flow[1]
    too_big = (internal.LEVEL.code, seq, ts, 1, 1, _PRICE, 1 << 70, 1)
    with pytest.raises(LogFailure, match="log writer stopped") as failed:
        writer.append(seq, ts, command_bytes, events + [too_big])
    assert isinstance(failed.value.__cause__, WireError)
    with pytest.raises(LogFailure):
        writer.append(*flow[2])
    with pytest.raises(LogFailure):
        writer.close()
    _, report = recover(str(tmp_path), verify_outputs=True)
    assert report.last_seq == 1 and report.verified == 1
