"""The order-entry gateway's durable state, and how the log rebuilds it.

# Ref: docs/durability.md ("The order-entry state"), docs/network.md (the
#      order-entry protocol: tokens, session sequence numbers, replies).

The engine knows exchange order ids; clients know their own tokens and count
their messages. What ties the two together lives in the gateway
(`host/ouch/gateway.py`) and the replier (`host/ouch/replier.py`):

- the token map `(session, token) -> order id` and each order's owner
  `order id -> (session, token)` of live orders (a replace moves the order to
  its new token; a filled, cancelled or refused order's token is forgotten,
  so neither grows over the day);
- per session the next inbound message number it expects (duplicates below
  it are dropped) and the next outbound reply number;
- per session the address its replies go to;
- the next exchange order id.

A `GatewayState` holds those as plain dicts. The log rebuilds it: every
command that came from order entry carries its origin (session, the
message's session sequence number, token, previous token of a replace, the
sender's address) in its INPUT record, and `replay` applies one command's
origin and events exactly as the gateway and replier did live. A snapshot
holds a whole `GatewayState` as of its last seq.

"Session" here is the gateway's key, which is the account's user id (the
session layer, `host/ouch/sessions.py`, puts it where the datagram carried
its session id): tokens and numbering belong to users and outlive the
logins, which are not logged.

This module imports no other part of OUCH: the log rebuilds the state
without a gateway (through `log_origin.OUCH_LOG`, the codec OUCH registers
with the log). `tests/test_wal_gateway_state.py` holds `replay` to the live
gateway and replier, on both of their paths.
"""

from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple

from gatebook.wire import internal
from gatebook.wire.enums import RejectReason
from gatebook.wire.positions import CODE

__all__ = ["GatewayState", "Origin"]

_NEW_ORDER, _REPLACE = internal.NEW_ORDER.code, internal.REPLACE.code
_A, _J, _E = internal.ACCEPTED.code, internal.REJECTED.code, internal.EXECUTED.code
_C, _R = internal.CANCELLED.code, internal.REPLACED.code
_ORDER_ID = {code: message.field_names.index("order_id") + 1
             for code, message in ((_NEW_ORDER, internal.NEW_ORDER), (_REPLACE, internal.REPLACE))}
_NEW_ORDER_ID_AT, _REPLACE_ID_AT = _ORDER_ID[_NEW_ORDER], _ORDER_ID[_REPLACE]
_EXEC = internal.EXECUTED.field_names
_AGG, _REST = _EXEC.index("aggressor_id") + 1, _EXEC.index("resting_id") + 1
_AGG_LEFT, _REST_LEFT = _EXEC.index("aggressor_leaves") + 1, _EXEC.index("resting_leaves") + 1
_CANCELLED_ID = internal.CANCELLED.field_names.index("order_id") + 1
_J_FIELDS = internal.REJECTED.field_names
_J_COMMAND, _J_ORDER, _J_REASON = (_J_FIELDS.index("command") + 1, _J_FIELDS.index("order_id") + 1,
                                   _J_FIELDS.index("reason") + 1)
_DUPLICATE = RejectReason.DUPLICATE_ORDER_ID
_EVENT_ORDER_ID = {code: message.field_names.index("order_id") + 1
                   for code, message in ((_A, internal.ACCEPTED), (_C, internal.CANCELLED),
                                         (_R, internal.REPLACED))}


class Origin(NamedTuple):
    """Where one logged command came from on order entry.

    `previous` is the replaced token for a replace and None otherwise; `peer`
    is the (IPv4 text, port) the session's replies went to, or None.
    """

    session:  int
    number:   int       # the message's session sequence number
    token:    int       # the client token it names (a replace: the replacement)
    previous: "int | None" = None
    peer:     "tuple[str, int] | None" = None

    @classmethod
    def of(cls, origin, peer=None):
        """From a gateway's origin tuple `(session, token, number[, previous])`."""
        return cls(origin[0], origin[2], origin[1], origin[3] if len(origin) > 3 else None,
                   peer)

    def gateway_tuple(self):
        """The gateway's form of it: `(session, token, number[, previous])`."""
        base = (self.session, self.token, self.number)
        return base if self.previous is None else base + (self.previous,)


@dataclass
class GatewayState:
    """A gateway's and replier's state as of one command (see the module docstring)."""

    order_ids:     dict = field(default_factory=dict)   # (session, token) -> order id
    owners:        dict = field(default_factory=dict)   # order id -> (session, token)
    expected:      dict = field(default_factory=dict)   # session -> next inbound number
    sequences:     dict = field(default_factory=dict)   # session -> next outbound number
    peers:         dict = field(default_factory=dict)   # session -> (IPv4 text, port)
    next_order_id: int = 1
    # session -> deque of (reply number, event, token, extra) of its latest replies,
    # `keep_recent` of them, from the commands replayed (not snapshotted): what a
    # restarted exchange may send again to a client asking for what it missed.
    # `extra` is the liquidity flag of an execution, the previous token of a replace.
    recent:        dict = field(default_factory=dict, compare=False, repr=False)

    # Replies kept per session in `recent`; 0 keeps none (recovery's fastest).
    # `gatebook run --log` sets it before recovering.
    keep_recent = 0

    def replay(self, command, origin, events):
        """Apply one logged command: its `origin` (an Origin, or None for a command
        that did not come from order entry) and the `events` it caused.

        Mirrors `Gateway.commands` (the token map, the expected number, the
        peer) and `Replier.add` (which session each reply numbers under).
        """
        owners = self.owners
        if origin is not None:
            session = origin.session
            code = command[CODE]
            if code == _NEW_ORDER:
                key = (session, origin.token)
                if key not in self.order_ids:
                    order_id = command[_NEW_ORDER_ID_AT]
                    self.order_ids[key] = order_id
                    owners[order_id] = key
                    if order_id >= self.next_order_id:
                        self.next_order_id = order_id + 1
            elif code == _REPLACE and origin.previous is not None:
                order_id = command[_REPLACE_ID_AT]
                if order_id and origin.token != origin.previous:
                    self.order_ids[(session, origin.token)] = order_id
                    owners[order_id] = (session, origin.token)
                    self.order_ids.pop((session, origin.previous), None)
            if origin.number >= self.expected.get(session, 1):
                self.expected[session] = origin.number + 1
            if origin.peer is not None:
                self.peers[session] = origin.peer
        if not owners and origin is None:
            return
        if self.keep_recent:
            self._replay_remembering(origin, events)
            return
        sequences, get, forget = self.sequences, owners.get, self._forget
        for event in events:
            code = event[CODE]
            if code == _E:
                owner = get(event[_AGG])
                if owner:
                    sequences[owner[0]] = sequences.get(owner[0], 1) + 1
                    if not event[_AGG_LEFT]:
                        forget(event[_AGG])
                owner = get(event[_REST])
                if owner and not event[_REST_LEFT]:
                    forget(event[_REST])
            elif code == _J:
                owner = origin
                if event[_J_COMMAND] == _NEW_ORDER and event[_J_REASON] != _DUPLICATE:
                    forget(event[_J_ORDER])
            elif code in _EVENT_ORDER_ID:
                owner = get(event[_EVENT_ORDER_ID[code]])
                if owner and code == _C:
                    forget(event[_CANCELLED_ID])
            else:
                continue                    # market data: no reply
            if owner:
                sequences[owner[0]] = sequences.get(owner[0], 1) + 1

    def _replay_remembering(self, origin, events):
        # The reply loop of `replay`, keeping each reply's description in `recent`.
        sequences, get, forget = self.sequences, self.owners.get, self._forget

        def remember(session, token, event, extra=None):
            number = sequences.get(session, 1)
            sequences[session] = number + 1
            box = self.recent.get(session)
            if box is None:
                box = self.recent[session] = deque(maxlen=self.keep_recent)
            box.append((number, event, token, extra))

        for event in events:
            code = event[CODE]
            if code == _E:
                for at, left, flag in ((_AGG, _AGG_LEFT, "R"), (_REST, _REST_LEFT, "A")):
                    owner = get(event[at])
                    if owner:
                        remember(owner[0], owner[1], event, flag)
                        if not event[left]:
                            forget(event[at])
            elif code == _J:
                if event[_J_COMMAND] == _NEW_ORDER and event[_J_REASON] != _DUPLICATE:
                    forget(event[_J_ORDER])
                if origin:
                    remember(origin.session, origin.token, event)
            elif code in _EVENT_ORDER_ID:
                owner = get(event[_EVENT_ORDER_ID[code]])
                if owner:
                    previous = (origin.previous if origin and origin.previous is not None
                                else owner[1]) if code == _R else None
                    remember(owner[0], owner[1], event, previous)
                    if code == _C:
                        forget(event[_CANCELLED_ID])

    def _forget(self, order_id):
        # As Gateway.forget_order: a gone order's token names nothing.
        owner = self.owners.pop(order_id, None)
        if owner is not None and self.order_ids.get(owner) == order_id:
            del self.order_ids[owner]

    def copy(self):
        return GatewayState(dict(self.order_ids), dict(self.owners), dict(self.expected),
                            dict(self.sequences), dict(self.peers), self.next_order_id)
