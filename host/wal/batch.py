"""The writer's batch: a command's log records encoded straight into one buffer.

The records are format.py's (every layout from gatebook.wire.wal); this module
only writes them fast. Compiled (Cython, pure-Python mode: batch.pxd types it;
host/wal/loading.py picks the form), every field goes from its command or event
tuple into the buffer in C, by the widths of the layout tables below, and zlib's
crc32 is called from C on the buffer, once per record; run as Python, a message
is one struct pack and a record one `format.encode_record`. Both take the same
values and refuse the same ones (WireError): tests/test_wal_batch_compiled.py
holds the bytes equal, and equal to the table codecs'.
"""

import operator
import zlib
from struct import error as struct_error

from gatebook.wire import internal
from gatebook.wire.codec import WireError
from gatebook.wire.wal import (FORMAT_VERSION, ORIGIN_HEADER, ORIGIN_MAX_BYTES, OUTPUT_EVENTS,
                               RECORD_HEADER, RECORD_TRAILER, WAL)

from .format import (COMMAND_STRUCTS, HEADER_SIZE, INPUT, OUTPUT, TRAILER_SIZE,
                     encode_command_records, encode_record, struct_of)

__all__ = ["RecordBatch"]

# Whether this is the compiled build (Cython sets __file__ to the extension module).
_COMPILED = not __file__.endswith(".py")
_STRIDE = 32                # bytes per type code in a layout table
_WIDTHS = (1, 2, 4, 8)      # of the integers a C store writes


def _layout_table(protocol):
    """Per type code: its field count (0: no such message), its size, then each
    field's width; plain unsigned integers only, as the events and commands are."""
    table = bytearray(256 * _STRIDE)
    for message in protocol.messages:
        widths = bytes(field.width for field in message.fields)
        assert all(field.kind == "uint" and field.width in _WIDTHS
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
# The Python form's: one struct pack per event of the current version (format's layouts).
_PACK_EVENT = {message.code: struct_of(message, OUTPUT_EVENTS[FORMAT_VERSION].byte_order).pack
               for message in OUTPUT_EVENTS[FORMAT_VERSION].messages}
_crc32 = zlib.crc32
_index = operator.index
# The C stores below write little-endian; so do the tables.
assert WAL.byte_order == internal.COMMANDS.byte_order == internal.EVENTS.byte_order == "little"
# What a value that is not an unsigned integer of its width raises on the way in.
_NOT_A_FIELD = (TypeError, ValueError, OverflowError, IndexError, KeyError, struct_error)


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
        # (compiled: zlib's crc32 called from C on the buffer; batch.pxd declares it).
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

