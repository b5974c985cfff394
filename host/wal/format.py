"""Log records and segment headers as bytes.

Every layout comes from gatebook.wire.wal; this module only adds the CRC and
the rules a well-formed log obeys, so that the reader and the writer share
one definition of "valid":

- a record's kind is INPUT or OUTPUT and its CRC matches;
- INPUT sequence numbers rise by exactly one, from the segment header's
  `first_seq`; an OUTPUT record carries the sequence number of the INPUT
  before it (its events), and there is at most one per INPUT.
"""

import re
import struct
import zlib
from typing import NamedTuple

from gatebook.wire.codec import RecordCodec
from gatebook.wire.wal import (FORMAT_VERSION, RECORD_HEADER, RECORD_TRAILER, SEGMENT_HEADER,
                               SEGMENT_MAGIC, WAL, RecordKind)

__all__ = [
    "INPUT", "OUTPUT", "HEADER_SIZE", "TRAILER_SIZE", "SEGMENT_HEADER_SIZE", "MAX_PAYLOAD",
    "struct_of", "encode_record", "encode_segment_header", "decode_segment_header",
    "Record", "Damage", "SegmentScan", "find_valid_record",
]

INPUT, OUTPUT = int(RecordKind.INPUT), int(RecordKind.OUTPUT)

# A length above this is damage, not data: the largest real OUTPUT record (a
# mass cancel of every order of a busy symbol) is a few megabytes.
MAX_PAYLOAD = 64 << 20

_STRUCT_CHAR = {1: "B", 2: "H", 4: "I", 8: "Q"}


def struct_of(message, byte_order):
    """A struct.Struct for a fixed-width table message, for `unpack_from` on a buffer.

    The codec in gatebook.wire decodes whole byte strings; the log reader walks
    a mapped segment by offset, so it wants the struct itself. The layout is
    the table's, checked against the codec's size.
    """
    chars = ["<" if byte_order == "little" else ">"]
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
_KIND_BYTE = re.compile(re.escape(bytes((INPUT,))) + b"|" + re.escape(bytes((OUTPUT,))))


def encode_record(seq, ts, kind, payload):
    """One log record: header, payload, CRC."""
    head = _pack_header(len(payload), seq, ts, kind)
    return head + payload + _pack_trailer(_crc32(payload, _crc32(head)))


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
    if version != FORMAT_VERSION:
        raise ValueError(f"segment format version {version}; this build reads {FORMAT_VERSION}")
    return segment, first_seq


class Record(NamedTuple):
    seq:     int
    ts:      int
    kind:    int
    payload: bytes
    offset:  int           # of the record header within its segment file


class Damage(NamedTuple):
    offset: int            # where the first invalid record starts
    reason: str


class SegmentScan:
    """Iterate the valid records of one segment's bytes, stopping at the first invalid one.

    Parameters
    ----------
    data : bytes-like
        The whole segment file.
    next_seq : int
        The sequence number the first INPUT must carry (the header's `first_seq`).

    After iteration, `end` is the offset just past the last valid record,
    `damage` is None for a clean end of file or a `Damage` saying where and
    why reading stopped, and `next_seq` is the sequence number the next INPUT
    must carry.
    """

    def __init__(self, data, next_seq, start=SEGMENT_HEADER_SIZE):
        self.data = data
        self.next_seq = next_seq
        self.end = start
        self.damage = None
        self.output_seen = False    # whether the last INPUT already has its OUTPUT

    def __iter__(self):
        data, end_of_file = self.data, len(self.data)
        view = memoryview(data)
        offset = self.end
        expected = self.next_seq
        output_seen = self.output_seen
        while offset < end_of_file:
            if offset + HEADER_SIZE > end_of_file:
                self.damage = Damage(offset, f"torn record header ({end_of_file - offset} bytes)")
                break
            length, seq, ts, kind = _unpack_header(data, offset)
            if kind != INPUT and kind != OUTPUT:
                self.damage = Damage(offset, f"unknown record kind {kind:#04x}")
                break
            if length > MAX_PAYLOAD:
                self.damage = Damage(offset, f"implausible payload length {length}")
                break
            stop = offset + HEADER_SIZE + length
            if stop + TRAILER_SIZE > end_of_file:
                self.damage = Damage(offset, f"torn record: needs {stop + TRAILER_SIZE - offset} "
                                             f"bytes, {end_of_file - offset} left")
                break
            if _unpack_trailer(data, stop)[0] != _crc32(view[offset:stop]):
                self.damage = Damage(offset, "CRC mismatch")
                break
            if kind == INPUT:
                if seq != expected:
                    self.damage = Damage(offset, f"INPUT seq {seq}, expected {expected}")
                    break
                expected += 1
                output_seen = False
            elif seq != expected - 1 or output_seen:
                self.damage = Damage(offset, f"OUTPUT seq {seq} does not follow INPUT {expected - 1}")
                break
            else:
                output_seen = True
            yield Record(seq, ts, kind, data[offset + HEADER_SIZE:stop], offset)
            offset = stop + TRAILER_SIZE
            self.end, self.next_seq, self.output_seen = offset, expected, output_seen


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
