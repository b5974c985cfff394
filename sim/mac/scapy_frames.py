"""Link frames built with scapy: an Ethernet layer, the link's frame header and the records,
every layer made from the wire tables.

# Ref: gatebook/wire/link_frame.py (the header and the EtherType), gatebook/wire/internal.py
#      and link.py (the records), gatebook/host/net/scapy_layers.py (record layers).

The MAC bench sends these, not `gatebook.host.net.link.pack_frames`' bytes: each frame the
host packs is built again here from its decoded fields and must come out byte for byte
the same (a second, independent encoder of the framing) before it goes on the wire.
"""

from scapy.fields import LEIntField, LEShortField, ByteField
from scapy.layers.l2 import Ether
from scapy.packet import Packet

from gatebook.wire import internal, link
from gatebook.wire import link_frame as lf
from gatebook.wire.layout import Protocol
from gatebook.host.net.link import unpack_frame
from gatebook.host.net.scapy_layers import make_message_layers

__all__ = ["LinkFrameHeader", "COMMAND_LAYERS", "scapy_frame", "rebuild"]

_LITTLE = {1: ByteField, 2: LEShortField, 4: LEIntField}


class LinkFrameHeader(Packet):
    """The link's frame header (`gatebook.wire.link_frame.FRAME_HEADER`), little-endian."""
    name = "gatebook link frame"
    fields_desc = [_LITTLE[field.width](field.name, 0) for field in lf.FRAME_HEADER.fields]


COMMAND_LAYERS = make_message_layers(Protocol(
    "link-commands", lf.LINK_FRAME.byte_order, internal.COMMANDS.messages + link.LINK_COMMANDS.messages))
_MESSAGES = {message.code: message
             for message in internal.COMMANDS.messages + link.LINK_COMMANDS.messages}


def scapy_frame(dst, src, frame_seq, records, answered=0):
    """A command frame from `src` to `dst` carrying `records` (tuples, type code first)."""
    packet = Ether(dst=dst, src=src, type=lf.ETHERTYPE) / LinkFrameHeader(
        magic=lf.MAGIC, version=lf.VERSION, channel=lf.COMMANDS, frame_seq=frame_seq,
        answered=answered, count=len(records))
    for code, *values in records:
        fields = dict(zip((field.name for field in _MESSAGES[code].fields), values))
        packet = packet / COMMAND_LAYERS[code](**fields)
    return bytes(packet)


def rebuild(frame):
    """`frame` (a command frame) built again with scapy from its decoded fields."""
    channel, frame_seq, answered, records = unpack_frame(frame)
    if channel != lf.COMMANDS:
        raise ValueError(f"not a command frame: channel {channel}")
    dst = ":".join(f"{b:02x}" for b in frame[:6])
    src = ":".join(f"{b:02x}" for b in frame[6:12])
    return scapy_frame(dst, src, frame_seq, records, answered)
