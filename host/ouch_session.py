"""Order-entry datagrams: framing and per-session gap/duplicate detection.

# Ref: gatebook/wire/ouch.py (the tables), NASDAQ MoldUDP64 1.00 (the
#      first-sequence-number-plus-count framing borrowed for the session header).

A datagram is the session header then `message_count` fixed-width messages.
`SessionTracker` keeps, per session, the sequence number it expects next:
messages behind it are duplicates and are dropped; a datagram ahead of it
opens a gap, which is counted and reported, and its messages are processed
(UDP gives no retransmission, so holding them back would only add latency).
"""

from dataclasses import dataclass, field

from gatebook.wire import ouch
from gatebook.wire.codec import ProtocolCodec, RecordCodec, WireError

__all__ = ["HEADER_CODEC", "INBOUND_CODEC", "OUTBOUND_CODEC", "encode_datagram",
           "decode_datagram", "SessionTracker", "Verdict"]

HEADER_CODEC   = RecordCodec(ouch.SESSION_HEADER, "big")
INBOUND_CODEC  = ProtocolCodec(ouch.INBOUND)
OUTBOUND_CODEC = ProtocolCodec(ouch.OUTBOUND)


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
