"""Log records and segment headers as bytes.

Every layout comes from gatebook.wire.wal; this module only adds the CRC and
the rules a well-formed log obeys, so that the reader and the writer share
one definition of "valid":

- a record's kind is INPUT, OUTPUT or COMMIT and its CRC matches;
- INPUT sequence numbers rise by exactly one, from the segment header's
  `first_seq`; an OUTPUT record carries the sequence number of the INPUT
  before it (its events), and there is at most one per INPUT;
- a COMMIT record (version 3: the last record of every write, `encode_commit`)
  carries the sequence number of the last INPUT before it and a
  COMMIT_MARKER payload. A clean log ends with one; the writer, replication
  and replay skip them.

An INPUT payload is one command and, for a command from order entry, its
origin (origins.py; `split_input`): both under the record's CRC.
"""

import re
import struct
import zlib
from typing import NamedTuple

from gatebook.wire import internal
from gatebook.wire.codec import RecordCodec, WireError
from gatebook.wire.wal import (COMMIT_MARKER, FORMAT_VERSION, OUTPUT_EVENTS, READABLE_VERSIONS,
                               RECORD_HEADER, RECORD_TRAILER, SEGMENT_HEADER, SEGMENT_MAGIC, WAL,
                               RecordKind)

__all__ = [
    "INPUT", "OUTPUT", "COMMIT", "COMMIT_SIZE", "encode_commit", "Marker", "HEADER_SIZE",
    "TRAILER_SIZE", "SEGMENT_HEADER_SIZE", "MAX_PAYLOAD",
    "struct_of", "encode_record", "encode_output", "encode_command_records", "output_matches",
    "encode_segment_header", "decode_segment_header",
    "segment_version", "COMMAND_STRUCTS", "split_input",
    "Record", "Damage", "ScanEnd", "check_records", "SegmentScan", "find_valid_record",
]

INPUT, OUTPUT, COMMIT = int(RecordKind.INPUT), int(RecordKind.OUTPUT), int(RecordKind.COMMIT)

# A length above this is damage, not data: the largest real OUTPUT record (a
# mass cancel of every order of a busy symbol) is a few megabytes.
MAX_PAYLOAD = 64 << 20

_STRUCT_CHAR = {1: "B", 2: "H", 4: "I", 8: "Q"}


def struct_of(message, byte_order):
    """A struct.Struct for a fixed-width table message, for `unpack_from` on a buffer.

    The codec in gatebook.wire decodes whole byte strings; the log reader walks
    a segment by offset, so it wants the struct itself. A message with a type
    code gets its type byte first, as on the wire. The layout is the table's,
    checked against the codec's size.
    """
    chars = ["<" if byte_order == "little" else ">"]
    if message.code is not None:
        chars.append("B")           # the type byte, as the codec writes it
    for field in message.fields:
        chars.append(f"{field.width}s" if field.kind != "uint" else _STRUCT_CHAR[field.width])
    packer = struct.Struct("".join(chars))
    assert packer.size == RecordCodec(message, byte_order).size, message.name
    return packer


_HEADER = struct_of(RECORD_HEADER, WAL.byte_order)
_TRAILER = struct_of(RECORD_TRAILER, WAL.byte_order)
_SEGMENT_CODEC = RecordCodec(SEGMENT_HEADER, WAL.byte_order)
HEADER_SIZE = _HEADER.size
TRAILER_SIZE = _TRAILER.size
SEGMENT_HEADER_SIZE = _SEGMENT_CODEC.size
_pack_header = _HEADER.pack
_pack_trailer = _TRAILER.pack
_unpack_header = _HEADER.unpack_from
_unpack_trailer = _TRAILER.unpack_from
_crc32 = zlib.crc32
# CRC-32 of a message followed by its own CRC (little-endian) is this constant.
_RESIDUE = _crc32(b"\0" + _pack_trailer(_crc32(b"\0")))
assert _RESIDUE == 0x2144DF1C
_KIND_BYTE = re.compile(b"|".join(re.escape(bytes((kind,))) for kind in (INPUT, OUTPUT, COMMIT)))
_KINDS = frozenset((INPUT, OUTPUT, COMMIT))
_COMMIT = struct_of(COMMIT_MARKER, WAL.byte_order)
COMMIT_SIZE = _COMMIT.size


class Marker(NamedTuple):
    """The COMMIT record a segment's valid records end with, if they end with one."""
    seq:        int             # the last INPUT seq before it
    synced_seq: int             # fdatasync'ed through this seq before its write
    closed:     bool            # the log goes on in the next segment


def encode_commit(seq, synced_seq, closed=False):
    """A COMMIT record: the last record of a write (seq: the last INPUT seq written)."""
    return encode_record(seq, 0, COMMIT, _COMMIT.pack(synced_seq, int(closed)))


def encode_record(seq, ts, kind, payload):
    """One log record: header, payload, CRC."""
    head = _pack_header(len(payload), seq, ts, kind)
    return head + payload + _pack_trailer(_crc32(payload, _crc32(head)))


def _event_packers(events):
    """{type byte: struct pack} of every event an OUTPUT record of one version holds.

    An event tuple is its type byte, then its fields in table order, all
    integers of 1, 2, 4 or 8 bytes, so `pack(*event)` is the whole encoding
    (the bytes ProtocolCodec writes, without its per-event dispatch: the log
    encodes two or three events per command on the matching thread).
    """
    packers = {}
    for message in events.messages:
        assert all(field.kind == "uint" and field.width in _STRUCT_CHAR
                   for field in message.fields), f"{message.name}: not plain integers"
        packers[message.code] = struct_of(message, events.byte_order).pack
    return packers


_OUTPUT_PACKERS = {version: _event_packers(events) for version, events in OUTPUT_EVENTS.items()}
_PACK_EVENT = _OUTPUT_PACKERS[FORMAT_VERSION]


def encode_output(events, version=FORMAT_VERSION):
    """An OUTPUT record's payload: `events` as a segment of `version` holds them
    (before version 3, a LEVEL's total is 32 bits; WireError if it does not fit)."""
    packers = _OUTPUT_PACKERS[version]
    try:
        return b"".join([packers[event[0]](*event) for event in events])
    except (KeyError, IndexError, TypeError, struct.error) as error:
        raise WireError(f"OUTPUT record (version {version}): event does not fit: "
                        f"{error!r:.80}") from None


def encode_command_records(seq, ts, command_bytes, events):
    """One command's INPUT and OUTPUT records, as the writer appends them.

    Parameters
    ----------
    seq, ts : int
        The command's sequence number and timestamp (both records carry them).
    command_bytes : bytes
        The INPUT payload: the encoded command and, from order entry, its origin.
    events : sequence of tuple
        The command's events (the current version's OUTPUT payload).

    Returns
    -------
    bytes
        The same bytes as `encode_record(seq, ts, INPUT, command_bytes) +
        encode_record(seq, ts, OUTPUT, encode_output(events))`, made with one
        call per event and no intermediate records. Raises WireError for an
        event that does not fit its table.
    """
    pack_event = _PACK_EVENT
    try:
        payload = b"".join([pack_event[event[0]](*event) for event in events])
    except (KeyError, IndexError, TypeError, struct.error) as error:
        raise WireError(f"OUTPUT record of seq {seq}: event does not fit: {error!r:.80}") from None
    # One CRC call per record over header and payload joined (two calls each
    # cost more than the copy: 3.6 % of the encoding's instructions).
    crc32, pack_header, pack_trailer = _crc32, _pack_header, _pack_trailer
    input_record = pack_header(len(command_bytes), seq, ts, INPUT) + command_bytes
    output_record = pack_header(len(payload), seq, ts, OUTPUT) + payload
    return b"".join((input_record, pack_trailer(crc32(input_record)),
                     output_record, pack_trailer(crc32(output_record))))


def output_matches(payload, events):
    """Whether `payload` is an OUTPUT record's payload for `events` as some
    readable segment version writes them (a replication stream does not say
    which version the primary's segment is)."""
    for version in sorted(OUTPUT_EVENTS, reverse=True):
        try:
            if payload == encode_output(events, version):
                return True
        except WireError:
            pass
    return False


def encode_segment_header(segment, first_seq):
    fields = (SEGMENT_MAGIC, FORMAT_VERSION, segment, first_seq)
    body = _SEGMENT_CODEC.encode(fields + (0,))[:-4]
    return _SEGMENT_CODEC.encode(fields + (_crc32(body),))


def decode_segment_header(data):
    """(segment, first_seq) from a segment's first bytes, or raise ValueError saying why."""
    if len(data) < SEGMENT_HEADER_SIZE:
        raise ValueError(f"segment header torn: {len(data)} of {SEGMENT_HEADER_SIZE} bytes")
    raw = bytes(data[:SEGMENT_HEADER_SIZE])
    try:
        magic, version, segment, first_seq, crc = _SEGMENT_CODEC.decode(raw)
    except ValueError as error:
        raise ValueError(f"segment header unreadable: {error}") from None
    if magic != SEGMENT_MAGIC:
        raise ValueError(f"not a Gatebook log segment (magic {magic!r})")
    if crc != _crc32(raw[:-4]):
        raise ValueError("segment header CRC mismatch")
    if version not in READABLE_VERSIONS:
        raise ValueError(f"segment format version {version}; this build reads versions "
                         f"{', '.join(map(str, READABLE_VERSIONS))}")
    return segment, first_seq


def segment_version(data):
    """The format version in a segment header already checked by decode_segment_header."""
    return _SEGMENT_CODEC.decode(bytes(data[:SEGMENT_HEADER_SIZE]))[1]


# -- INPUT payloads: a command, then its origin if it came from order entry ----

# Type byte -> that command's struct (internal.COMMANDS, little-endian).
COMMAND_STRUCTS = {message.code: struct_of(message, internal.COMMANDS.byte_order)
                   for message in internal.COMMANDS.messages}


def split_input(view, start, stop):
    """(command tuple, offset where its origin starts or None) of the INPUT payload
    view[start:stop]: a command, then (from order entry) its origin bytes, which
    `origins.split_origin` reads.

    Raises KeyError, IndexError, struct.error or ValueError unless it starts
    with one whole command.
    """
    layout = COMMAND_STRUCTS[view[start]]
    end = start + layout.size
    if end > stop:
        raise ValueError("command truncated")
    return layout.unpack_from(view, start), (end if end < stop else None)


class Record(NamedTuple):
    seq:     int
    ts:      int
    kind:    int
    payload: bytes
    offset:  int           # of the record header within its segment file


class Damage(NamedTuple):
    offset: int            # where the first invalid record starts
    reason: str


class ScanEnd(NamedTuple):
    end:         int            # offset just past the last valid record
    next_seq:    int            # the sequence number the next INPUT must carry
    output_seen: bool           # whether the last INPUT already has its OUTPUT
    outputs:     int            # valid OUTPUT records seen
    damage:      object         # None for a clean end of data, else a Damage
    marker:      object = None  # the Marker the valid records end with, or None


def check_records(data, next_seq, start=SEGMENT_HEADER_SIZE, output_seen=False, found=None,
                  keep_outputs=True):
    """Check every record of `data` from `start` on, stopping at the first invalid one.

    The one definition of a valid record (the reader, recovery and the
    follower all use it). It walks the headers in a tight loop and creates
    no per-record objects: the CRC is checked over a memoryview slice of the
    whole record including its trailer, which for a correct CRC-32 always
    leaves the same residue, so the trailer needs no unpacking.

    Parameters
    ----------
    data : bytes-like
        A segment file, or (start=0) records as a follower receives them.
    next_seq : int
        The sequence number the first INPUT must carry.
    output_seen : bool
        Whether the INPUT before `start` already has its OUTPUT record.
    found : list or None
        If given, receives two ints per valid INPUT and OUTPUT record, its
        offset and the offset just past it: every such record's, or INPUT
        records' only when `keep_outputs` is false (recovery's replay needs
        nothing else). COMMIT records are checked but never listed.

    Returns
    -------
    ScanEnd
    """
    view = memoryview(data)
    end_of_file = len(view)
    offset = start
    expected = next_seq
    unpack_header, crc32, residue, kinds = _unpack_header, _crc32, _RESIDUE, _KINDS
    keep = found.append if found is not None else None
    keep_output = keep if keep_outputs else None
    outputs = 0
    last_header = end_of_file - HEADER_SIZE
    damage = None
    marker_end = -1                 # just past the last COMMIT record
    while offset < end_of_file:
        if offset > last_header:
            damage = Damage(offset, f"torn record header ({end_of_file - offset} bytes)")
            break
        length, seq, _, kind = unpack_header(view, offset)
        stop = offset + HEADER_SIZE + length + TRAILER_SIZE
        if (stop > end_of_file or length > MAX_PAYLOAD or crc32(view[offset:stop]) != residue
                or kind not in kinds):
            damage = _why_invalid(view, offset, kind, length, stop)
            break
        if kind == INPUT:
            if seq != expected:
                damage = Damage(offset, f"INPUT seq {seq}, expected {expected}")
                break
            expected += 1
            output_seen = False
            if keep is not None:
                keep(offset)
                keep(stop)
        elif kind == OUTPUT:
            if seq != expected - 1 or output_seen:
                damage = Damage(offset, f"OUTPUT seq {seq} does not follow INPUT {expected - 1}")
                break
            output_seen = True
            outputs += 1
            if keep_output is not None:
                keep_output(offset)
                keep_output(stop)
        elif seq != expected - 1 or length != COMMIT_SIZE:
            damage = Damage(offset, f"COMMIT record seq {seq} ({length} bytes) does not "
                                    f"close INPUT {expected - 1}")
            break
        else:
            marker_end = stop
        offset = stop
    marker = None
    if marker_end == offset:
        start = offset - TRAILER_SIZE - COMMIT_SIZE
        synced_seq, closed = _COMMIT.unpack_from(view, start)
        marker = Marker(expected - 1, synced_seq, bool(closed))
    return ScanEnd(offset, expected, output_seen, outputs, damage, marker)


def _why_invalid(view, offset, kind, length, stop):
    """The reason a record failed the fast check, in the order a person would look."""
    if kind not in _KINDS:
        return Damage(offset, f"unknown record kind {kind:#04x}")
    if length > MAX_PAYLOAD:
        return Damage(offset, f"implausible payload length {length}")
    if stop > len(view):
        return Damage(offset, f"torn record: needs {stop - offset} bytes, {len(view) - offset} left")
    return Damage(offset, "CRC mismatch")


class SegmentScan:
    """Iterate the valid INPUT and OUTPUT records of one segment's bytes, stopping at the
    first invalid record (COMMIT records are checked, not yielded).

    Parameters
    ----------
    data : bytes-like
        The whole segment file.
    next_seq : int
        The sequence number the first INPUT must carry (the header's `first_seq`).

    After iteration, `end` is the offset just past the last valid record,
    `damage` is None for a clean end of file or a `Damage` saying where and
    why reading stopped, and `next_seq` is the sequence number the next INPUT
    must carry. The records are checked by `check_records` before the first
    one is yielded.
    """

    def __init__(self, data, next_seq, start=SEGMENT_HEADER_SIZE):
        self.data = data
        self.next_seq = next_seq
        self.end = start
        self.damage = None
        self.output_seen = False    # whether the last INPUT already has its OUTPUT
        self.marker = None          # the Marker the valid records end with, if any

    def __iter__(self):
        found = []
        self.end, self.next_seq, self.output_seen, _, self.damage, self.marker = check_records(
            self.data, self.next_seq, self.end, self.output_seen, found)
        data = self.data
        positions = iter(found)
        for offset, stop in zip(positions, positions):
            _, seq, ts, kind = _unpack_header(data, offset)
            yield Record(seq, ts, kind, bytes(data[offset + HEADER_SIZE:stop - TRAILER_SIZE]),
                         offset)


def find_valid_record(data, start):
    """Offset of the first CRC-valid record at or after `start`, or None.

    Used only after damage, to tell a torn tail (nothing valid follows) from a
    damaged record in the middle of the log (valid records follow it).
    """
    end_of_file = len(data)
    view = memoryview(data)
    # Only offsets whose kind byte reads INPUT or OUTPUT can start a record;
    # a regular expression finds those in C, so a zero-filled tail costs nothing.
    for match in _KIND_BYTE.finditer(data, start + HEADER_SIZE - 1):
        offset = match.start() - (HEADER_SIZE - 1)
        length, seq, _, _ = _unpack_header(view, offset)
        stop = offset + HEADER_SIZE + length
        if seq == 0 or stop + TRAILER_SIZE > end_of_file:
            continue
        if _unpack_trailer(view, stop)[0] == _crc32(view[offset:stop]):
            return offset
    return None
