"""FIX's log-origin codec: what the log holds about a command from FIX order entry.

# Ref: host/net/order_entry_api.py (LogOriginCodec), host/wal/origins.py,
#      docs/durability.md ("The order-entry state").

An origin is a `FixOrigin`: the user, the request's MsgSeqNum, the user's next
outbound MsgSeqNum when it came, the MsgType, the side and the ClOrdIDs,
packed as a fixed little-endian head and two length-prefixed ASCII strings.
The state is a `FixState` (state.py), which a snapshot holds as JSON (live
orders with their FIX quantities, each user's numbers). `FIX_LOG` is the
codec recovery, the standby and `gatebook log` use; importing
`gatebook.host.fix` registers it.
"""

import json
import struct

from gatebook.wire.codec import WireError
from gatebook.wire.enums import OrderEntryProtocol

from .state import CANCEL, MASS, NEW, REPLACE, FixOrder, FixOrigin, FixState

__all__ = ["FixLogCodec", "FIX_LOG", "encode_origin"]

_HEAD = struct.Struct("<IQQcB")             # user, in_seq, out_before, kind, side
_KINDS = frozenset((NEW, CANCEL, REPLACE, MASS))
_ROW = len(FixOrder.__slots__)


def encode_origin(origin):
    """The bytes of a FixOrigin; WireError if a field does not fit."""
    try:
        clordid, orig = origin.clordid.encode("ascii"), origin.orig_clordid.encode("ascii")
        return (_HEAD.pack(origin.user, origin.in_seq, origin.out_before,
                           origin.kind.encode("ascii"), origin.side)
                + bytes((len(clordid),)) + clordid + bytes((len(orig),)) + orig)
    except (struct.error, UnicodeEncodeError, ValueError) as error:
        raise WireError(f"FIX origin {origin!r:.120} does not fit: {error}") from None


def _decode(data):
    if len(data) < _HEAD.size + 2:
        raise ValueError(f"{len(data)} bytes: shorter than a FIX origin")
    user, in_seq, out_before, kind, side = _HEAD.unpack_from(data)
    kind = kind.decode("latin-1")
    if kind not in _KINDS or side > 1:
        raise ValueError(f"FIX origin of MsgType {kind!r}, side {side}")
    at = _HEAD.size
    texts = []
    for _ in range(2):
        if at >= len(data):
            raise ValueError("FIX origin truncated before a ClOrdID")
        size = data[at]
        text = bytes(data[at + 1:at + 1 + size])
        if len(text) != size or not text.isascii():
            raise ValueError("FIX origin's ClOrdID truncated or not ASCII")
        texts.append(text.decode("ascii"))
        at += 1 + size
    if at != len(data):
        raise ValueError(f"{len(data) - at} bytes after the FIX origin")
    return FixOrigin(user, in_seq, out_before, kind, texts[0], texts[1], side)


class FixLogCodec:
    """FIX's `LogOriginCodec` (host/net/order_entry_api.py): origins and FixState."""

    protocol = OrderEntryProtocol.FIX

    @staticmethod
    def decode_origin(view, first, end):
        return _decode(bytes(view[first:end]))

    @staticmethod
    def new_state():
        return FixState()

    @staticmethod
    def encode_state(state):
        return json.dumps({"orders": [order.row() for order in state.orders.values()],
                           "numbers": [[user, *pair] for user, pair in state.numbers.items()]},
                          separators=(",", ":")).encode()

    @staticmethod
    def decode_state(data):
        try:
            found = json.loads(bytes(data))
            orders = []
            for row in found["orders"]:
                if len(row) != _ROW or not isinstance(row[2], str) or not all(
                        type(value) is int for index, value in enumerate(row) if index != 2):
                    raise ValueError(f"order row {row!r:.80}")
                orders.append(FixOrder(*row))
            numbers = {}
            for user, next_in, next_out in found["numbers"]:
                if not all(type(value) is int and value >= 0
                           for value in (user, next_in, next_out)):
                    raise ValueError("session numbers are not whole numbers")
                numbers[user] = [next_in, next_out]
        except (KeyError, TypeError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"not a FIX state: {error}") from None
        return FixState(orders, numbers)

    @staticmethod
    def describe_origin(data):
        origin = _decode(bytes(data))
        return {"type": "fix_origin", **origin._asdict()}

    @staticmethod
    def summary(state):
        return f"{len(state.ids)} ClOrdIDs of live orders, {len(state.numbers)} FIX sessions"


FIX_LOG = FixLogCodec()
