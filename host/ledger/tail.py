"""Follow a live log directory from a sequence number on, one command's events at a time.

The log's OUTPUT record of a command holds every event it caused, so the
executions are read straight from the log (no replay). `LogTail.poll` reads
what was appended since the last call, checks it with the log's own rule of
a valid record (`host/wal/format.check_records`), and returns the commands
whose OUTPUT record is in, each with its EXECUTED events and the CRC of its
INPUT record (the ledger keeps the last one to notice a different log later).

It never applies a command past a record it could not read. Bytes that fail
the check at the very end of the newest segment are a write in progress: it
waits for them. Anything else (garbage followed by valid records, a damaged
segment with a newer one after it, a missing or pruned segment, a file cut
short behind what was read) is a `problem`: a sentence saying where, counted
by kind in `refused`; the tail stays where it was and tries again on every
poll, so `gatebook recover` fixing the log lets it go on.
"""

import os
from collections import Counter, deque
from typing import NamedTuple

from gatebook.wire.codec import ProtocolCodec, WireError
from gatebook.wire.internal import EXECUTED
from gatebook.wire.positions import WAL
from gatebook.wire.wal import OUTPUT_EVENTS, RECORD_HEADER, WAL as WAL_PROTOCOL

from ..wal.format import (COMMIT, COMMIT_SIZE, HEADER_SIZE, INPUT, SEGMENT_HEADER_SIZE,
                          TRAILER_SIZE, check_records, decode_segment_header, find_valid_record,
                          segment_version, struct_of)
from ..wal.segments import list_segments, segment_name

__all__ = ["LogTail", "Command", "newest_seq"]

_EXECUTED = EXECUTED.code
_unpack_header = struct_of(RECORD_HEADER, WAL_PROTOCOL.byte_order).unpack_from
_SEQ, _TS, _KIND = WAL.RECORD_HEADER.seq, WAL.RECORD_HEADER.ts, WAL.RECORD_HEADER.kind
_COMMIT_RECORD = HEADER_SIZE + COMMIT_SIZE + TRAILER_SIZE
# Per segment format version: each event type's codec, to step over the events
# the ledger does not need without decoding them.
_CODECS = {version: ProtocolCodec(events).by_code for version, events in OUTPUT_EVENTS.items()}


def _executions(payload, version):
    """The EXECUTED event tuples in an OUTPUT payload (events back to back,
    self-delimiting by type byte); WireError if the payload does not parse whole."""
    codecs = _CODECS[version]
    out = []
    position, end_of_payload = 0, len(payload)
    while position < end_of_payload:
        code = payload[position]
        codec = codecs.get(code)
        if codec is None:
            raise WireError(f"unknown event type {code:#04x} at offset {position}")
        end = position + codec.size
        if end > end_of_payload:
            raise WireError(f"{codec.message.name} truncated at offset {position}")
        if code == _EXECUTED:
            out.append(codec.decode(payload[position:end]))
        position = end
    return out
# Read a segment at most this much at a time (about 5,000 commands), so a poll
# checks little more than it returns however far behind the tail is (a record
# longer than this is read whole).
CHUNK_BYTES = 1 << 20


class Command(NamedTuple):
    seq:        int
    ts:         int
    input_crc:  int             # CRC of its INPUT record, as the log holds it
    executions: list            # its EXECUTED event tuples, in order


def newest_seq(directory):
    """The seq the newest segment's last COMMIT record closes, or None (no log yet, or
    it does not end with one). Cheap: one short read at the end of one file."""
    try:
        segments = list_segments(directory, allow_gaps=True)
        if not segments:
            return None
        with open(segments[-1][1], "rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size < SEGMENT_HEADER_SIZE + _COMMIT_RECORD:
                return None
            file.seek(size - _COMMIT_RECORD)
            data = file.read(_COMMIT_RECORD)
    except OSError:
        return None
    header = _unpack_header(data, 0)
    if header[_KIND] != COMMIT:
        return None
    scan = check_records(data, header[_SEQ] + 1, 0, True)
    return scan.marker.seq if scan.damage is None and scan.marker is not None else None


class LogTail:
    """Commands from `from_seq` on, as their OUTPUT records reach `directory`.

    Attributes
    ----------
    next_seq : int
        The first seq not yet returned.
    produced_seq : int
        The newest INPUT seq seen in the log (what the exchange has produced).
    problem : str or None
        Why the tail cannot go on, or None.
    refused : Counter
        Problems met, by kind (each counted once until it changes).
    """

    def __init__(self, directory, from_seq=1):
        self.directory = directory
        self.next_seq = from_seq
        self.produced_seq = from_seq - 1
        self.problem = None
        self.refused = Counter()
        self._last_problem = None       # counted once, until another problem replaces it
        self._chunk = CHUNK_BYTES
        self._ready = deque()           # complete commands read, not yet returned
        self._segment = None            # (number, path, version) being read
        self._offset = 0                # in it, just past the last complete command read
        self._expected = from_seq       # the seq the INPUT at _offset must carry
        self._output_seen = True        # the INPUT before _offset has its OUTPUT

    def _fail(self, kind, text):
        if self._last_problem != text:
            self.refused[kind] += 1
        self.problem = self._last_problem = text

    def poll(self, limit=10_000):
        """Up to `limit` newly complete Commands (maybe none); sets `problem` if stuck."""
        self.problem = None
        while len(self._ready) < limit and self._read_more():
            pass
        out = [self._ready.popleft() for _ in range(min(limit, len(self._ready)))]
        if out:
            self.next_seq = out[-1].seq + 1
        return out

    def probe_end(self):
        """Raise `produced_seq` to the log's newest COMMIT record (`newest_seq`), so the lag
        is known before the tail gets there; the newest seq known."""
        self.produced_seq = max(self.produced_seq, newest_seq(self.directory) or 0)
        return self.produced_seq

    def _read_more(self):
        """Read the next chunk of the log into `_ready`; whether to read again at once."""
        if self._segment is None and not self._enter():
            return False
        number, path, version = self._segment
        following = os.path.join(self.directory, segment_name(number + 1))
        # Looked at before reading: once the next segment exists, every command
        # record of this one is written (the writer rolls between batches).
        rolled = os.path.exists(following)
        try:
            with open(path, "rb") as file:
                size = os.fstat(file.fileno()).st_size
                file.seek(self._offset)
                data = file.read(min(self._chunk, max(0, size - self._offset)))
        except OSError as error:
            self._fail("segment_unreadable", f"{os.path.basename(path)}: {error.strerror}")
            return False
        if size < self._offset:
            self._fail("log_cut", f"{os.path.basename(path)} is now {size} bytes, shorter "
                                  f"than the {self._offset} already read: the log was cut "
                                  "behind the ledger")
            return False
        whole = self._offset + len(data) == size
        moved = self._take(data, version, path, whole, rolled)
        if moved is None:
            return False
        if not whole:
            # Not moved: a record longer than the chunk; read more at once next time.
            self._chunk = CHUNK_BYTES if moved else self._chunk * 2
            return True
        if not rolled:
            if not moved:
                # The writer may have rolled (even twice) since `rolled` was looked at:
                # only a later segment with the next one absent is a missing segment.
                listed = {later for later, _ in list_segments(self.directory, allow_gaps=True)}
                if number + 1 not in listed and any(later > number + 1 for later in listed):
                    self._fail("missing_segment", f"{segment_name(number + 1)} is missing (a "
                                                  "later segment exists)")
            return False                # the end of the log, for now
        if self._offset != size:
            self._fail("damaged_log", f"{os.path.basename(path)}: records end at offset "
                                      f"{self._offset} of {size} and the log goes on in "
                                      f"{segment_name(number + 1)}")
            return False
        self._segment = None            # this segment is done: go on in the next
        return True

    def _enter(self):
        """Open the segment holding `next_seq`; False (maybe with a problem) if none yet."""
        try:
            segments = list_segments(self.directory, allow_gaps=True)
        except OSError as error:
            self._fail("log_unreadable", f"{self.directory}: {error.strerror}")
            return False
        chosen = None
        for index, (number, path) in enumerate(segments):
            try:
                with open(path, "rb") as file:
                    header = file.read(SEGMENT_HEADER_SIZE)
                _, first_seq = decode_segment_header(header)
            except (OSError, ValueError) as error:
                if index == len(segments) - 1 and chosen is not None:
                    break               # the newest segment is being created
                self._fail("damaged_log", f"{os.path.basename(path)}: {error}")
                return False
            if first_seq > self._expected:
                if chosen is None:
                    self._fail("log_pruned",
                               f"the log starts at seq {first_seq} ({os.path.basename(path)}); "
                               f"the ledger needs seq {self._expected} on: its segments were "
                               "pruned or never existed")
                    return False
                if chosen[0] != number - 1:
                    self._fail("missing_segment", f"{segment_name(chosen[0] + 1)} is missing")
                    return False
                break
            chosen = (number, path, first_seq, segment_version(header))
        if chosen is None:
            return False                # an empty log directory: nothing produced yet
        number, path, first_seq, version = chosen
        self._segment = (number, path, version)
        self._offset = SEGMENT_HEADER_SIZE
        self._expected = first_seq
        self._output_seen = True
        return True

    def _take(self, data, version, path, whole, rolled):
        """Queue the complete commands in `data` (the segment's bytes from `_offset`) on
        `_ready`; whether the offset moved, or None when a problem stops the tail."""
        found = []
        scan = check_records(data, self._expected, 0, self._output_seen, found)
        consumed, expected, output_seen = 0, self._expected, self._output_seen
        pending = None                  # (seq, ts, crc) of an INPUT waiting for its OUTPUT
        positions = iter(found)
        for start, stop in zip(positions, positions):
            header = _unpack_header(data, start)
            seq, kind = header[_SEQ], header[_KIND]
            if kind == INPUT:
                crc = int.from_bytes(data[stop - TRAILER_SIZE:stop], "little")
                pending = (seq, header[_TS], crc)
                self.produced_seq = max(self.produced_seq, seq)
                continue
            seq, ts, crc = pending
            pending = None
            if seq >= self.next_seq:
                payload = bytes(data[start + HEADER_SIZE:stop - TRAILER_SIZE])
                try:
                    executions = _executions(payload, version)
                except (WireError, KeyError) as error:
                    self._fail("undecodable_output",
                               f"{os.path.basename(path)}: the OUTPUT record of seq {seq} at "
                               f"offset {self._offset + start} does not decode ({error})")
                    self._advance(consumed, expected, output_seen)
                    return None
                self._ready.append(Command(seq, ts, crc, executions))
            consumed, expected, output_seen = stop, seq + 1, True
        if pending is None:
            # Everything valid was taken: step over the COMMIT records after it too.
            consumed, expected, output_seen = scan.end, scan.next_seq, scan.output_seen
        self._advance(consumed, expected, output_seen)
        if scan.damage is not None and (find_valid_record(data, scan.damage.offset) is not None
                                        or (whole and rolled)):
            self._fail("damaged_log", f"{os.path.basename(path)}: {scan.damage.reason} at "
                                      f"offset {self._offset - consumed + scan.damage.offset}: "
                                      "the log is damaged before its end (run `gatebook "
                                      "recover`)")
            return None
        return bool(consumed)

    def _advance(self, consumed, expected, output_seen):
        if consumed:
            self._offset += consumed
            self._expected = expected
            self._output_seen = output_seen
