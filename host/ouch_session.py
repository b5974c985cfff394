"""Order-entry datagrams: framing and per-session gap/duplicate detection.

# Ref: gatebook/wire/ouch.py (the tables), NASDAQ MoldUDP64 1.00 (the
#      first-sequence-number-plus-count framing borrowed for the session header).

A datagram is the session header then `message_count` fixed-width messages.
`SessionTracker` keeps, per session, the sequence number it expects next:
messages behind it are duplicates and are dropped; a datagram ahead of it
opens a gap, which is counted and reported, and its messages are processed
(UDP gives no retransmission, so holding them back would only add latency).
"""

import struct
from dataclasses import dataclass, field

from gatebook.wire import ouch
from gatebook.wire.codec import ProtocolCodec, RecordCodec, WireError
from gatebook.wire.layout import ALPHA

__all__ = ["HEADER_CODEC", "INBOUND_CODEC", "OUTBOUND_CODEC", "encode_datagram",
           "decode_datagram", "SessionTracker", "Verdict", "raw_struct", "HEADER_STRUCT",
           "RAW_INBOUND", "RAW_OUTBOUND", "split_datagram"]

HEADER_CODEC   = RecordCodec(ouch.SESSION_HEADER, "big")
INBOUND_CODEC  = ProtocolCodec(ouch.INBOUND)
OUTBOUND_CODEC = ProtocolCodec(ouch.OUTBOUND)

_CHARS = {1: "B", 2: "H", 4: "I", 8: "Q"}


def raw_struct(message, byte_order="big"):
    """A `struct.Struct` for `message` that leaves ALPHA fields as padded bytes:
    the ingress and the replies use it on the hot path, where `codec`'s
    str conversion would cost more than the matching."""
    chars = [">" if byte_order == "big" else "<", "B" if message.code is not None else ""]
    chars += [f"{f.width}s" if f.kind == ALPHA else _CHARS[f.width] for f in message.fields]
    return struct.Struct("".join(chars))


HEADER_STRUCT = raw_struct(ouch.SESSION_HEADER)
RAW_INBOUND   = {m.code: raw_struct(m) for m in ouch.INBOUND.messages}
RAW_OUTBOUND  = {m.code: raw_struct(m) for m in ouch.OUTBOUND.messages}


def split_datagram(data, structs=RAW_INBOUND):
    """(session, sequence_number, raw records) of a datagram, ALPHA fields as
    padded bytes; WireError, in the same words as `decode_datagram`, if it
    is not exactly a header and the messages it counts."""
    size = len(data)
    if size < HEADER_STRUCT.size:
        raise WireError(f"datagram of {size} bytes is shorter than the "
                        f"{HEADER_STRUCT.size}-byte session header")
    session, sequence, count = HEADER_STRUCT.unpack_from(data)
    records, at = [], HEADER_STRUCT.size
    for _ in range(count):
        if at >= size:
            raise WireError(f"header says {count} messages, datagram holds {len(records)}")
        layout = structs.get(data[at])
        if layout is None:
            raise WireError(f"unknown message type {data[at]:#04x} at offset {at}")
        if at + layout.size > size:
            raise WireError(f"message {data[at]:#04x} truncated at offset {at}")
        records.append(layout.unpack_from(data, at))
        at += layout.size
    if at != size:
        raise WireError(f"header says {count} messages, datagram has {size - at} bytes more")
    return session, sequence, records


def encode_datagram(session, sequence_number, records, codec=INBOUND_CODEC):
    """Header plus `records` (tuples: type code, then fields) as one datagram."""
    return (HEADER_CODEC.encode((session, sequence_number, len(records)))
            + b"".join(codec.encode(record) for record in records))


def decode_datagram(data, codec=INBOUND_CODEC):
    """(session, sequence_number, records); WireError if the datagram is not exact."""
    if len(data) < HEADER_CODEC.size:
        raise WireError(f"datagram of {len(data)} bytes is shorter than the "
                        f"{HEADER_CODEC.size}-byte session header")
    session, sequence, count = HEADER_CODEC.decode(bytes(data[:HEADER_CODEC.size]))
    records = list(codec.decode_stream(data[HEADER_CODEC.size:]))
    if len(records) != count:
        raise WireError(f"header says {count} messages, datagram holds {len(records)}")
    return session, sequence, records


@dataclass
class Verdict:
    skip:    int            # leading messages already seen (duplicates)
    missing: "tuple[int, int] | None"   # (first, last) sequence numbers never received


@dataclass
class SessionTracker:
    """Expected next sequence number per session (the first is 1)."""

    expected:   dict = field(default_factory=dict)
    duplicates: int = 0     # messages dropped as already seen
    gaps:       int = 0     # messages never received

    def check(self, session, sequence_number, count):
        """What to do with a datagram's `count` messages starting at `sequence_number`."""
        expected = self.expected.get(session, 1)
        skip = min(max(expected - sequence_number, 0), count)
        missing = None
        if sequence_number > expected:
            missing = (expected, sequence_number - 1)
            self.gaps += sequence_number - expected
        self.duplicates += skip
        self.expected[session] = max(expected, sequence_number + count)
        return Verdict(skip, missing)
