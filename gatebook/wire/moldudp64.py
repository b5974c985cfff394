"""MoldUDP64 downstream packet framing.

# Ref: NASDAQ MoldUDP64 Protocol Specification 1.00, "Downstream Packets".

A packet is this header followed by `message_count` message blocks, each a
2-byte big-endian length and that many bytes of payload. A heartbeat has a
count of 0; an end-of-session packet has a count of 0xFFFF.
"""

from .layout import ALPHA, Field, Message, Protocol

__all__ = ["HEADER", "BLOCK_LENGTH", "MOLDUDP64", "HEARTBEAT_COUNT", "END_OF_SESSION_COUNT"]

HEADER = Message("moldudp64_header", None, (
    Field("session",         10, ALPHA),
    Field("sequence_number", 8, doc="sequence number of the first message in the packet"),
    Field("message_count",   2),
))

BLOCK_LENGTH = Message("moldudp64_block_length", None, (
    Field("message_length", 2),
))

MOLDUDP64 = Protocol("moldudp64", "big", (HEADER, BLOCK_LENGTH))

HEARTBEAT_COUNT = 0
END_OF_SESSION_COUNT = 0xFFFF
