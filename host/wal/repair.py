"""What recovery changes on disk: cut a damaged tail, set files aside, finish the last command.

Nothing is deleted: cut bytes and set-aside files go under `LOGDIR/damaged/`
for a person to look at. Every change is fsync'ed, and its directory too,
before recovery goes on. Recovery (recovery.py) decides; this module does.
"""

import contextlib
import logging
import os
import re
from dataclasses import dataclass

from gatebook.wire.wal import COMMIT_VERSION
from gatebook.wire.positions import INTERNAL

from .errors import CorruptLog
from .format import (OUTPUT, SEGMENT_HEADER_SIZE, encode_commit, encode_output, encode_record,
                     find_valid_record, segment_version)
from .segments import AppendFile, list_segments, sync_directory

__all__ = ["Repair", "damaged", "cut", "set_aside", "remove_partial_snapshots",
           "settle_resume", "seal", "rewrite_missing_output"]

_SEQ, _TS = INTERNAL.NEW_ORDER.seq, INTERNAL.NEW_ORDER.ts     # every command's (gatebook.wire.positions)

log = logging.getLogger("gatebook.wal")
_PARTIAL = re.compile(r"snapshot-\d{20}\.snap\.partial")


@dataclass
class Repair:
    segment: str
    offset: int
    reason: str
    bytes_cut: int
    saved_to: str

    def line(self):
        if self.offset == 0 and self.bytes_cut:
            return (f"set aside {os.path.basename(self.segment)} ({self.reason}); "
                    f"moved to {self.saved_to}")
        return (f"truncated {os.path.basename(self.segment)} at offset {self.offset}: "
                f"{self.reason}; {self.bytes_cut} bytes saved to {self.saved_to}")


def damaged(report, segments, index, data, offset, reason, accept_corruption, repair,
            refuse_tail=None):
    """Cut a damaged tail; refuse (or, with the flag, cut) damage anywhere else.

    `refuse_tail`, if given, is called before a tail is cut: it raises when
    the cut would take the log back behind what it proves (a snapshot).
    """
    path = segments[index][1]
    in_tail = index == len(segments) - 1 and find_valid_record(data, offset + 1) is None
    if not in_tail:
        if not accept_corruption:
            raise CorruptLog(path, offset, reason)
        reason += " (cut by --accept-corruption)"
    elif refuse_tail is not None:
        refuse_tail(path, offset, reason)
    cut(report, path, data, offset, reason, repair)
    if not in_tail:
        for _, later in segments[index + 1:]:
            with open(later, "rb") as file:
                cut(report, later, file.read(), 0, "follows a cut corrupt record", repair)


def cut(report, path, data, offset, reason, repair):
    """Save data[offset:] under damaged/ and cut the segment there (offset 0: move it whole)."""
    directory = os.path.dirname(path)
    saved = os.path.join(directory, "damaged", f"{os.path.basename(path)}.at-{offset}")
    report.repairs.append(Repair(path, offset, reason, len(data) - offset,
                                 saved if repair else "(nothing changed: read-only)"))
    log.warning("%s: %s at offset %d; %s", path, reason, offset,
                "cutting the log there" if repair else "read-only, left as is")
    if not repair:
        return
    os.makedirs(os.path.dirname(saved), exist_ok=True)
    try:
        with open(saved, "wb") as file:
            file.write(data[offset:])
            file.flush()
            os.fsync(file.fileno())
    except OSError:
        # Half a copy (a full disk) must not pass for the saved bytes; the
        # segment itself is still whole, so a later run starts again.
        with contextlib.suppress(OSError):
            os.unlink(saved)
        raise
    sync_directory(os.path.dirname(saved))
    if offset == 0:
        os.unlink(path)
    else:
        with open(path, "r+b") as file:
            file.truncate(offset)
            os.fsync(file.fileno())
    sync_directory(directory)


def set_aside(report, path, reason, repair):
    """Move a whole file (a segment past a gap, a snapshot ahead of the log) to damaged/."""
    directory = os.path.dirname(path)
    target = os.path.join(directory, "damaged", os.path.basename(path))
    report.repairs.append(Repair(path, 0, reason, os.path.getsize(path),
                                 target if repair else "(nothing changed: read-only)"))
    log.warning("%s: %s; %s", path, reason,
                f"moving it to {target}" if repair else "read-only, left as is")
    if not repair:
        return
    os.makedirs(os.path.dirname(target), exist_ok=True)
    os.replace(path, target)
    sync_directory(os.path.dirname(target))
    sync_directory(directory)


def remove_partial_snapshots(directory, report):
    """Delete `snapshot-*.snap.partial` files a crash left mid-write (never renamed, never used)."""
    for name in sorted(os.listdir(directory)):
        if _PARTIAL.fullmatch(name):
            os.unlink(os.path.join(directory, name))
            log.warning("%s: removed %s, a snapshot a crash left half written",
                        directory, name)
            report.notes.append(f"removed {name} (a snapshot a crash left half written)")


def settle_resume(directory, report):
    """Where the writer continues: the last segment read, or a new one if it was removed."""
    if report.resume and os.path.exists(report.resume[1]):
        return
    remaining = list_segments(directory)
    number = remaining[-1][0] + 1 if remaining else 0
    report.resume = (number, None, report.last_seq + 1)
    if not remaining and report.segments:
        report.notes.append(f"no readable segment left; the log restarts at seq {report.last_seq + 1}")


def seal(report, seq):
    """End the log with a COMMIT record after a cut or a rewritten OUTPUT, so the next
    start finds a clean end (a segment of an older version gets none: its readers
    know no COMMIT records)."""
    number, path, next_seq = report.resume
    if path is None:
        return
    with open(path, "rb") as file:
        if segment_version(file.read(SEGMENT_HEADER_SIZE)) < COMMIT_VERSION:
            return
    file = AppendFile(path, create=False)
    try:
        file.write(encode_commit(seq, seq))
        file.sync()
    finally:
        file.close()
    report.notes.append(f"sealed the log with a COMMIT record at seq {seq}")


def rewrite_missing_output(report, command, events):
    """The crash fell between a command's INPUT and OUTPUT records: write the OUTPUT."""
    number, path, next_seq = report.resume
    if path is None:
        return
    with open(path, "rb") as file:
        version = segment_version(file.read(SEGMENT_HEADER_SIZE))
    file = AppendFile(path, create=False)
    try:
        file.write(encode_record(command[_SEQ], command[_TS], OUTPUT, encode_output(events, version)))
        file.sync()
    finally:
        file.close()
    report.outputs += 1
    report.records += 1
    report.notes.append(f"seq {command[_SEQ]} had no OUTPUT record; wrote it from the replay")
