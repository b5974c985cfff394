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
           "RAW_INBOUND", "RAW_OUTBOUND", "split_datagram", "frame_datagram", "REFUSALS",
           "refusal"]

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


# Why a datagram is refused, by name; the DPDK ingress (dpdk_bridge, in C) uses
# the same names, so both paths log the same words. Arguments: two integers.
REFUSALS = {
    "SHORT":        "datagram of {0} bytes is shorter than the "
                    f"{HEADER_STRUCT.size}-byte session header",
    "UNKNOWN_TYPE": "unknown message type {0:#04x} at offset {1}",
    "TRUNCATED":    "message {0:#04x} truncated at offset {1}",
    "TOO_FEW":      "header says {0} messages, datagram holds {1}",
    "TOO_MANY":     "header says {0} messages, datagram has {1} bytes more",
    # Only the DPDK ingress sees these (a kernel socket reassembles and never
    # cuts): it takes no IPv4 fragments, and a frame longer than its receive
    # slot is cut. Keep datagrams within one 1500-byte frame (1472-byte payload).
    "FRAGMENTED":   "IPv4 fragment of a {0}-byte datagram: fragments are not reassembled",
    "OVERSIZE":     "frame of {0} bytes is longer than the {1}-byte receive slot",
}


def refusal(name, first=0, second=0):
    """The logged reason for refusal `name` (a REFUSALS key)."""
    return REFUSALS[name].format(first, second)


_IN_SIZES = {m.code: m.size for m in ouch.INBOUND.messages}


def frame_datagram(data, sizes=_IN_SIZES):
    """(session, sequence_number, count, None) of an exact datagram, or
    (0, 0, 0, (refusal name, first, second)) saying why it is not one.
    Its messages start at offset `HEADER_STRUCT.size`."""
    size = len(data)
    if size < HEADER_STRUCT.size:
        return 0, 0, 0, ("SHORT", size, 0)
    session, sequence, count = HEADER_STRUCT.unpack_from(data)
    at = HEADER_STRUCT.size
    for held in range(count):
        if at >= size:
            return 0, 0, 0, ("TOO_FEW", count, held)
        width = sizes.get(data[at])
        if width is None:
            return 0, 0, 0, ("UNKNOWN_TYPE", data[at], at)
        if at + width > size:
            return 0, 0, 0, ("TRUNCATED", data[at], at)
        at += width
    if at != size:
        return 0, 0, 0, ("TOO_MANY", count, size - at)
    return session, sequence, count, None


def split_datagram(data, structs=RAW_INBOUND):
    """(session, sequence_number, raw records) of a datagram, ALPHA fields as
    padded bytes; WireError, in the same words as `decode_datagram`, if it
    is not exactly a header and the messages it counts."""
    sizes = _IN_SIZES if structs is RAW_INBOUND else {
        code: layout.size for code, layout in structs.items()}
    session, sequence, count, error = frame_datagram(data, sizes)
    if error is not None:
        raise WireError(refusal(*error))
    records, at = [], HEADER_STRUCT.size
    for _ in range(count):
        layout = structs[data[at]]
        records.append(layout.unpack_from(data, at))
        at += layout.size
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
