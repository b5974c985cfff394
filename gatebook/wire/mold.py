"""MoldUDP64 downstream packets: build one from messages, parse one back.

# Ref: NASDAQ MoldUDP64 Protocol Specification 1.00, "Downstream Packets".

A packet is `moldudp64.HEADER` followed by `message_count` message blocks,
each a `moldudp64.BLOCK_LENGTH` prefix and that many bytes of payload. A
heartbeat carries no blocks and a count of `HEARTBEAT_COUNT`; an
end-of-session packet carries no blocks and a count of `END_OF_SESSION_COUNT`.
Both carry the next expected sequence number.

Widths, offsets and byte order all come from the tables through the derived
codecs; nothing here restates them. Payloads stay bytes: decoding them is the
business of the protocol they carry (ITCH, for Gatebook's feed).
"""

from collections import namedtuple

from .codec import RecordCodec, WireError
from .moldudp64 import BLOCK_LENGTH, END_OF_SESSION_COUNT, HEADER, HEARTBEAT_COUNT, MOLDUDP64

__all__ = ["Packet", "build", "heartbeat", "end_of_session", "parse",
           "HEADER_SIZE", "MAX_MESSAGE_LENGTH", "MAX_MESSAGE_COUNT"]

_HEADER = RecordCodec(HEADER, MOLDUDP64.byte_order)
_LENGTH = RecordCodec(BLOCK_LENGTH, MOLDUDP64.byte_order)

HEADER_SIZE        = _HEADER.size
MAX_MESSAGE_LENGTH = (1 << BLOCK_LENGTH.fields[0].bits) - 1
# The widest count is reserved for end of session, so a data packet holds one fewer.
MAX_MESSAGE_COUNT  = END_OF_SESSION_COUNT - 1

_COUNT = HEADER.field_names.index("message_count")


class Packet(namedtuple("Packet", HEADER.field_names + ("messages",))):
    """A parsed downstream packet: the header fields in table order, then the
    tuple of message payloads (bytes), empty for heartbeats and end of session."""

    __slots__ = ()

    @property
    def is_heartbeat(self):
        return self[_COUNT] == HEARTBEAT_COUNT

    @property
    def is_end_of_session(self):
        return self[_COUNT] == END_OF_SESSION_COUNT


def build(session, sequence_number, messages=()):
    """A downstream packet carrying `messages` (bytes each), the first of which
    has `sequence_number`. With no messages this is a heartbeat."""
    messages = [bytes(message) for message in messages]
    if len(messages) > MAX_MESSAGE_COUNT:
        raise WireError(f"{MOLDUDP64.name}: {len(messages)} messages, "
                        f"at most {MAX_MESSAGE_COUNT} fit one packet")
    parts = [_header(session, sequence_number, len(messages))]
    for index, message in enumerate(messages):
        if len(message) > MAX_MESSAGE_LENGTH:
            raise WireError(f"{MOLDUDP64.name}: message {index} is {len(message)} bytes, "
                            f"at most {MAX_MESSAGE_LENGTH} fit a block")
        parts.append(_LENGTH.encode((len(message),)))
        parts.append(message)
    return b"".join(parts)


def heartbeat(session, next_sequence_number):
    """A heartbeat: no messages, the sequence number the next message will have."""
    return _header(session, next_sequence_number, HEARTBEAT_COUNT)


def end_of_session(session, next_sequence_number):
    """An end-of-session packet: no messages, the next expected sequence number."""
    return _header(session, next_sequence_number, END_OF_SESSION_COUNT)


def parse(data):
    """The `Packet` in `data`, which must be exactly one downstream packet.

    Raises `WireError` if the packet is shorter than its header, a block is cut
    short, bytes follow the last block, or an end-of-session packet carries any.
    """
    data = bytes(data)
    if len(data) < HEADER_SIZE:
        raise WireError(f"{MOLDUDP64.name}: {len(data)} bytes, shorter than the "
                        f"{HEADER_SIZE}-byte header")
    header = _HEADER.decode(data[:HEADER_SIZE])
    count = header[_COUNT]
    position = HEADER_SIZE
    messages = []
    if count != END_OF_SESSION_COUNT:
        for index in range(count):
            end = position + _LENGTH.size
            if end > len(data):
                raise WireError(f"{MOLDUDP64.name}: truncated in the length of block "
                                f"{index} of {count}, at offset {position}")
            (length,) = _LENGTH.decode(data[position:end])
            position, end = end, end + length
            if end > len(data):
                raise WireError(f"{MOLDUDP64.name}: block {index} of {count} declares "
                                f"{length} bytes at offset {position}, "
                                f"{len(data) - position} remain")
            messages.append(data[position:end])
            position = end
    if position != len(data):
        what = "the end-of-session header" if count == END_OF_SESSION_COUNT else \
               f"the last of {count} blocks"
        raise WireError(f"{MOLDUDP64.name}: {len(data) - position} bytes after "
                        f"{what}, at offset {position}")
    return Packet(*header, tuple(messages))


def _header(session, sequence_number, count):
    fields = {"session": session, "sequence_number": sequence_number, "message_count": count}
    return _HEADER.encode(tuple(fields[name] for name in HEADER.field_names))
