"""Execution reports: engine events to order-entry replies for each session.

# Ref: gatebook/wire/internal.py (events), gatebook/wire/ouch.py (outbound
#      messages; OUCH 4.2 section 3 for their meaning).

`Replier.replies(events)` takes the events of one command (what
`MatchingEngine.apply` returned) and gives `(session, record)` pairs: an
accepted, replaced, canceled or rejected message for the command's sender,
and an executed message for each side of every fill, resting side included.
Market-data events (trade, level, stop triggered, done) have no private reply.
`Replier.datagrams(events)` frames them, numbering each session's replies
from 1, and addresses them to the session's last-seen peer. Records keep ALPHA
fields as padded bytes (`ouch_session.raw_struct`), the cheap form to pack.
"""

from gatebook.wire import internal, ouch

from .ouch_session import HEADER_STRUCT, RAW_OUTBOUND

__all__ = ["Replier", "MAX_PAYLOAD"]

_A, _J, _E = internal.ACCEPTED.code, internal.REJECTED.code, internal.EXECUTED.code
_C, _R = internal.CANCELLED.code, internal.REPLACED.code
_ADDED, _REMOVED = ouch.ADDED_LIQUIDITY.encode(), ouch.REMOVED_LIQUIDITY.encode()
_ACCEPTED, _REJECTED, _EXECUTED, _CANCELED, _REPLACED = (
    ouch.ACCEPTED.code, ouch.REJECTED.code, ouch.EXECUTED.code, ouch.CANCELED.code,
    ouch.REPLACED.code)
_PACK = {code: layout.pack for code, layout in RAW_OUTBOUND.items()}
_SIZE = {code: layout.size for code, layout in RAW_OUTBOUND.items()}
_HEADER = HEADER_STRUCT.size

# Replies to one session in one datagram stay under this many payload bytes, so
# they fit one 1500-byte Ethernet frame with IPv4 and UDP headers.
MAX_PAYLOAD = 1472


class _Outbox:
    """One session's replies waiting to be framed."""

    __slots__ = ("session", "next_seq", "parts", "count", "size")

    def __init__(self, session):
        self.session, self.next_seq = session, 1
        self.parts, self.count, self.size = [], 0, _HEADER


class Replier:
    """Builds replies for the sessions of one `Gateway`.

    `add(events)` packs each command's replies as they come; `flush()` frames
    everything added since the last flush, one datagram per session (more if
    it would pass `MAX_PAYLOAD`), so a burst of orders costs one header per
    session, not one per reply. `datagrams(events)` is both for one command.
    """

    def __init__(self, gateway, symbols, max_payload=MAX_PAYLOAD):
        self.gateway = gateway
        self.names = {spec.symbol_id: spec.name.encode().ljust(8) for spec in symbols}
        self.max_payload = max_payload
        self.boxes = {}                     # session -> _Outbox
        self._dirty = []                    # boxes holding replies, in first-reply order

    def replies(self, events):
        """(session, outbound record) pairs for one command's events."""
        gateway, out = self.gateway, []
        origin = gateway.origins.pop(events[0][1], None) if events else None
        for event in events:
            code = event[0]
            if code == _A:
                _, _, ts, symbol, order_id, user, side, order_type, tif, price, stop, qty = event
                owner = gateway.token_of(order_id)
                if owner:
                    out.append((owner[0], (_ACCEPTED, ts, owner[1], self.names.get(symbol, b" " * 8),
                                           side, order_type, tif, qty, price, stop, order_id)))
            elif code == _J:
                if origin:
                    out.append((origin[0], (_REJECTED, event[2], origin[1], event[7])))
            elif code == _E:
                (_, _, ts, _, match, price, qty, _, agg_id, _, agg_leaves,
                 rest_id, _, rest_leaves) = event
                for order_id, flag, leaves in ((agg_id, _REMOVED, agg_leaves),
                                               (rest_id, _ADDED, rest_leaves)):
                    owner = gateway.token_of(order_id)
                    if owner:
                        out.append((owner[0], (_EXECUTED, ts, owner[1], qty, price,
                                               flag, match, leaves)))
            elif code == _C:
                _, _, ts, _, order_id, _, qty, reason = event
                owner = gateway.token_of(order_id)
                if owner:
                    out.append((owner[0], (_CANCELED, ts, owner[1], qty, reason)))
            elif code == _R:
                _, _, ts, _, order_id, _, price, qty, kept = event
                owner = gateway.token_of(order_id)
                previous = origin[2] if origin else owner[1] if owner else 0
                if owner:
                    out.append((owner[0], (_REPLACED, ts, owner[1], previous, qty,
                                           price, order_id, kept)))
        return out

    def add(self, events):
        """Pack the replies to one command's events; `flush` frames them."""
        boxes, dirty, limit = self.boxes, self._dirty, self.max_payload
        for session, record in self.replies(events):
            box = boxes.get(session)
            if box is None:
                box = boxes[session] = _Outbox(session)
            code = record[0]
            if box.size + _SIZE[code] > limit and box.count:
                dirty.append(self._frame(box))
            if not box.count:
                dirty.append(box)
            box.parts.append(_PACK[code](*record))
            box.count += 1
            box.size += _SIZE[code]

    def _frame(self, box):
        """Frame `box`'s replies as one datagram (payload, peer) and empty it."""
        first = box.next_seq
        box.next_seq = first + box.count
        payload = HEADER_STRUCT.pack(box.session, first, box.count) + b"".join(box.parts)
        box.parts, box.count, box.size = [], 0, _HEADER
        return payload, self.gateway.peers.get(box.session)

    def flush(self):
        """(payload, peer) datagrams of every reply added since the last flush.
        A session with no known peer still numbers its replies, but gets none."""
        out = []
        for item in self._dirty:
            if type(item) is not tuple:
                if not item.count:
                    continue
                item = self._frame(item)
            if item[1] is not None:
                out.append(item)
        self._dirty = []
        return out

    def datagrams(self, events):
        """(payload, peer) per session with replies to one command's events."""
        self.add(events)
        return self.flush()

