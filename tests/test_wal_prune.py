"""Segment pruning after durable snapshots: keep (default), archive or delete, and recovery after it."""

import os

import pytest

from gatebook.cli import main
from gatebook.host.wal.recovery import recover
from gatebook.host.wal.segments import first_seq_of, list_segments, prune_segments
from gatebook.host.wal.snapshot import list_snapshots

from wal_helpers import flip_bit, reference_hash, segments, write_log

COUNT = 3000


def _log(directory, **options):
    return write_log(directory, COUNT, snapshot_every=600, segment_bytes=48 << 10, **options)


def test_by_default_every_segment_is_kept(tmp_path):
    directory = str(tmp_path)
    _log(directory)
    assert list_segments(directory)[0][0] == 0 and not os.path.exists(tmp_path / "archive")


@pytest.mark.parametrize("mode", ["archive", "delete"])
def test_segments_before_the_oldest_kept_snapshot_go_and_recovery_still_works(tmp_path, mode, capsys):
    directory = str(tmp_path)
    final = _log(directory, prune=mode)
    snapshots = list_snapshots(directory)
    present = segments(directory)
    assert os.path.basename(present[0]) != "segment-00000000.wal"
    # Nothing the oldest kept snapshot needs is gone: the first segment left
    # starts at or before the seq right after it.
    assert first_seq_of(present[0]) <= snapshots[-1][0] + 1
    archive = tmp_path / "archive"
    if mode == "archive":
        archived = sorted(os.listdir(archive))
        assert archived[0] == "segment-00000000.wal" and len(archived) + len(present) == (
            int(os.path.basename(present[-1])[8:16]) + 1)
    else:
        assert not archive.exists()
    engine, report = recover(directory, verify_outputs=True)
    assert engine.state_hash() == final and report.snapshot == snapshots[0][1]
    assert main(["recover", "--dir", directory, "--read-only"]) == 0
    out = capsys.readouterr().out
    assert "pruned: segment-00000000.wal .. " in out and f"read {len(report.read)} from" in out
    assert ("of them in" in out) == (mode == "archive")


def test_after_pruning_a_damaged_newest_snapshot_falls_back_to_the_oldest(tmp_path):
    directory = str(tmp_path)
    final = _log(directory, prune="delete")
    newest, oldest = list_snapshots(directory)[:2]
    flip_bit(newest[1], 200)
    engine, report = recover(directory)
    assert report.snapshot == oldest[1] and report.rejected_snapshots
    assert engine.state_hash() == final == reference_hash(COUNT)


def test_prune_never_takes_the_segment_being_written(tmp_path):
    directory = str(tmp_path)
    _log(directory)
    last = segments(directory)[-1]
    pruned = prune_segments(directory, COUNT, "delete")
    assert segments(directory) == [last] and last not in pruned


def test_gatebook_log_prune_archives_what_no_snapshot_needs(tmp_path, capsys):
    directory = str(tmp_path / "log")
    final = _log(directory)
    oldest = list_snapshots(directory)[-1][0]
    assert main(["log", "prune", "--dir", directory, "--archive"]) == 0
    out = capsys.readouterr().out
    assert f"oldest usable snapshot: seq {oldest}" in out and "moved to" in out
    assert first_seq_of(segments(directory)[0]) <= oldest + 1
    assert os.listdir(os.path.join(directory, "archive"))
    engine, _ = recover(directory, verify_outputs=True)
    assert engine.state_hash() == final
