"""A second order-entry protocol, for tests: text lines over UDP with string client order ids.

Not a mock: a complete `OrderEntry` (gatebook.host.net.order_entry_api) over a
real socket, with its own log-origin codec, small enough to read in one
sitting. It shows what a protocol such as FIX brings: ids that are strings,
its own replies, its own state in the log under its own protocol id. It has
no login (the user is named in each request), so it is for tests only.

Requests, one per datagram, ASCII:
    NEW <user> <clordid> <symbol> <BUY|SELL> <qty> <price>
    CANCEL <user> <clordid>
Replies:
    ACK <clordid> <order id> | REJECTED <clordid> <reason> | FILL <clordid> <qty> <price>
    <leaves> | CANCELED <clordid> <qty> | ERROR <why>
"""

import json
import re
from collections import Counter

from gatebook.wire import internal
from gatebook.wire.enums import OrderType, RejectReason, Side, TimeInForce
from gatebook.wire.positions import CODE, INTERNAL

__all__ = ["TEXT_PROTOCOL", "TEXT_LOG", "TextEntry", "TextState"]

TEXT_PROTOCOL = 200                 # a private protocol id (gatebook.wire.enums.PRIVATE_PROTOCOLS)

_NEW, _A, _J, _E, _C = (internal.NEW_ORDER.code, internal.ACCEPTED.code, internal.REJECTED.code,
                        internal.EXECUTED.code, internal.CANCELLED.code)
_NEW_ID, _SEQ = INTERNAL.NEW_ORDER.order_id, INTERNAL.NEW_ORDER.seq
_A_ID, _C_ID, _C_QTY = INTERNAL.ACCEPTED.order_id, INTERNAL.CANCELLED.order_id, INTERNAL.CANCELLED.qty
_J_ID, _J_COMMAND, _J_REASON = (INTERNAL.REJECTED.order_id, INTERNAL.REJECTED.command,
                                INTERNAL.REJECTED.reason)
_E_PRICE, _E_QTY = INTERNAL.EXECUTED.price, INTERNAL.EXECUTED.qty
_E_SIDES = ((INTERNAL.EXECUTED.aggressor_id, INTERNAL.EXECUTED.aggressor_leaves),
            (INTERNAL.EXECUTED.resting_id, INTERNAL.EXECUTED.resting_leaves))
_CLORDID = re.compile(r"[!-~]{1,32}")        # printable, no spaces, 32 characters at most


class TextState:
    """Client order ids of live orders and where each user's replies go."""

    def __init__(self, order_ids=None, peers=None):
        self.order_ids = dict(order_ids or {})       # (user, clordid) -> order id
        self.owners = {order_id: key for key, order_id in self.order_ids.items()}
        self.peers = dict(peers or {})               # user -> (ip, port)

    def note(self, command, origin):
        """What a command from this protocol changes (live, and at replay)."""
        user, clordid, peer = origin
        if command[CODE] == _NEW:
            self.order_ids[(user, clordid)] = command[_NEW_ID]
            self.owners[command[_NEW_ID]] = (user, clordid)
        if peer is not None:
            self.peers[user] = peer

    def forget_gone(self, events):
        """Orders filled, cancelled or refused name nothing any more."""
        for event in events:
            code = event[CODE]
            gone = ([event[at] for at, leaves in _E_SIDES if not event[leaves]] if code == _E
                    else [event[_C_ID]] if code == _C
                    else [event[_J_ID]] if code == _J and event[_J_COMMAND] == _NEW
                    and event[_J_REASON] != RejectReason.DUPLICATE_ORDER_ID else [])
            for order_id in gone:
                key = self.owners.pop(order_id, None)
                if key is not None:
                    del self.order_ids[key]

    def replay(self, command, origin, events):
        if origin is not None:
            self.note(command, origin)
        self.forget_gone(events)

    def copy(self):
        return TextState(self.order_ids, self.peers)

    def __eq__(self, other):
        return (self.order_ids, self.peers) == (other.order_ids, other.peers)


class TextLogCodec:
    """The log-origin codec: an origin is `<user> <clordid> <ip>:<port>` in ASCII."""

    protocol = TEXT_PROTOCOL

    @staticmethod
    def encode_origin(user, clordid, peer):
        return f"{user} {clordid} {peer[0]}:{peer[1]}".encode("ascii")

    @staticmethod
    def decode_origin(view, first, end):
        user, clordid, peer = bytes(view[first:end]).decode("ascii").split(" ")
        ip, port = peer.rsplit(":", 1)
        if not _CLORDID.fullmatch(clordid):
            raise ValueError(f"client order id {clordid!r}")
        return int(user), clordid, (ip, int(port))

    @staticmethod
    def new_state():
        return TextState()

    @staticmethod
    def encode_state(state):
        return json.dumps({"orders": [[u, c, o] for (u, c), o in state.order_ids.items()],
                           "peers": [[u, ip, port] for u, (ip, port) in state.peers.items()]
                           }).encode()

    @staticmethod
    def decode_state(data):
        found = json.loads(bytes(data))
        return TextState({(int(u), str(c)): int(o) for u, c, o in found["orders"]},
                         {int(u): (str(ip), int(port)) for u, ip, port in found["peers"]})

    @staticmethod
    def describe_origin(data):
        user, clordid, peer = bytes(data).decode("ascii").split(" ")
        return {"type": "text_origin", "user": int(user), "clordid": clordid, "peer": peer}

    @staticmethod
    def summary(state):
        return f"{len(state.order_ids)} client order ids"


TEXT_LOG = TextLogCodec()


class TextEntry:
    """The text protocol as an `OrderEntry` over one datagram port (see the module docstring)."""

    protocol = TEXT_PROTOCOL

    def __init__(self, port):
        self.port = port
        self.messages = 0
        self.bad = Counter()                # kind -> requests refused
        self.listeners = (self._hear,)
        self._pending, self._origins = [], {}

    def attach(self, context):
        self.sequencer, self.order_ids = context.sequencer, context.order_ids
        self.symbol_ids = {spec.name: spec.symbol_id for spec in context.symbols}
        self.state = context.recovered.copy() if context.recovered is not None else TextState()

    def receive(self, burst):
        datagrams = self.port.recv(burst)
        return len(datagrams), self._commands(datagrams)

    def _commands(self, datagrams):
        for payload, peer in datagrams:
            try:
                command, origin = self._command(payload, peer)
            except (ValueError, KeyError, UnicodeDecodeError) as error:
                self.bad["malformed"] += 1
                self._pending.append((f"ERROR {error}".encode()[:200], peer))
                continue
            self.messages += 1
            self._origins[command[_SEQ]] = origin
            self.state.note(command, origin)
            yield command

    def _command(self, payload, peer):
        words = payload.decode("ascii").split()
        if len(words) < 3 or not _CLORDID.fullmatch(words[2]):
            raise ValueError("not NEW or CANCEL <user> <clordid> ...")
        verb, user, clordid = words[0], int(words[1]), words[2]
        if not 0 <= user < 2**32:
            raise ValueError("user out of range")
        if verb == "NEW" and len(words) == 7:
            if (user, clordid) in self.state.order_ids:
                raise ValueError(f"client order id {clordid} names a live order")
            side, qty, price = Side[words[4]], int(words[5]), int(words[6])
            command = self.sequencer.new_order(self.symbol_ids.get(words[3], 0),
                                               self.order_ids.take(), user, side,
                                               OrderType.LIMIT, TimeInForce.DAY, price, qty)
        elif verb == "CANCEL" and len(words) == 3:
            command = self.sequencer.cancel(self.state.order_ids.get((user, clordid), 0), user)
        else:
            raise ValueError(f"unknown request {verb}")
        return command, (user, clordid, peer)

    def origin(self, command):
        found = self._origins.get(command[_SEQ])
        return None if found is None else (TEXT_PROTOCOL, TEXT_LOG.encode_origin(*found))

    def _hear(self, events):
        owners, peers, out = self.state.owners, self.state.peers, self._pending
        origin = self._origins.pop(events[0][_SEQ], None) if events else None
        for event in events:
            code = event[CODE]
            if code == _E:
                for at, leaves in _E_SIDES:
                    self._reply(owners.get(event[at]), f"FILL {{}} {event[_E_QTY]} "
                                f"{event[_E_PRICE]} {event[leaves]}", peers, out)
            elif code == _A:
                self._reply(owners.get(event[_A_ID]), f"ACK {{}} {event[_A_ID]}", peers, out)
            elif code == _J:
                # A cancel of an unknown id names no order: its sender is the origin's.
                self._reply(owners.get(event[_J_ID]) or (origin and origin[:2]),
                            f"REJECTED {{}} {RejectReason(event[_J_REASON]).name}", peers, out)
            elif code == _C:
                self._reply(owners.get(event[_C_ID]), f"CANCELED {{}} {event[_C_QTY]}",
                            peers, out)
        self.state.forget_gone(events)

    @staticmethod
    def _reply(owner, text, peers, out):
        if owner is not None:               # another entry's order, or an admin's: not ours
            out.append((text.format(owner[1]).encode(), peers.get(owner[0])))

    def refuse(self, command, reason):
        self._origins.pop(command[_SEQ], None)
        self.bad["unloggable"] += 1

    def end_burst(self, hold):
        batch, self._pending = self._pending, []
        if hold:
            return batch
        self.send(batch)
        return None

    def send(self, batch):
        addressed = [(payload, peer) for payload, peer in batch if peer is not None]
        if addressed:
            self.port.send(addressed)

    def idle(self):
        pass

    def export_state(self):
        frozen = self.state.copy()
        return lambda: TEXT_LOG.encode_state(frozen)

    def close(self):
        pass
