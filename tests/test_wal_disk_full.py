"""A real full disk: the log lives on a tiny tmpfs mounted for the test.

Needs CAP_SYS_ADMIN for `mount`; without it the test is skipped with the reason.
"""

import itertools
import os
import subprocess

import pytest

from gatebook.host.clock import ManualClock
from gatebook.host.wal.journal import JournaledExchange
from gatebook.host.wal.loadgen import START_NS, STEP_NS, seeded_commands
from gatebook.host.wal.recovery import recover
from gatebook.host.wal.writer import LogFailure

from wal_helpers import reference_hash, tiny_tmpfs


@pytest.fixture
def tiny_disk(tmp_path):
    with tiny_tmpfs(tmp_path, "384k") as mountpoint:
        yield mountpoint


def test_disk_full_stops_accepting_and_loses_nothing_acknowledged(tiny_disk):
    directory = os.path.join(tiny_disk, "log")
    acks = []
    exchange = JournaledExchange(directory, clock=ManualClock(START_NS, STEP_NS), on_ack=acks.append,
                                 segment_bytes=96 << 10, snapshot_every=500)
    stream = seeded_commands(5)
    submitted = 0
    with pytest.raises(LogFailure) as stopped:
        for command in itertools.islice(stream, 200_000):
            exchange.submit(*command)
            submitted += 1
    message = str(stopped.value)
    assert "disk full (ENOSPC)" in message and "segment-" in message and "gatebook recover" in message
    with pytest.raises(LogFailure):                     # and it stays stopped
        exchange.submit(*next(stream))
    with pytest.raises(LogFailure):
        exchange.close()
    acked = max(acks)
    assert 0 < acked <= submitted
    assert not [name for name in os.listdir(directory) if name.endswith(".partial")]

    # Recovery on the still-full disk: every acknowledged command is there.
    engine, report = recover(directory, verify_outputs=True)
    assert report.last_seq >= acked and not report.repairs
    assert engine.state_hash() == reference_hash(report.last_seq, seed=5)

    # Free space (a bigger filesystem), reopen, and the stream carries on.
    subprocess.run(["mount", "-o", "remount,size=8m", tiny_disk], check=True)
    resumed = JournaledExchange(directory)
    next_seq = resumed.sequencer.next_seq
    resumed.sequencer.clock = ManualClock(START_NS + (next_seq - 1) * STEP_NS, STEP_NS)
    for command in itertools.islice(seeded_commands(5), next_seq - 1, next_seq + 199):
        resumed.submit(*command)
    resumed.close()
    engine, _ = recover(directory)
    assert engine.state_hash() == reference_hash(next_seq + 199, seed=5)
