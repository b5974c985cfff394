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

__all__ = ["Replier"]

_A, _J, _E = internal.ACCEPTED.code, internal.REJECTED.code, internal.EXECUTED.code
_C, _R = internal.CANCELLED.code, internal.REPLACED.code
_ADDED, _REMOVED = ouch.ADDED_LIQUIDITY.encode(), ouch.REMOVED_LIQUIDITY.encode()


class Replier:
    """Builds replies for the sessions of one `Gateway`."""

    def __init__(self, gateway, symbols):
        self.gateway = gateway
        self.names = {spec.symbol_id: spec.name.encode().ljust(8) for spec in symbols}
        self.sequences = {}                 # session -> next outbound sequence number

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
                    out.append((owner[0], (ouch.ACCEPTED.code, ts, owner[1], self.names.get(symbol, b" " * 8),
                                           side, order_type, tif, qty, price, stop, order_id)))
            elif code == _J:
                if origin:
                    out.append((origin[0], (ouch.REJECTED.code, event[2], origin[1], event[7])))
            elif code == _E:
                (_, _, ts, _, match, price, qty, _, agg_id, _, agg_leaves,
                 rest_id, _, rest_leaves) = event
                for order_id, flag, leaves in ((agg_id, _REMOVED, agg_leaves),
                                               (rest_id, _ADDED, rest_leaves)):
                    owner = gateway.token_of(order_id)
                    if owner:
                        out.append((owner[0], (ouch.EXECUTED.code, ts, owner[1], qty, price,
                                               flag, match, leaves)))
            elif code == _C:
                _, _, ts, _, order_id, _, qty, reason = event
                owner = gateway.token_of(order_id)
                if owner:
                    out.append((owner[0], (ouch.CANCELED.code, ts, owner[1], qty, reason)))
            elif code == _R:
                _, _, ts, _, order_id, _, price, qty, kept = event
                owner = gateway.token_of(order_id)
                previous = origin[2] if origin else owner[1] if owner else 0
                if owner:
                    out.append((owner[0], (ouch.REPLACED.code, ts, owner[1], previous, qty,
                                           price, order_id, kept)))
        return out

    def datagrams(self, events):
        """(payload, peer) per session with replies, one datagram each."""
        by_session = {}
        for session, record in self.replies(events):
            by_session.setdefault(session, []).append(record)
        out = []
        for session, records in by_session.items():
            peer = self.gateway.peers.get(session)
            first = self.sequences.get(session, 1)
            self.sequences[session] = first + len(records)
            if peer is not None:
                out.append((HEADER_STRUCT.pack(session, first, len(records)) + b"".join(
                    [RAW_OUTBOUND[record[0]].pack(*record) for record in records]), peer))
        return out
