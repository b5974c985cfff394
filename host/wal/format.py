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

import operator
import re
import struct
import zlib
from typing import NamedTuple

from gatebook.wire import internal
from gatebook.wire.codec import RecordCodec, WireError
from gatebook.wire.wal import (COMMIT_MARKER, FORMAT_VERSION, ORIGIN_HEADER, ORIGIN_MAX_BYTES,
                               OUTPUT_EVENTS, READABLE_VERSIONS, RECORD_HEADER, RECORD_TRAILER,
                               SEGMENT_HEADER, SEGMENT_MAGIC, WAL, RecordKind)

__all__ = [
    "INPUT", "OUTPUT", "COMMIT", "COMMIT_SIZE", "encode_commit", "Marker", "HEADER_SIZE",
    "TRAILER_SIZE", "SEGMENT_HEADER_SIZE", "MAX_PAYLOAD",
    "struct_of", "encode_record", "encode_output", "encode_command_records", "RecordBatch",
    "output_matches", "encode_segment_header", "decode_segment_header",
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


# -- the batch: records encoded straight into the buffer the writer takes ------
#
# Compiled (Cython, pure-Python mode: format.pxd types it; host/wal/loading.py
# picks the form), every field goes from its tuple into the buffer in C, by the
# widths of the tables below; run as Python, a message is one struct pack, as
# encode_command_records does it. Both take the same values and refuse the
# same ones (WireError); tests/test_wal_format_compiled.py holds the bytes equal.

# Whether this is the compiled build (Cython sets __file__ to the extension module).
_COMPILED = not __file__.endswith(".py")
_STRIDE = 32                # bytes per type code in a layout table


def _layout_table(protocol):
    """Per type code: its field count (0: no such message), its size, then each
    field's width; plain unsigned integers only, as the events and commands are."""
    table = bytearray(256 * _STRIDE)
    for message in protocol.messages:
        widths = bytes(field.width for field in message.fields)
        assert all(field.kind == "uint" and field.width in _STRUCT_CHAR
                   for field in message.fields), f"{message.name}: not plain integers"
        assert len(widths) <= _STRIDE - 2 and message.size < 256, message.name
        base = message.code * _STRIDE
        table[base:base + 2 + len(widths)] = bytes((len(widths), message.size)) + widths
    return bytes(table)


def _field_offsets(message, start=0):
    """{field name: (offset, width)} of a message's fields, from `start`."""
    offsets = {}
    for field in message.fields:
        offsets[field.name] = (start, field.width)
        start += field.width
    return offsets


_COMMAND_LAYOUT = _layout_table(internal.COMMANDS)
_EVENT_LAYOUT = _layout_table(OUTPUT_EVENTS[FORMAT_VERSION])
_HEADER_FIELDS = _field_offsets(RECORD_HEADER)
_AT_LENGTH, _W_LENGTH = _HEADER_FIELDS["length"]
_AT_SEQ, _W_SEQ = _HEADER_FIELDS["seq"]
_AT_TS, _W_TS = _HEADER_FIELDS["ts"]
_AT_KIND, _W_KIND = _HEADER_FIELDS["kind"]
_W_CRC = RECORD_TRAILER.field("crc").width
_ORIGIN_FIELDS = _field_offsets(ORIGIN_HEADER, 1)          # after its type byte
_AT_PROTOCOL, _W_PROTOCOL = _ORIGIN_FIELDS["protocol"]
_AT_ORIGIN_LENGTH, _W_ORIGIN_LENGTH = _ORIGIN_FIELDS["length"]
_ORIGIN_CODE = ORIGIN_HEADER.code
_ORIGIN = struct_of(ORIGIN_HEADER, WAL.byte_order)
_ORIGIN_SIZE = _ORIGIN.size
_HEADER_BYTES, _TRAILER_BYTES = HEADER_SIZE, TRAILER_SIZE
_index = operator.index
# The C stores below write little-endian; so do the tables.
assert WAL.byte_order == internal.COMMANDS.byte_order == internal.EVENTS.byte_order == "little"
# What a value that is not an unsigned integer of its width raises on the way in.
_NOT_A_FIELD = (TypeError, ValueError, OverflowError, IndexError, KeyError, struct.error)


def _store(out, at, number, width):
    """The unsigned integer `number` (known to fit) in `width` bytes, little-endian at out[at]."""
    while width:
        out[at] = number & 0xFF
        number >>= 8
        at += 1
        width -= 1


def _put(out, at, value, width):
    """`value`, an unsigned integer of `width` bytes, little-endian at out[at].

    What the compiled form runs; OverflowError or TypeError for anything else
    (it takes what struct takes: ints and objects with __index__).
    """
    if not isinstance(value, int):
        value = _index(value)
    number = value                      # compiled: OverflowError below 0 or from 2**64
    # (`>> 63 >> 1`: a C shift by 64 is undefined; as Python, it finds 65 bits and more.)
    if (number >> (8 * width) if width < 8 else number >> 63 >> 1) or number < 0:
        raise OverflowError(f"{value} does not fit {width} bytes")
    _store(out, at, number, width)
    return 0


def _put_header(out, at, length, seq, ts, kind):
    """RECORD_HEADER at out[at], field by field as the table names them."""
    _store(out, at + _AT_LENGTH, length, _W_LENGTH)
    _put(out, at + _AT_SEQ, seq, _W_SEQ)
    _put(out, at + _AT_TS, ts, _W_TS)
    _store(out, at + _AT_KIND, kind, _W_KIND)
    return 0


def _as_record(record, what):
    """A command or event as a tuple (a list is copied), WireError for anything else."""
    if type(record) is tuple:
        return record
    if isinstance(record, (tuple, list)):
        return tuple(record)
    raise WireError(f"{what}: {type(record).__name__} is not a record")


def _message_size(record, layout, what):
    """The encoded size of `record` (a tuple) by `layout`, after checking its type
    code and its length; WireError otherwise."""
    code = -1
    if len(record):
        code = record[0] if isinstance(record[0], int) else _index(record[0])
    if not 0 <= code < 256 or not layout[code * _STRIDE]:
        raise WireError(f"{what}: no message type for record {record!r:.60}")
    if len(record) != layout[code * _STRIDE] + 1:
        raise WireError(f"{what}: {len(record)} values, expected {layout[code * _STRIDE] + 1}")
    return layout[code * _STRIDE + 1]


def _put_message(out, at, record, layout):
    """`record` (checked by _message_size) at out[at]; the offset just past it."""
    code = record[0]
    out[at] = code
    at += 1
    base = code * _STRIDE
    for index in range(layout[base]):
        width = layout[base + 2 + index]
        _put(out, at, record[index + 1], width)
        at += width
    return at


class RecordBatch:
    """Log records encoded straight into one buffer that the writer takes whole.

    The matching thread adds each command in two steps around the engine:
    `add_input` (its INPUT record: the command and its origin; a command that
    does not fit is refused before the engine sees it) and `add_output` (the
    OUTPUT record of its events, which completes it). The writer's thread
    `take`s the completed commands as byte strings of at most `chunk`
    commands each; an INPUT still waiting for its events stays behind.
    Whoever shares a batch between threads guards it with one lock.

    Parameters
    ----------
    chunk : int
        Commands per item `take` returns (the writer looks at its sync timer
        between items).
    capacity : int
        Initial buffer bytes (it grows as needed and keeps its size).
    """

    def __init__(self, chunk=256, capacity=1 << 16):
        self.data = bytearray(capacity)
        self.view = memoryview(self.data)
        self.chunk = max(1, chunk)
        self.size = self.end = self.commands = 0
        self.first_seq = self.last_seq = None
        self._open_seq = self._open_ts = None
        self._chunk_start = self._chunk_commands = 0
        self._chunk_first = None
        self._marks = []

    @property
    def input_open(self):
        """Whether an INPUT record waits for its OUTPUT."""
        return self._open_seq is not None

    def add_input(self, seq, ts, command, origin=None):
        """Encode one command's INPUT record: `command` (a command tuple) and, from
        order entry, `origin`, (protocol id, the protocol's origin bytes).

        WireError, with nothing added, for a command or origin that does not fit.
        An INPUT still open (its OUTPUT never added) is replaced.
        """
        extra = 0
        self.end = self.size
        self._open_seq = None
        try:
            if origin is not None:
                protocol, data = origin
                if not isinstance(data, (bytes, bytearray, memoryview)):
                    raise TypeError(f"origin bytes are {type(data).__name__}")
                data = bytes(data)
                if not isinstance(protocol, int):
                    protocol = _index(protocol)
                if not 0 < protocol < 256 or len(data) > ORIGIN_MAX_BYTES:
                    raise WireError(f"origin of protocol {protocol}, {len(data)} bytes: does not "
                                    f"fit ORIGIN_HEADER (ids 1..255, at most {ORIGIN_MAX_BYTES} "
                                    f"bytes)")
                extra = _ORIGIN_SIZE + len(data)
            command = _as_record(command, "INPUT command")
            if _COMPILED:
                size = _message_size(command, _COMMAND_LAYOUT, "INPUT command")
                start = self.size
                self._reserve(start + _HEADER_BYTES + size + extra + _TRAILER_BYTES)
                out = self.data
                _put_header(out, start, size + extra, seq, ts, INPUT)
                at = _put_message(out, start + _HEADER_BYTES, command, _COMMAND_LAYOUT)
                if extra:
                    out[at] = _ORIGIN_CODE
                    _put(out, at + _AT_PROTOCOL, protocol, _W_PROTOCOL)
                    _put(out, at + _AT_ORIGIN_LENGTH, len(data), _W_ORIGIN_LENGTH)
                    at += _ORIGIN_SIZE
                    source = data
                    for index in range(len(data)):
                        out[at + index] = source[index]
                    at += len(data)
                self._close_record(start, at)
            else:
                payload = COMMAND_STRUCTS[command[0]].pack(*command)
                if extra:
                    payload += _ORIGIN.pack(_ORIGIN_CODE, protocol, len(data)) + data
                self._add_record(encode_record(seq, ts, INPUT, payload))
        except WireError:
            self.end = self.size
            raise
        except _NOT_A_FIELD as error:
            self.end = self.size
            raise WireError(f"INPUT record of seq {seq}: {error!r:.100}") from None
        self._open_seq, self._open_ts = seq, ts

    def add_output(self, events):
        """Encode the OUTPUT record of the open INPUT's `events`, completing its command.

        WireError for an event that does not fit its table (the INPUT stays open).
        """
        if self._open_seq is None:
            raise RuntimeError("add_output without an open INPUT record")
        seq, ts, start = self._open_seq, self._open_ts, self.end
        try:
            if _COMPILED:
                records = events if type(events) is list else list(events)
                for event in records:
                    if type(event) is not tuple:        # not the engine's: copy as tuples
                        records = [_as_record(each, "OUTPUT event") for each in records]
                        break
                payload = 0
                for event in records:
                    payload += _message_size(event, _EVENT_LAYOUT, "OUTPUT event")
                self._reserve(start + _HEADER_BYTES + payload + _TRAILER_BYTES)
                out = self.data
                _put_header(out, start, payload, seq, ts, OUTPUT)
                at = start + _HEADER_BYTES
                for event in records:
                    at = _put_message(out, at, event, _EVENT_LAYOUT)
                self._close_record(start, at)
            else:
                pack_event = _PACK_EVENT
                payload = b"".join([pack_event[event[0]](*event) for event in
                                    [_as_record(event, "OUTPUT event") for event in events]])
                self._add_record(encode_record(seq, ts, OUTPUT, payload))
        except WireError:
            self.end = start
            raise
        except _NOT_A_FIELD as error:
            self.end = start
            raise WireError(f"OUTPUT record of seq {seq}: event does not fit: "
                            f"{error!r:.100}") from None
        self._open_seq = None
        self._complete(seq, seq, 1)

    def drop_input(self):
        """Forget the open INPUT record (its command was never applied)."""
        self.end = self.size
        self._open_seq = None

    def add_encoded(self, seq, ts, command_bytes, events):
        """One command whose INPUT payload is already encoded (`encode_command_records`)."""
        if self._open_seq is not None:
            raise RuntimeError("add_encoded while an INPUT record is open")
        self._add_record(encode_command_records(seq, ts, command_bytes, events))
        self._complete(seq, seq, 1)

    def add_records(self, first_seq, last_seq, records):
        """Records already encoded (a follower copying its primary): one item of their own."""
        if self._open_seq is not None:
            raise RuntimeError("add_records while an INPUT record is open")
        self._seal()
        self._add_record(records)
        self._complete(first_seq, last_seq, last_seq - first_seq + 1)
        self._seal()

    def take(self):
        """[(first seq, last seq, commands, records)] of every completed command, oldest
        first, at most `chunk` commands an item; the batch keeps only an open INPUT."""
        self._seal()
        view = self.view
        items = [(first, last, count, bytes(view[start:stop]))
                 for start, stop, first, last, count in self._marks]
        tail = bytes(view[self.size:self.end])
        view[:len(tail)] = tail
        self.size, self.end = 0, len(tail)
        self.commands = self._chunk_start = self._chunk_commands = 0
        self.first_seq = self.last_seq = self._chunk_first = None
        self._marks = []
        return items

    def _reserve(self, need):
        # The buffer grows only between records, when no view of it is held elsewhere.
        if need > len(self.data):
            self.view.release()
            self.data.extend(bytes(max(need, 2 * len(self.data)) - len(self.data)))
            self.view = memoryview(self.data)
        return 0

    def _close_record(self, start, at):
        # The record data[start:at] gets its trailer: one CRC over header and payload
        # (compiled: zlib's crc32 called from C on the buffer; format.pxd declares it).
        out = self.data
        _store(out, at, _zlib_crc32(0, out + start, at - start) if _COMPILED else
               _crc32(self.view[start:at]), _W_CRC)
        self.end = at + _TRAILER_BYTES
        return 0

    def _add_record(self, record):
        # Whole record bytes (the Python form's, or encoded elsewhere) after the last.
        start = self.end
        self._reserve(start + len(record))
        self.view[start:start + len(record)] = record
        self.end = start + len(record)

    def _complete(self, first_seq, last_seq, count):
        # data[:end] holds whole commands only again.
        self.size = self.end
        self.commands += count
        if self.first_seq is None:
            self.first_seq = first_seq
        self.last_seq = last_seq
        if self._chunk_first is None:
            self._chunk_first = first_seq
        self._chunk_commands += count
        if self._chunk_commands >= self.chunk:
            self._seal()

    def _seal(self):
        # Close the current item at the last whole command.
        if self._chunk_commands:
            self._marks.append((self._chunk_start, self.size, self._chunk_first, self.last_seq,
                                self._chunk_commands))
        self._chunk_start, self._chunk_commands, self._chunk_first = self.size, 0, None


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
