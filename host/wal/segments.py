"""Segment files: naming, listing and appending.

A log directory holds `segment-NNNNNNNN.wal` files numbered from 0 with no
gaps (or, once pruned, from the oldest segment still needed). Only the last
one is ever appended to; a segment is closed (synced) before the next is
created, and the directory is synced after a create so the new name survives
a power cut. Then a COMMIT record saying "closed" ends the old segment: a
last segment ending with one proves that a newer segment existed.
"""

import contextlib
import errno
import os
import re
import shutil

from gatebook.wire.wal import FORMAT_VERSION

from .format import (SEGMENT_HEADER_SIZE, decode_segment_header, encode_commit,
                     encode_segment_header, segment_version)

__all__ = ["SEGMENT_PATTERN", "PRUNE_MODES", "segment_name", "list_segments", "first_seq_of",
           "prune_segments", "sync_directory", "AppendFile", "SegmentAppender"]

SEGMENT_PATTERN = re.compile(r"segment-(\d{8})\.wal")
PRUNE_MODES = ("keep", "archive", "delete")


def segment_name(number):
    return f"segment-{number:08d}.wal"


def list_segments(directory, allow_gaps=False):
    """[(number, path), ...] in order; raise ValueError if a number is missing
    (unless `allow_gaps`: recovery names the gap itself)."""
    found = sorted((int(match.group(1)), os.path.join(directory, name))
                   for name in os.listdir(directory)
                   if (match := SEGMENT_PATTERN.fullmatch(name)))
    if allow_gaps:
        return found
    for index, (number, path) in enumerate(found):
        if number != found[0][0] + index:
            raise ValueError(f"{directory}: segment {found[0][0] + index} is missing "
                             f"(next present is {os.path.basename(path)})")
    return found


def first_seq_of(path):
    """The first sequence number a segment holds (its header's); ValueError if unreadable."""
    with open(path, "rb") as file:
        return decode_segment_header(file.read(SEGMENT_HEADER_SIZE))[1]


def prune_segments(directory, snapshot_seq, mode, archive_dir=None):
    """Delete or archive every segment holding only seqs up to `snapshot_seq`; return their paths.

    A segment qualifies when the next segment starts at or before
    `snapshot_seq + 1` (a command's two records never span segments). The
    last segment, the one being appended to, never does. "archive" moves the
    files to `archive_dir` (a rename on the same file system; else a copy,
    fsync'ed, then the original removed), oldest first, so a crash part way
    leaves the log with no gap. Callers must only pass the seq of a snapshot
    that is durable.
    """
    if mode not in PRUNE_MODES:
        raise ValueError(f"prune mode must be one of {', '.join(PRUNE_MODES)}, not {mode!r}")
    if mode == "keep":
        return []
    segments = list_segments(directory)
    pruned = []
    for (_, path), (_, following) in zip(segments, segments[1:]):
        try:
            if first_seq_of(following) > snapshot_seq + 1:
                break
        except ValueError:
            break                       # recovery will have something to say about it
        if mode == "delete":
            os.unlink(path)
        else:
            _archive(path, archive_dir or os.path.join(directory, "archive"))
        pruned.append(path)
    if pruned:
        sync_directory(directory)
    return pruned


def _archive(path, archive_dir):
    os.makedirs(archive_dir, exist_ok=True)
    target = os.path.join(archive_dir, os.path.basename(path))
    try:
        os.rename(path, target)
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
        temporary = target + ".partial"
        shutil.copyfile(path, temporary)
        with open(temporary, "rb+") as file:
            os.fsync(file.fileno())
        os.replace(temporary, target)
        sync_directory(archive_dir)
        os.unlink(path)
        return
    sync_directory(archive_dir)


def _close(file, marker):
    """Append a segment's closing COMMIT record, or nothing if the disk refuses it.

    The marker is evidence, not data (the segment was synced whole before):
    a full disk must not leave half of one in the middle of the log.
    """
    before = file.size
    try:
        file.write(marker)
        file.sync()
    except OSError:
        with contextlib.suppress(OSError):
            file.rewind(before)


def sync_directory(directory):
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# fdatasync writes the data and the file size, all that appending needs.
_datasync = getattr(os, "fdatasync", os.fsync)


class AppendFile:
    """An append-only file descriptor that writes all it is given or raises.

    A short write (the disk filled mid-way) is retried for the remainder; the
    retry then fails with ENOSPC, and `rewind` lets the caller take the partial
    batch back off the end so no half record is left behind.
    """

    def __init__(self, path, create):
        flags = os.O_WRONLY | os.O_APPEND | (os.O_CREAT | os.O_EXCL if create else 0)
        self.path = path
        self.fd = os.open(path, flags, 0o644)
        self.size = os.fstat(self.fd).st_size

    def write(self, data):
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            if written <= 0:            # not expected from a regular file, but never spin
                raise OSError(errno.EIO, f"write returned {written}", self.path)
            self.size += written
            view = view[written:]

    def sync(self):
        _datasync(self.fd)

    def rewind(self, size):
        os.ftruncate(self.fd, size)
        self.size = size

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class SegmentAppender:
    """Appends batches of encoded records to a log directory, rolling segments by size.

    Parameters
    ----------
    directory : str
    segment_bytes : int
        A segment is closed and a new one started before a batch would take it
        past this size (a batch is never split, so one batch may exceed it).
    number, path : int, str or None
        The segment to continue (recovery has validated and trimmed it); None
        starts segment `number` fresh.
    """

    def __init__(self, directory, segment_bytes, number=0, path=None, next_seq=1):
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.number = number
        # A segment of an older format version is not appended to: the next
        # batch starts a new segment (a reader of that version can still read it).
        self._old = False
        if path is None:
            self.file = self._create(number, next_seq)
        else:
            self.file = AppendFile(path, create=False)
            with open(path, "rb") as file:
                self._old = segment_version(file.read(SEGMENT_HEADER_SIZE)) != FORMAT_VERSION

    def _create(self, number, first_seq):
        path = os.path.join(self.directory, segment_name(number))
        file = AppendFile(path, create=True)
        try:
            file.write(encode_segment_header(number, first_seq))
            file.sync()
            sync_directory(self.directory)
        except OSError:
            # A segment that cannot hold its own header must not be left behind
            # for recovery to puzzle over.
            file.close()
            os.unlink(path)
            sync_directory(self.directory)
            raise
        return file

    def append(self, batch, first_seq):
        """Write one batch (one write call); roll first if the segment is full.

        On an OSError the partial batch is cut off again before re-raising, so
        the file ends at a record boundary whatever the disk did.
        """
        file = self.file
        if self._old or (file.size + len(batch) > self.segment_bytes
                         and file.size > SEGMENT_HEADER_SIZE):
            file.sync()
            fresh = self._create(self.number + 1, first_seq)
            if not self._old:
                # Only once the next segment surely exists: so a last segment
                # that says it is closed proves a newer one was deleted.
                _close(file, encode_commit(first_seq - 1, first_seq - 1, closed=True))
            self._old = False
            file.close()
            self.file = file = fresh
            self.number += 1
        before = file.size
        try:
            file.write(batch)
        except OSError:
            try:
                file.rewind(before)
            except OSError:
                pass                    # recovery trims a torn tail anyway
            raise

    def sync(self):
        self.file.sync()

    @property
    def position(self):
        """(segment number, bytes in it)."""
        return self.number, self.file.size

    def close(self):
        self.file.close()

