"""The vocabulary that wire tables are written in.

A message is a name, a one-byte type code and an ordered tuple of fields; a
field is a name, a width in bytes, a kind and (for enumerated fields) the enum
it carries. Byte order belongs to the whole protocol, not to a field, so it is
stated once per table module. Nothing here encodes anything: codecs, scapy
layers, gateware layouts and dissectors are all derived from these records.
"""

from dataclasses import dataclass
from enum import IntEnum

__all__ = ["UINT", "ALPHA", "PRICE4", "Field", "Message", "Protocol"]

# Field kinds. UINT is an unsigned big- or little-endian integer of any byte
# width (ITCH's 6-byte timestamp included); ALPHA is space-padded ASCII;
# PRICE4 is an unsigned integer count of 1/10000 currency units (ITCH "Price(4)").
UINT   = "uint"
ALPHA  = "alpha"
PRICE4 = "price4"


@dataclass(frozen=True)
class Field:
    name:  str
    width: int                    # bytes on the wire
    kind:  str = UINT
    enum:  "type[IntEnum] | None" = None
    doc:   str = ""

    @property
    def bits(self):
        return self.width * 8


@dataclass(frozen=True)
class Message:
    name:   str
    code:   "int | None"          # value of the leading type byte; None for a bare header
    fields: "tuple[Field, ...]"   # excluding the type byte itself
    doc:    str = ""

    @property
    def size(self):
        """Bytes on the wire, including the type byte."""
        return (self.code is not None) + sum(field.width for field in self.fields)

    @property
    def field_names(self):
        return tuple(field.name for field in self.fields)

    def field(self, name):
        for field in self.fields:
            if field.name == name:
                return field
        raise KeyError(f"{self.name} has no field {name!r}")


@dataclass(frozen=True)
class Protocol:
    name:       str
    byte_order: str               # "big" or "little", for every field of every message
    messages:   "tuple[Message, ...]"

    def __post_init__(self):
        codes = [message.code for message in self.messages if message.code is not None]
        if len(codes) != len(set(codes)):
            raise ValueError(f"{self.name}: duplicate message type codes")

    def by_code(self):
        return {message.code: message for message in self.messages}

    def by_name(self):
        return {message.name: message for message in self.messages}
