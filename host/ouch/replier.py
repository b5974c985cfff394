"""Execution reports: engine events to order-entry replies for each session.

# Ref: gatebook/wire/internal.py (events), gatebook/wire/ouch.py (outbound
#      messages; OUCH 4.2 section 3 for their meaning).

`Replier.replies(events)` takes the events of one command (what
`MatchingEngine.apply` returned) and gives `(session, record)` pairs: an
accepted, replaced, canceled or rejected message for the command's sender,
and an executed message for each side of every fill, resting side included.
Market-data events (trade, level, stop triggered) have no private reply.

On the hot path, `Replier.add(events)` packs the same messages straight from
the events, and `Replier.flush()` frames everything added since the last
flush: one datagram per session (split to stay under `MAX_PAYLOAD`), each
session's replies numbered from 1, addressed to its last-seen peer. The
exchange flushes once per received burst. Records keep ALPHA fields as padded
bytes (`ouch_session.raw_struct`), the cheap form to pack.

With a pipelined engine the gateway may have taken later commands before a
command's events come in: a reply names each order's token as of the
command's sequence number (`Gateway.renames`), not as it is now.

This module is the readable reference. Over a `CompiledGateway`, `add` and
`flush` are their compiled twins (`dpdk_bridge/_ouchfast.c`), plus
`flush_into`, which writes the datagrams straight into a DPDK send burst
(`DatagramPort.send_replies`).
"""

from gatebook.wire import internal, ouch
from gatebook.wire.enums import RejectReason
from gatebook.wire.positions import CODE, INTERNAL, require_field_order

from .framing import HEADER_STRUCT, RAW_OUTBOUND

__all__ = ["Replier", "MAX_PAYLOAD", "pack_reply"]

_A, _J, _E = internal.ACCEPTED.code, internal.REJECTED.code, internal.EXECUTED.code
_C, _R = internal.CANCELLED.code, internal.REPLACED.code
_NEW_ORDER = internal.NEW_ORDER.code
_DUPLICATE = RejectReason.DUPLICATE_ORDER_ID
_J_COMMAND = INTERNAL.REJECTED.command
_J_ORDER = INTERNAL.REJECTED.order_id
_J_REASON = INTERNAL.REJECTED.reason
_J_TS = INTERNAL.REJECTED.ts
_SEQ = INTERNAL.NEW_ORDER.seq       # every event's seq sits here too (tests/test_wire_positions.py)
# The hot path unpacks events whole and packs replies whole, one tuple each;
# these tie both to their tables, so a table change stops the import.
for _message, _fields in {
    internal.ACCEPTED:  ("seq", "ts", "symbol", "order_id", "user", "side", "order_type", "tif",
                         "price", "stop_price", "qty"),
    internal.EXECUTED:  ("seq", "ts", "symbol", "match_id", "price", "qty", "aggressor_side",
                         "aggressor_id", "aggressor_user", "aggressor_leaves", "resting_id",
                         "resting_user", "resting_leaves"),
    internal.CANCELLED: ("seq", "ts", "symbol", "order_id", "user", "qty", "reason"),
    internal.REPLACED:  ("seq", "ts", "symbol", "order_id", "user", "price", "qty",
                         "kept_priority"),
    ouch.ACCEPTED:      ("timestamp", "order_token", "stock", "side", "order_type",
                         "time_in_force", "shares", "price", "stop_price", "order_ref"),
    ouch.REJECTED:      ("timestamp", "order_token", "reason"),
    ouch.EXECUTED:      ("timestamp", "order_token", "executed_shares", "execution_price",
                         "liquidity_flag", "match_number", "leaves_shares"),
    ouch.CANCELED:      ("timestamp", "order_token", "decrement_shares", "reason"),
    ouch.REPLACED:      ("timestamp", "replacement_order_token", "previous_order_token", "shares",
                         "price", "order_ref", "kept_priority"),
}.items():
    require_field_order(_message, _fields, __name__)
del _message, _fields
_LEVEL, _TRADE = internal.LEVEL.code, internal.TRADE.code      # market data: no reply
_ADDED, _REMOVED = ouch.ADDED_LIQUIDITY.encode(), ouch.REMOVED_LIQUIDITY.encode()
_ACCEPTED, _REJECTED, _EXECUTED, _CANCELED, _REPLACED = (
    ouch.ACCEPTED.code, ouch.REJECTED.code, ouch.EXECUTED.code, ouch.CANCELED.code,
    ouch.REPLACED.code)
_PACK_A, _PACK_J, _PACK_E, _PACK_C, _PACK_R = (RAW_OUTBOUND[code].pack for code in (
    _ACCEPTED, _REJECTED, _EXECUTED, _CANCELED, _REPLACED))
_WIDEST = max(layout.size for layout in RAW_OUTBOUND.values())
_HEADER, _HEADER_PACK = HEADER_STRUCT.size, HEADER_STRUCT.pack

_BLANK = b" " * 8

# Replies to one session in one datagram stay under this many payload bytes, so
# they fit one 1500-byte Ethernet frame with IPv4 and UDP headers.
MAX_PAYLOAD = 1472


class Replier:
    """Builds replies for the sessions of one `Gateway`.

    `add(events)` packs each command's replies as they come; `flush()` frames
    everything added since the last flush, one datagram per session (more if
    it would pass `max_payload`), so a burst of orders costs one header per
    session, not one per reply. `datagrams(events)` is both for one command.

    With `compiled` (by default: when the gateway runs compiled), `add` and
    `flush` are the compiled twins in `dpdk_bridge/_ouchfast.c`, which give
    the same bytes; this class's methods stay the readable reference, and
    `path` says which runs.
    """

    def __init__(self, gateway, symbols, max_payload=MAX_PAYLOAD, compiled=None):
        self.gateway = gateway
        self.names = {spec.symbol_id: spec.name.encode().ljust(8) for spec in symbols}
        self.max_payload = max_payload
        self.pending = {}                   # session -> packed replies not yet framed
        self.sequences = {}                 # session -> next outbound sequence number
        self._dirty = []                    # sessions with pending replies, first-reply order
        core = getattr(gateway, "_core", None)     # a CompiledGateway's
        if compiled is None:                # as the gateway: both compiled or neither
            compiled = core is not None
        self.path = "python" if core is None else "python (asked for)"
        if compiled:
            if core is None:
                raise ValueError("a compiled replier needs a compiled gateway: its owners "
                                 "and origins live in C")
            # The compiled twin keeps its pending replies in C (`pending` stays empty).
            from gatebook.dpdk_bridge.fast import load
            compiled = load().ReplierCore(self, core)
            self.add, self.flush, self.path = compiled.add, compiled.flush, gateway.path
            # flush() written straight into a DPDK send burst: DpdkUdp.send_replies
            self.flush_into = compiled.flush_into

    def replies(self, events):
        """(session, outbound record) pairs for one command's events (the
        readable form of what `add` packs)."""
        gateway, out = self.gateway, []
        origin = gateway.origins.pop(events[0][_SEQ], None) if events else None
        token_of = _as_of(gateway, events[0][_SEQ]) if events else gateway.token_of
        for event in events:
            code = event[CODE]
            if code == _A:
                _, _, ts, symbol, order_id, user, side, order_type, tif, price, stop, qty = event
                owner = token_of(order_id)
                if owner:
                    out.append((owner[0], (_ACCEPTED, ts, owner[1], self.names.get(symbol, _BLANK),
                                           side, order_type, tif, qty, price, stop, order_id)))
            elif code == _J:
                _forget_refused(gateway, event)
                if origin:
                    out.append((origin[0], (_REJECTED, event[_J_TS], origin[1], event[_J_REASON])))
            elif code == _E:
                (_, _, ts, _, match, price, qty, _, agg_id, _, agg_leaves,
                 rest_id, _, rest_leaves) = event
                for order_id, flag, leaves in ((agg_id, _REMOVED, agg_leaves),
                                               (rest_id, _ADDED, rest_leaves)):
                    owner = token_of(order_id)
                    if owner:
                        out.append((owner[0], (_EXECUTED, ts, owner[1], qty, price,
                                               flag, match, leaves)))
                        if not leaves:
                            gateway.forget_order(order_id)
            elif code == _C:
                _, _, ts, _, order_id, _, qty, reason = event
                owner = token_of(order_id)
                if owner:
                    out.append((owner[0], (_CANCELED, ts, owner[1], qty, reason)))
                    gateway.forget_order(order_id)
            elif code == _R:
                _, _, ts, _, order_id, _, price, qty, kept = event
                owner = token_of(order_id)
                previous = origin[-1] if origin else owner[1] if owner else 0
                if owner:
                    out.append((owner[0], (_REPLACED, ts, owner[1], previous, qty,
                                           price, order_id, kept)))
        return out

    def add(self, events):
        """Pack the replies to one command's events (as `replies` says them);
        `flush` frames them. Packs straight from the events: the hot path."""
        if not events:
            return
        gateway, pending, dirty = self.gateway, self.pending, self._dirty
        owner_of = _as_of(gateway, events[0][_SEQ]) if gateway.renames else gateway.token_of
        origin = gateway.origins.pop(events[0][_SEQ], None)
        for event in events:
            code = event[CODE]
            if code == _LEVEL or code == _TRADE:
                continue
            if code == _A:
                _, _, ts, symbol, order_id, _, side, order_type, tif, price, stop, qty = event
                owner = owner_of(order_id)
                if not owner:
                    continue
                session = owner[0]
                part = _PACK_A(_ACCEPTED, ts, owner[1], self.names.get(symbol, _BLANK), side,
                               order_type, tif, qty, price, stop, order_id)
            elif code == _E:
                (_, _, ts, _, match, price, qty, _, agg_id, _, agg_leaves,
                 rest_id, _, rest_leaves) = event
                owner = owner_of(agg_id)
                if owner:
                    box = pending.get(owner[0])
                    if not box:
                        if box is None:
                            box = pending[owner[0]] = []
                        dirty.append(owner[0])
                    box.append(_PACK_E(_EXECUTED, ts, owner[1], qty, price, _REMOVED, match,
                                       agg_leaves))
                    if not agg_leaves:
                        gateway.forget_order(agg_id)
                owner = owner_of(rest_id)
                if not owner:
                    continue
                session = owner[0]
                part = _PACK_E(_EXECUTED, ts, owner[1], qty, price, _ADDED, match, rest_leaves)
                if not rest_leaves:
                    gateway.forget_order(rest_id)
            elif code == _C:
                _, _, ts, _, order_id, _, qty, reason = event
                owner = owner_of(order_id)
                if not owner:
                    continue
                session = owner[0]
                part = _PACK_C(_CANCELED, ts, owner[1], qty, reason)
                gateway.forget_order(order_id)
            elif code == _R:
                _, _, ts, _, order_id, _, price, qty, kept = event
                owner = owner_of(order_id)
                if not owner:
                    continue
                session = owner[0]
                part = _PACK_R(_REPLACED, ts, owner[1], origin[-1] if origin else owner[1], qty,
                               price, order_id, kept)
            elif code == _J:
                _forget_refused(gateway, event)
                if not origin:
                    continue
                session = origin[0]
                part = _PACK_J(_REJECTED, event[_J_TS], origin[1], event[_J_REASON])
            else:
                continue
            box = pending.get(session)
            if not box:
                if box is None:
                    box = pending[session] = []
                dirty.append(session)
            box.append(part)

    def flush(self, unaddressed=False):
        """(payload, peer) datagrams of every reply added since the last flush.
        A session with no known peer still numbers its replies, but gets none,
        unless `unaddressed`: then its datagrams come with peer None (for a
        reply history that a reconnecting client may ask again)."""
        out, pending, sequences = [], self.pending, self.sequences
        peer_of, limit = self.gateway.peers.get, self.max_payload - _HEADER
        for session in self._dirty:
            parts = pending[session]
            first = sequences.get(session, 1)
            peer = peer_of(session)
            if len(parts) * _WIDEST <= limit:
                batches = (parts,)
            else:
                batches, batch, size = [], [], 0
                for part in parts:
                    if size + len(part) > limit:
                        batches.append(batch)
                        batch, size = [], 0
                    batch.append(part)
                    size += len(part)
                batches.append(batch)
            for batch in batches:
                if peer is not None or unaddressed:
                    out.append((_HEADER_PACK(session, first, len(batch)) + b"".join(batch), peer))
                first += len(batch)
            sequences[session] = first
            parts.clear()
        self._dirty = []
        return out

    def datagrams(self, events):
        """(payload, peer) per session with replies to one command's events."""
        self.add(events)
        return self.flush()


def _as_of(gateway, seq):
    """`gateway.token_of` as of command `seq`, for a gateway that has taken later commands.

    Renames at or before `seq` are in force (and no longer kept); an order that
    a later command renamed is still known by the token it had before.
    """
    renames = gateway.renames
    while renames and renames[0][0] <= seq:
        renames.popleft()
    if not renames:
        return gateway.token_of
    before = {}
    for _, order_id, session, token in renames:
        before.setdefault(order_id, (session, token))
    token_of = gateway.token_of

    def owner(order_id):
        found = token_of(order_id)
        return found and before.get(order_id, found)
    return owner


def _forget_refused(gateway, event):
    # A new order refused with a fresh id: its token names nothing (a duplicate
    # names the live order it repeats, which stays).
    if event[_J_COMMAND] == _NEW_ORDER and event[_J_REASON] != _DUPLICATE:
        gateway.forget_order(event[_J_ORDER])


def pack_reply(event, token, extra, names):
    """One reply message's bytes, as `Replier.add` packs it, from its event and
    the token it names: `extra` is the liquidity flag ("A"/"R") of an
    execution and the previous token of a replace (a remembered reply of
    `gatebook.host.wal.GatewayState.recent`); `names` maps symbol ids to padded bytes."""
    code = event[CODE]
    if code == _A:
        _, _, ts, symbol, order_id, _, side, order_type, tif, price, stop, qty = event
        return _PACK_A(_ACCEPTED, ts, token, names.get(symbol, _BLANK), side, order_type, tif,
                       qty, price, stop, order_id)
    if code == _E:
        (_, _, ts, _, match, price, qty, _, _, _, agg_leaves, _, _, rest_leaves) = event
        aggressor = extra == "R"
        return _PACK_E(_EXECUTED, ts, token, qty, price, _REMOVED if aggressor else _ADDED,
                       match, agg_leaves if aggressor else rest_leaves)
    if code == _C:
        _, _, ts, _, _, _, qty, reason = event
        return _PACK_C(_CANCELED, ts, token, qty, reason)
    if code == _R:
        _, _, ts, _, order_id, _, price, qty, kept = event
        return _PACK_R(_REPLACED, ts, token, extra, qty, price, order_id, kept)
    if code == _J:
        return _PACK_J(_REJECTED, event[_J_TS], token, event[_J_REASON])
    raise ValueError(f"event {code!r} has no reply")
