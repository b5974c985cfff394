"""Recovery never goes back silently: a log shorter than its own evidence is refused.

The evidence: a snapshot holds the state up to its seq, which is only ever
written once the log is durable that far; segment numbers run without gaps.
A log that ends before a snapshot, or lacks a segment, was cut: recovery
refuses it by name (exit 3) unless the operator accepts the loss
(`--accept-loss`), and then the snapshots ahead of the log are set aside so
they can never be used later.
"""

import os
import shutil

import pytest

from gatebook.cli import main
from gatebook.host.clock import ManualClock
from gatebook.host.wal.journal import JournaledExchange
from gatebook.host.wal.loadgen import START_NS, STEP_NS, seeded_commands
from gatebook.host.wal.recovery import CorruptLog, LostLog, recover
from gatebook.host.wal.format import SegmentScan, decode_segment_header
from gatebook.host.wal.segments import first_seq_of
from gatebook.host.wal.snapshot import list_snapshots

from wal_helpers import reference_hash, segments, write_log

COUNT = 3000


@pytest.fixture(scope="module")
def snapshotted(tmp_path_factory):
    """3000 commands over 128 KiB segments, a snapshot every 700 (two kept)."""
    directory = str(tmp_path_factory.mktemp("snapshotted"))
    write_log(directory, COUNT, snapshot_every=700, segment_bytes=128 << 10)
    return directory


@pytest.fixture
def log_copy(snapshotted, tmp_path):
    target = str(tmp_path / "log")
    shutil.copytree(snapshotted, target)
    return target


def _files(directory):
    return {name: os.path.getsize(os.path.join(directory, name))
            for name in sorted(os.listdir(directory))}


def _continue(directory, count):
    """Reopen the log and submit the next `count` commands of the seeded stream."""
    exchange = JournaledExchange(directory, snapshot_every=0)
    next_seq = exchange.sequencer.next_seq
    exchange.sequencer.clock = ManualClock(START_NS + (next_seq - 1) * STEP_NS, STEP_NS)
    for command in list(seeded_commands(1, next_seq - 1 + count))[next_seq - 1:]:
        exchange.submit(*command)
    exchange.close()
    return next_seq - 1 + count


def test_deleting_the_newest_segment_is_refused_by_name(log_copy, capsys):
    newest = segments(log_copy)[-1]
    os.unlink(newest)
    before = _files(log_copy)
    with pytest.raises(LostLog) as refused:
        recover(log_copy)
    message = str(refused.value)
    assert f"{os.path.basename(newest)}, which is missing" in message
    assert "--accept-loss" in message and "go back to seq" in message
    assert isinstance(refused.value, CorruptLog)
    assert _files(log_copy) == before                   # refusing changes nothing
    assert main(["recover", "--dir", log_copy]) == 3
    assert "--accept-loss" in capsys.readouterr().err
    assert _files(log_copy) == before


def _layout(directory):
    """(segment, first seq, last record's seq, its closing marker) per segment, and the
    snapshots: what a failure below needs to say (this test failed once in a full run,
    with the log not refused; the layout it saw was not recorded then)."""
    rows = []
    for path in segments(directory):
        with open(path, "rb") as file:
            data = file.read()
        first = decode_segment_header(data)[1]
        scan = SegmentScan(data, first)
        records = list(scan)
        rows.append((os.path.basename(path), first, records[-1].seq if records else None,
                     scan.marker))
    return rows, [seq for seq, _ in list_snapshots(directory)]


def test_accepting_the_loss_sets_the_stale_snapshots_aside_for_good(log_copy, capsys):
    # Cut the log before its newest snapshot: every segment from the one holding the
    # snapshot's seq on goes. (Deleting just the newest segment left a snapshot ahead
    # of the log or not depending on how the writer happened to batch the fixture, so
    # this test failed in some full runs.)
    layout = _layout(log_copy)
    newest = max(seq for seq, _ in list_snapshots(log_copy))
    paths = segments(log_copy)
    holding = max(index for index, path in enumerate(paths) if first_seq_of(path) <= newest)
    assert holding > 0, layout
    for path in paths[holding:]:
        os.unlink(path)
    assert main(["recover", "--dir", log_copy, "--accept-loss"]) == 0
    out = capsys.readouterr().out
    assert "--accept-loss" in out and "damaged" in out, (layout, out)
    _, report = recover(log_copy)
    end = report.last_seq
    assert end < COUNT and all(seq <= end for seq, _ in list_snapshots(log_copy))
    # The log goes on past the old snapshots' seqs; a stale snapshot left in
    # place would now be taken as the base and give another state than the log.
    final = _continue(log_copy, COUNT + 400 - end)
    engine, report = recover(log_copy)
    full, _ = recover(log_copy, use_snapshots=False)
    assert engine.state_hash() == full.state_hash()
    assert report.last_seq == final


def test_a_gap_in_segment_numbers_is_refused_then_cut_at_the_gap_by_flag(tmp_path):
    directory = str(tmp_path)
    write_log(directory, COUNT, segment_bytes=128 << 10)           # no snapshots
    present = segments(directory)
    assert len(present) >= 4
    missing = present[-3]
    os.unlink(missing)
    before = _files(directory)
    with pytest.raises(LostLog, match=os.path.basename(missing) + " is missing"):
        recover(directory)
    assert _files(directory) == before
    engine, report = recover(directory, accept_loss=True)
    assert report.last_seq < COUNT and engine.state_hash() == reference_hash(report.last_seq)
    assert segments(directory) == present[:-3]         # the later segments set aside
    assert sorted(os.listdir(os.path.join(directory, "damaged"))) == [
        os.path.basename(path) for path in present[-2:]]
    again, second = recover(directory)                 # and the next start is clean
    assert again.state_hash() == engine.state_hash() and not second.repairs


def test_a_gap_before_the_snapshots_tail_loses_only_the_old_segments(log_copy):
    present = segments(log_copy)
    os.unlink(present[2])
    with pytest.raises(LostLog, match=os.path.basename(present[2]) + " is missing"):
        recover(log_copy)
    engine, report = recover(log_copy, accept_loss=True)
    assert engine.state_hash() == reference_hash(COUNT)            # the state is whole
    assert segments(log_copy) == present[3:]
    _, second = recover(log_copy)
    assert not second.repairs and second.last_seq == COUNT


def test_deleting_the_newest_segment_of_a_log_without_snapshots_is_refused(tmp_path):
    # No snapshot proves anything here: the segment before says it was closed.
    directory = str(tmp_path)
    write_log(directory, COUNT, segment_bytes=128 << 10)
    newest = segments(directory)[-1]
    os.unlink(newest)
    with pytest.raises(LostLog, match=os.path.basename(newest) + ", which is missing"):
        recover(directory)
    _, report = recover(directory, accept_loss=True)
    assert "--accept-loss" in report.tail
    _, again = recover(directory)
    assert again.tail.startswith("clean") and again.last_seq == report.last_seq


def test_a_log_cut_before_its_snapshot_is_refused(tmp_path):
    directory = str(tmp_path)
    write_log(directory, COUNT, snapshot_every=COUNT)  # one snapshot, at the very end
    last = segments(directory)[-1]
    os.truncate(last, os.path.getsize(last) - 2000)     # lose the last few commands
    with pytest.raises(LostLog, match=f"seq {COUNT}"):
        recover(directory)
    assert os.path.getsize(last) > 0 and not os.path.exists(tmp_path / "damaged")
    engine, report = recover(directory, accept_loss=True)
    assert not report.snapshot and engine.state_hash() == reference_hash(report.last_seq)
    assert not list_snapshots(directory)


def test_every_segment_gone_but_a_snapshot_is_refused(log_copy):
    for path in segments(log_copy):
        os.unlink(path)
    with pytest.raises(LostLog, match="ends at seq 0"):
        recover(log_copy)


def test_gatebook_run_refuses_a_cut_log_and_starts_once_the_loss_is_accepted(log_copy):
    # The exchange itself, as an operator starts it: no silent step back.
    import subprocess
    import sys
    from ouch_login import flow_accounts
    accounts = flow_accounts(log_copy, users=[1])
    command = [sys.executable, "-m", "gatebook.cli", "run", "--listen", "127.0.0.1:0",
               "--md", "none", "--log", log_copy, "--seconds", "0.5", "--accounts", accounts]
    newest = segments(log_copy)[-1]
    os.unlink(newest)
    refused = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 3, refused.stderr
    assert os.path.basename(newest) in refused.stderr and "--accept-loss" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert main(["recover", "--dir", log_copy, "--accept-loss"]) == 0
    started = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    assert "run: recovered" in started.stdout


def test_a_segment_cut_short_in_the_middle_of_the_log_is_refused(tmp_path):
    # Whole records gone from the end of a segment that is not the last: the
    # next one starts past where it ends.
    directory = str(tmp_path)
    write_log(directory, COUNT, segment_bytes=128 << 10)
    present = segments(directory)
    middle = present[1]
    os.truncate(middle, os.path.getsize(middle) * 2 // 3)     # a torn record, then cut to it
    _, report = recover(directory, repair=False, accept_corruption=True)
    os.truncate(middle, report.repairs[0].offset)              # now a clean record boundary
    with pytest.raises(LostLog, match=f"{os.path.basename(middle)} ends at seq") as refused:
        recover(directory)
    assert "are gone" in str(refused.value) and os.path.basename(present[2]) in str(refused.value)
    engine, report = recover(directory, accept_loss=True)
    assert segments(directory) == present[:2]
    assert engine.state_hash() == reference_hash(report.last_seq)
    _, again = recover(directory)
    assert not again.repairs and again.tail.startswith("clean")
