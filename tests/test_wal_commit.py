"""Format version 3: every write ends with a COMMIT record, so recovery tells a clean end
from a log cut at a record boundary; version 1 and 2 logs still recover."""

import json
import logging
import os

from gatebook.cli import main
from gatebook.host.wal.format import (HEADER_SIZE, INPUT, SEGMENT_HEADER_SIZE, TRAILER_SIZE,
                                      SegmentScan, decode_segment_header, segment_version)
from gatebook.host.wal.journal import JournaledExchange
from gatebook.host.wal.loadgen import seeded_commands, stamped
from gatebook.host.engine import MatchingEngine
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.host.wal.recovery import recover
from gatebook.wire import internal
from gatebook.wire.wal import FORMAT_VERSION

from wal_helpers import old_segment, reference_hash, segments, write_log

COUNT = 1000


def _boundary_inside_the_last_write(path):
    """Offset of an INPUT record of the last segment with no COMMIT record right before it."""
    with open(path, "rb") as file:
        data = file.read()
    records = list(SegmentScan(data, decode_segment_header(data)[1]))
    for before, record in zip(reversed(records[:-1]), reversed(records[1:])):
        if record.kind == INPUT and before.offset + HEADER_SIZE + len(before.payload) \
                + TRAILER_SIZE == record.offset:
            return record.offset, record.seq
    raise AssertionError("no write of two commands in the last segment")


def test_a_clean_end_says_so(tmp_path):
    write_log(str(tmp_path), COUNT)
    _, report = recover(str(tmp_path))
    assert report.tail == f"clean (the last write's COMMIT record, seq {COUNT})"
    assert f"tail: clean (the last write's COMMIT record, seq {COUNT})" in list(report.lines())


def test_a_cut_at_a_record_boundary_is_reported_not_called_clean(tmp_path, caplog):
    directory = str(tmp_path)
    write_log(directory, COUNT)
    last = segments(directory)[-1]
    offset, seq = _boundary_inside_the_last_write(last)
    os.truncate(last, offset)                       # whole records gone, nothing torn
    with caplog.at_level(logging.WARNING, logger="gatebook.wal"):
        engine, report = recover(directory)
    assert report.last_seq == seq - 1 and engine.state_hash() == reference_hash(seq - 1)
    assert report.tail.startswith(f"cut at a record boundary after seq {seq - 1}")
    assert any("has no COMMIT record" in message for message in caplog.messages)
    assert f"sealed the log with a COMMIT record at seq {seq - 1}" in report.notes
    _, again = recover(directory)                   # reported once; the log is sealed now
    assert again.tail.startswith("clean") and again.last_seq == seq - 1


def test_a_version_2_log_recovers_and_goes_on_in_a_segment_of_this_builds_version(tmp_path):
    directory = str(tmp_path)
    commands = list(stamped(seeded_commands(1, 300)))
    old = os.path.join(directory, "segment-00000000.wal")
    expected = old_segment(old, commands, 2)
    with open(old, "rb") as file:
        before = file.read()
    engine, report = recover(directory)
    assert engine.state_hash() == expected and report.last_seq == 300
    assert report.tail.startswith("clean as far as a version 2 segment can tell")
    exchange = JournaledExchange(directory, snapshot_every=0)
    for command in list(seeded_commands(1, 400))[300:]:
        exchange.submit(*command)
    exchange.close()
    with open(old, "rb") as file:
        assert file.read() == before                # a version 2 reader still reads it all
    newer = segments(directory)[-1]
    with open(newer, "rb") as file:
        assert segment_version(file.read(SEGMENT_HEADER_SIZE)) == FORMAT_VERSION
    _, report = recover(directory, verify_outputs=True)     # each segment by its version
    assert report.last_seq == 400 and report.tail.startswith("clean (the last write's")
    assert report.verified == 400


def test_log_dump_reads_each_segment_by_its_version(tmp_path, capsys):
    directory = str(tmp_path)
    commands = list(stamped(seeded_commands(1, 300)))
    old_segment(os.path.join(directory, "segment-00000000.wal"), commands, 2)
    engine = MatchingEngine(DEFAULT_SYMBOLS)
    expected = [event for command in commands for event in engine.apply(command)
                if event[0] == internal.LEVEL.code]
    assert main(["log", "dump", "--dir", directory, "--json"]) == 0
    levels = [record for line in capsys.readouterr().out.splitlines()
              for record in json.loads(line)["records"] if record["type"] == "level"]
    names = ("seq", "symbol", "price", "qty", "orders")
    at = {name: internal.LEVEL.field_names.index(name) + 1 for name in names}
    assert [tuple(record[name] for name in names) for record in levels] == [
        tuple(event[at[name]] for name in names) for event in expected] and levels


def test_log_dump_says_how_the_log_ends(tmp_path, capsys):
    directory = str(tmp_path)
    write_log(directory, 300, segment_bytes=32 << 10)
    assert main(["log", "dump", "--dir", directory]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "end of log: the last write's COMMIT record, seq 300")
    last = segments(directory)[-1]
    offset, seq = _boundary_inside_the_last_write(last)
    os.truncate(last, offset)
    assert main(["log", "dump", "--dir", directory]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(
        f"end of log after seq {seq - 1}: no COMMIT record")
    os.unlink(last)                                     # the segment before says it was closed
    assert main(["log", "dump", "--dir", directory]) == 1
    assert f"says the log goes on in {os.path.basename(last)}, which is missing" in \
        capsys.readouterr().err
