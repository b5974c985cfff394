"""Byte codecs derived from the wire tables.

A record in Python is a tuple: the type code first (for messages that have
one), then every field in table order. Integers stay integers, ALPHA fields
become `str` without their space padding. The engine builds event tuples in
exactly this shape, so encoding an event is one `struct.pack`.

Byte order is applied here and nowhere else (STYLE principle 2).
"""

import struct

from .layout import ALPHA

__all__ = ["RecordCodec", "ProtocolCodec", "WireError"]

_STRUCT_CHAR = {1: "B", 2: "H", 4: "I", 8: "Q"}


class WireError(ValueError):
    """A byte string that is not a valid record; the message says why."""


class RecordCodec:
    """Packs and unpacks one message type.

    Widths without a native struct code (ITCH's 6-byte timestamp) are carried
    as a 2-byte and a 4-byte part and joined on decode.
    """

    def __init__(self, message, byte_order):
        self.message = message
        self.size = message.size
        self._has_code = message.code is not None
        chars = ["<" if byte_order == "little" else ">"]
        if self._has_code:
            chars.append("B")
        self._split = []        # indexes (in field order) of split integer fields
        self._alpha = []        # (index, width) of ALPHA fields
        little = byte_order == "little"
        for index, field in enumerate(message.fields):
            if field.kind == ALPHA:
                chars.append(f"{field.width}s")
                self._alpha.append((index, field.width))
            elif field.width in _STRUCT_CHAR:
                chars.append(_STRUCT_CHAR[field.width])
            elif field.width == 6:
                chars.append("IH" if little else "HI")
                self._split.append(index)
            else:
                raise ValueError(f"{message.name}.{field.name}: no codec for width {field.width}")
        self._struct = struct.Struct("".join(chars))
        self._little = little
        assert self._struct.size == self.size, (message.name, self._struct.size, self.size)
        self._plain = not self._split and not self._alpha
        self._code = message.code
        self._arity = self._has_code + len(message.fields)

    def encode(self, record):
        """Bytes for `record` (a tuple in table order, type code first if any).

        Raises `WireError` for a record of the wrong length or type code, an
        integer out of range, or an ALPHA value that is not ASCII text.
        """
        try:
            if self._has_code and record[0] != self._code:
                raise WireError(f"{self.message.name}: type code {record[0]!r}, "
                                f"expected {self._code:#04x}")
            if self._plain:
                return self._struct.pack(*record)
            if len(record) != self._arity:
                raise WireError(f"{self.message.name}: {len(record)} values, "
                                f"expected {self._arity}")
            return self._struct.pack(*self._flatten(record))
        except (struct.error, TypeError, IndexError) as error:
            raise WireError(f"{self.message.name}: {error}") from None

    def _flatten(self, record):
        """`record` as the values of the struct: ALPHA padded, split fields split."""
        values = list(record[1:] if self._has_code else record)
        for index, width in self._alpha:
            text = values[index]
            name = self.message.fields[index].name
            # Never bytes(value) on anything else: bytes(1) is one NUL, so an
            # integer (Side.SELL) would go out as "\0" instead of failing.
            if isinstance(text, str) and text.isascii():
                raw = text.encode("ascii")
            elif isinstance(text, (bytes, bytearray)) and text.isascii():
                raw = bytes(text)
            else:
                raise WireError(f"{self.message.name}.{name}: {text!r} is not ASCII text")
            if len(raw) > width:
                raise WireError(f"{self.message.name}.{name}: "
                                f"{text!r} is longer than {width} bytes")
            values[index] = raw.ljust(width, b" ")
        flat = [self._code] if self._has_code else []
        for index, value in enumerate(values):
            if index in self._split:
                if not isinstance(value, int) or not 0 <= value < 1 << 48:
                    raise WireError(f"{self.message.name}.{self.message.fields[index].name}: "
                                    f"{value!r} does not fit 48 bits")
                high, low = value >> 32, value & 0xFFFF_FFFF
                flat.extend((low, high) if self._little else (high, low))
            else:
                flat.append(value)
        return flat

    def decode(self, data):
        """The record tuple in `data`, which must be exactly one message long."""
        if len(data) != self.size:
            raise WireError(f"{self.message.name}: {len(data)} bytes, expected {self.size}")
        raw = self._struct.unpack(data)
        if self._has_code and raw[0] != self.message.code:
            raise WireError(f"{self.message.name}: type byte {raw[0]:#04x}, "
                            f"expected {self.message.code:#04x}")
        if self._plain:
            return raw
        out = [raw[0]] if self._has_code else []
        position = 1 if self._has_code else 0
        alpha = dict(self._alpha)
        for index in range(len(self.message.fields)):
            if index in self._split:
                first, second = raw[position], raw[position + 1]
                out.append((second << 32 | first) if self._little else (first << 32 | second))
                position += 2
            else:
                value = raw[position]
                if index in alpha:
                    try:
                        value = value.decode("ascii").rstrip(" ")
                    except UnicodeDecodeError:
                        raise WireError(f"{self.message.name}.{self.message.fields[index].name}: "
                                        f"not ASCII: {value!r}") from None
                out.append(value)
                position += 1
        return tuple(out)


class ProtocolCodec:
    """Codecs for every message of a protocol, chosen by the leading type byte."""

    def __init__(self, protocol):
        self.protocol = protocol
        self.by_code = {message.code: RecordCodec(message, protocol.byte_order)
                        for message in protocol.messages if message.code is not None}
        self.by_name = {codec.message.name: codec for codec in self.by_code.values()}

    def encode(self, record):
        try:
            codec = self.by_code[record[0]]
        except (KeyError, IndexError, TypeError):
            raise WireError(f"{self.protocol.name}: no message type for record "
                            f"{record!r:.60}") from None
        return codec.encode(record)

    def decode(self, data):
        if not data:
            raise WireError(f"{self.protocol.name}: empty message")
        codec = self.by_code.get(data[0])
        if codec is None:
            raise WireError(f"{self.protocol.name}: unknown message type {data[0]:#04x}")
        return codec.decode(bytes(data))

    def decode_stream(self, data):
        """Split back-to-back messages (no length prefixes) and decode each."""
        position = 0
        view = memoryview(data)
        while position < len(view):
            codec = self.by_code.get(view[position])
            if codec is None:
                raise WireError(f"{self.protocol.name}: unknown message type "
                                f"{view[position]:#04x} at offset {position}")
            end = position + codec.size
            if end > len(view):
                raise WireError(f"{self.protocol.name}: {codec.message.name} truncated "
                                f"at offset {position}")
            yield codec.decode(view[position:end].tobytes())
            position = end
