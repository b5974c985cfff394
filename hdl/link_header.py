"""What the link endpoint's receiver and transmitter share: the byte stream, where the
header fields sit in a frame's first bytes, and each record type's size.

# Ref: IEEE Std 802.3-2018 clause 3.2 (MAC frame: destination, source, length/type;
#      minFrameSize 64 bytes with the 4-byte FCS, clause 4.4.2);
#      gatebook/wire/link_frame.py (the link's frame header), docs/hardware.md.

Every constant comes from a table (STYLE principle 1): the Ethernet header is
`gatebook.wire.ethernet`, the link's frame header is `link_frame.FRAME_HEADER`, and the
record sizes come from the messages the lane's union layouts hold. The frame's
first bytes are held in a register as they arrive on the wire (byte k at bits
8k..8k+7); `HeaderMap.field` and `HeaderMap.wire` turn a field into its bytes
and back, swapping bytes for the big-endian Ethernet fields in one place
(`wire_order`, STYLE principle 2).
"""

from amaranth.hdl import Cat, Const, Signal
from amaranth.lib import data, stream

from gatebook.wire import internal, link
from gatebook.wire import link_frame as lf
from gatebook.wire.ethernet import ETHERNET, ETHERNET_HEADER, MIN_FRAME, MTU

__all__ = ["ETHERNET", "ETHERNET_HEADER", "MIN_FRAME", "MTU", "BYTE", "RX_BYTE", "byte_stream",
           "wire_order", "HeaderMap", "LINK_HEADER", "record_sizes", "size_lookup", "mac_int"]

# The byte streams at the endpoint's edges, one byte of a frame per beat. `first`
# and `last` mark the frame's first and last byte; a MAC that checks the frame
# check sequence says so with `error` on the last byte (the receiver drops it).
BYTE = data.StructLayout({"data": 8, "first": 1, "last": 1})
RX_BYTE = data.StructLayout({"data": 8, "first": 1, "last": 1, "error": 1})


def byte_stream(layout=BYTE):
    return stream.Signature(layout)


def wire_order(value, width, byte_order):
    """`value`'s `width` bytes in wire order (wire byte k at bits 8k..8k+7).

    The one byte swap of the endpoint: little-endian fields are already in wire
    order; big-endian ones are reversed. The swap is its own inverse, so the same
    call reads a field from wire bytes.
    """
    if byte_order == "little":
        return value
    return Cat(*(value[8 * k:8 * k + 8] for k in reversed(range(width))))


class HeaderMap:
    """The byte offsets of the fields of headers sent back to back.

    Parameters
    ----------
    *protocols : gatebook.wire.layout.Protocol
        Each contributes its one header message, in its own byte order.
    """

    def __init__(self, *protocols):
        self.fields = {}                # name -> (offset, width, byte_order)
        offset = 0
        for protocol in protocols:
            (message,) = protocol.messages
            for field in message.fields:
                self.fields[field.name] = (offset, field.width, protocol.byte_order)
                offset += field.width
        self.size = offset

    def offset(self, name):
        return self.fields[name][0]

    def last_byte(self, name):
        """Index of the field's last byte in the frame."""
        offset, width, _ = self.fields[name]
        return offset + width - 1

    def field(self, bytes_value, name):
        """The value of field `name` in `bytes_value` (the header's bytes in wire order)."""
        offset, width, order = self.fields[name]
        return wire_order(bytes_value[8 * offset:8 * (offset + width)], width, order)

    def wire(self, values):
        """The header's bytes in wire order, from {field name: value}."""
        parts = []
        for name, (_, width, order) in self.fields.items():
            value = values[name]
            if isinstance(value, int):
                value = Const(value, 8 * width)
            parts.append(wire_order(value[:8 * width], width, order))
        return Cat(*parts)


LINK_HEADER = HeaderMap(ETHERNET, lf.LINK_FRAME)

_MESSAGES = {message.name: message
             for protocol in (internal.COMMANDS, internal.EVENTS,
                              link.LINK_COMMANDS, link.LINK_EVENTS)
             for message in protocol.messages}


def record_sizes(union):
    """{type code: bytes on the wire} of every record a union layout (gatebook.hdl.layouts) holds."""
    sizes = {}
    for name, member in union.members.items():
        if name == "code":
            continue
        message = _MESSAGES[name]
        if member.size != 8 * message.size:
            raise ValueError(f"{name}: layout of {member.size} bits, table of "
                             f"{message.size} bytes")
        sizes[message.code] = message.size
    return sizes


def size_lookup(m, code, sizes):
    """Signals (size, known): the record size for type byte `code`, 0 and known = 0 if none."""
    size = Signal(range(max(sizes.values()) + 1))
    known = Signal()
    with m.Switch(code):
        for value, nbytes in sorted(sizes.items()):
            with m.Case(value):
                m.d.comb += [size.eq(nbytes), known.eq(1)]
    return size, known


def mac_int(mac):
    """A MAC address ("02:00:00:00:00:0a" or an int) as the 48-bit integer of its
    bytes in wire order, first byte most significant (the table's big-endian order)."""
    if isinstance(mac, int):
        return mac
    return int(mac.replace(":", ""), 16)

