"""scapy layers for ITCH 5.0, MoldUDP64 and the order-entry protocol,
generated from the wire tables.

# Ref: gatebook/wire/itch50.py, moldudp64.py, ouch.py (the only definitions);
#      scapy's "Adding new protocols" guide (Packet, fields_desc, bind_layers).

Every message becomes a `Packet` class whose fields are the table's, in order,
with the type byte first. Classes are named after the messages in CamelCase;
ITCH's carry an `Itch` prefix (`ItchAddOrder`). Usage:

    >>> from gatebook.host.net.scapy_layers import *
    >>> pkt = Ether()/IP()/UDP()/OuchInbound(session=1, sequence_number=1) \\
    ...       / EnterOrder(order_token=1, stock="AAPL", shares=100, price=1_500_000)
    >>> pkt.show()

`OuchInbound`/`OuchOutbound` (the session header) fill `message_count` and
`MoldUDP64` fills its own when left unset. UDP port bindings make scapy
dissect captured traffic into these layers. This module lives in `host/`,
not in `gatebook/wire/`, because scapy is a tester's tool: the wire package
and the DPDK fast path must not import it.
"""

from scapy.fields import (BitField, ByteEnumField, ByteField, FieldLenField, IntField,
                          LEIntField, LELongField, LEShortField, LongField,
                          PacketLenField, PacketListField, ShortField, StrFixedLenField)
from scapy.layers.inet import UDP
from scapy.packet import Packet, Raw, bind_bottom_up, bind_top_down

from gatebook.wire import itch50, moldudp64, ouch
from gatebook.wire.layout import ALPHA, PRICE4

from .defaults import MOLDUDP64_PORT, OUCH_CLIENT_PORT, OUCH_PORT

__all__ = ["make_message_layers", "MoldUDP64", "MoldBlock", "OuchInbound", "OuchOutbound",
           "ITCH_LAYERS", "OUCH_INBOUND_LAYERS", "OUCH_OUTBOUND_LAYERS"]


class AlphaField(StrFixedLenField):
    """ASCII, left-justified and space-padded (ITCH/OUCH Alpha); takes str or bytes."""

    def h2i(self, pkt, value):
        return value.encode("ascii") if isinstance(value, str) else value

    def i2m(self, pkt, value):
        value = self.h2i(pkt, value) or b""
        return value.ljust(self.length_from(pkt), b" ")

    def i2repr(self, pkt, value):
        return repr(self.h2i(pkt, value).rstrip(b" ").decode("ascii", "replace"))


def _price_field(base):
    class Price4Field(base):
        """Price(4): an integer count of 1/10000 currency units, shown as both."""

        def i2repr(self, pkt, value):
            return f"{value / 10000:.4f} ({value})" if value is not None else "None"
    return Price4Field


_UINT = {"big":    {1: ByteField, 2: ShortField, 4: IntField, 8: LongField},
         "little": {1: ByteField, 2: LEShortField, 4: LEIntField, 8: LELongField}}
_PRICE = {"big": _price_field(IntField), "little": _price_field(LEIntField)}


def _field(field, byte_order):
    if field.kind == ALPHA:
        return AlphaField(field.name, b"", field.width)
    if field.kind == PRICE4:
        return _PRICE[byte_order](field.name, 0)
    if field.enum is not None and field.width == 1:
        return ByteEnumField(field.name, 0, {int(m): m.name for m in field.enum})
    if field.width == 6 and byte_order == "big":
        return BitField(field.name, 0, 48)
    if field.width not in _UINT[byte_order]:
        raise ValueError(f"no scapy field for {field.name}: {field.width} bytes {byte_order}-endian")
    return _UINT[byte_order][field.width](field.name, 0)


def _camel(name):
    return "".join(part.capitalize() for part in name.split("_"))


class _Message(Packet):
    """Base of generated messages: fixed width; what follows is the next message."""

    _dispatch = {}

    def guess_payload_class(self, payload):
        return self._dispatch.get(payload[:1] and payload[0], Raw)


def make_message_layers(protocol, prefix=""):
    """{type code: Packet class} for every message of `protocol`."""
    classes = {}
    dispatch = {}
    base = type(f"_{_camel(protocol.name.replace('-', '_').replace('.', '_'))}Message",
                (_Message,), {"_dispatch": dispatch, "fields_desc": []})
    for message in protocol.messages:
        name = prefix + _camel(message.name)
        fields = [ByteEnumField("type", message.code, {message.code: f"{chr(message.code)!r} {message.name}"})]
        fields += [_field(field, protocol.byte_order) for field in message.fields]
        classes[message.code] = type(name, (base,), {
            "name": f"{protocol.name} {message.name}", "fields_desc": fields,
            "__doc__": message.doc or f"{protocol.name} {message.name} (generated)"})
    dispatch.update(classes)
    return classes


ITCH_LAYERS          = make_message_layers(itch50.ITCH50, "Itch")
OUCH_INBOUND_LAYERS  = make_message_layers(ouch.INBOUND)
OUCH_OUTBOUND_LAYERS = make_message_layers(ouch.OUTBOUND)


def _itch_message(data):
    cls = ITCH_LAYERS.get(data[:1] and data[0])
    return cls(data) if cls is not None else Raw(data)


class MoldBlock(Packet):
    """One MoldUDP64 message block: length, then an ITCH 5.0 message."""

    name = "MoldUDP64 message block"
    fields_desc = [FieldLenField(moldudp64.BLOCK_LENGTH.fields[0].name, None,
                                 length_of="message", fmt="!H"),
                   PacketLenField("message", None, _itch_message,
                                  length_from=lambda pkt: pkt.message_length)]

    def extract_padding(self, data):
        return b"", data


def _count_from(pkt):
    return 0 if pkt.message_count in (moldudp64.HEARTBEAT_COUNT, moldudp64.END_OF_SESSION_COUNT) \
        else pkt.message_count


class MoldUDP64(Packet):
    """MoldUDP64 downstream packet; `message_count` is filled in when left unset."""

    name = "MoldUDP64"
    fields_desc = [_field(field, "big") for field in moldudp64.HEADER.fields[:2]] + [
        ShortField("message_count", None),
        PacketListField("messages", [], MoldBlock, count_from=_count_from)]

    def post_build(self, packet, payload):
        if self.message_count is None:
            packet = packet[:18] + len(self.messages).to_bytes(2, "big") + packet[20:]
        return packet + payload


def _session_header(name, layers):
    header = ouch.SESSION_HEADER
    count_field = header.fields[-1].name

    def post_build(self, packet, payload):
        if getattr(self, count_field) is None:
            count, layer = 0, self.payload
            while isinstance(layer, _Message):
                count, layer = count + 1, layer.payload
            packet = packet[:-2] + count.to_bytes(2, "big")
        return packet + payload

    def guess_payload_class(self, payload):
        return layers.get(payload[:1] and payload[0], Raw)

    fields = [_field(field, "big") for field in header.fields[:-1]] + [ShortField(count_field, None)]
    return type(name, (Packet,), {
        "name": f"Gatebook order-entry session header ({name[4:].lower()})",
        "fields_desc": fields, "post_build": post_build,
        "guess_payload_class": guess_payload_class})


OuchInbound  = _session_header("OuchInbound", OUCH_INBOUND_LAYERS)
OuchOutbound = _session_header("OuchOutbound", OUCH_OUTBOUND_LAYERS)

# Dissection goes by one port; building sets both, so scapy's default source
# port (53) never makes a datagram look like DNS.
bind_bottom_up(UDP, MoldUDP64, dport=MOLDUDP64_PORT)
bind_bottom_up(UDP, OuchInbound, dport=OUCH_PORT)
bind_bottom_up(UDP, OuchOutbound, sport=OUCH_PORT)
bind_top_down(UDP, MoldUDP64, sport=MOLDUDP64_PORT, dport=MOLDUDP64_PORT)
bind_top_down(UDP, OuchInbound, sport=OUCH_CLIENT_PORT, dport=OUCH_PORT)
bind_top_down(UDP, OuchOutbound, sport=OUCH_PORT, dport=OUCH_CLIENT_PORT)

for _cls in (*ITCH_LAYERS.values(), *OUCH_INBOUND_LAYERS.values(), *OUCH_OUTBOUND_LAYERS.values()):
    globals()[_cls.__name__] = _cls
    __all__.append(_cls.__name__)
del _cls
