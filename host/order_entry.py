"""Order entry: datagrams of the OUCH-like protocol to and from engine commands.

# Ref: gatebook/wire/ouch.py (the messages), gatebook/wire/internal.py (the
#      commands), host/ouch_session.py (framing and sequence tracking).

`Gateway.datagram()` is the ingress: it decodes one datagram, drops
duplicates, notes gaps, maps each client's order tokens to exchange order
ids and hands stamped commands back. It never raises on what arrives: a
datagram that does not decode is counted under its reason and logged, and
the exchange goes on. Semantic checks (unknown symbol, bad price) are the
engine's: such an order still becomes a command, so it still gets a reply.

`flow_datagrams()` goes the other way for testers: it turns a flow of
internal commands into the datagrams clients would have sent.
"""

from collections import Counter, deque

from gatebook.wire import internal, ouch
from gatebook.wire.codec import WireError

from .ouch_session import SessionTracker, encode_datagram, split_datagram

__all__ = ["Gateway", "flow_datagrams"]

_ENTER, _REPLACE, _CANCEL = ouch.ENTER_ORDER.code, ouch.REPLACE_ORDER.code, ouch.CANCEL_ORDER.code


class Gateway:
    """Ingress of order-entry datagrams for one exchange.

    Parameters
    ----------
    sequencer : host.sequencer.Sequencer
        Stamps the commands the gateway makes.
    symbols : iterable of SymbolSpec
        Maps the `stock` field to symbol ids; an unlisted stock maps to 0,
        which the engine rejects as an unknown symbol.
    """

    def __init__(self, sequencer, symbols, log_size=1000):
        self.sequencer = sequencer
        self.symbol_ids = {spec.name.encode().ljust(8): spec.symbol_id for spec in symbols}
        self.tracker = SessionTracker()
        self.order_ids = {}                 # (session, token) -> exchange order id
        self.owners = {}                    # exchange order id -> (session, token)
        self.next_order_id = 1
        self.origins = {}                   # command seq -> (session, token, previous token)
        self.peers = {}                     # session -> address it last sent from
        self.bad = Counter()                # reason -> datagrams refused
        self.bad_log = deque(maxlen=log_size)    # (peer, reason) of the latest refusals
        self.gap_log = deque(maxlen=log_size)    # (session, first, last) never received
        self.messages = 0

    def _refuse(self, peer, reason):
        self.bad[reason.split(":", 1)[0]] += 1
        self.bad_log.append((peer, reason))

    def datagram(self, payload, peer=None):
        """Stamped commands for the new messages in one datagram (maybe none)."""
        try:
            session, sequence, records = split_datagram(payload)
        except WireError as error:
            self._refuse(peer, f"undecodable: {error}")
            return []
        if peer is not None:
            self.peers[session] = peer
        verdict = self.tracker.check(session, sequence, len(records))
        if verdict.missing:
            self.gap_log.append((session, *verdict.missing))
        commands = []
        for record in records[verdict.skip:]:
            commands.append(self._command(session, record))
        self.messages += len(commands)
        return commands

    def _order_id(self, session, token, new=False):
        key = (session, token)
        order_id = self.order_ids.get(key)
        if order_id is None and new:
            order_id = self.next_order_id
            self.next_order_id += 1
            self.order_ids[key] = order_id
            self.owners[order_id] = key
        return order_id or 0        # 0: the engine answers "unknown order"

    def _command(self, session, record):
        code = record[0]
        stamp = self.sequencer
        if code == _ENTER:
            _, token, stock, side, order_type, tif, shares, price, stop = record
            # A reused token reaches the engine with its first order's id: a duplicate.
            order_id = self._order_id(session, token, new=True)
            command = stamp.new_order(self.symbol_ids.get(stock, 0), order_id, session, side,
                                      order_type, tif, price, shares, stop)
            self.origins[command[1]] = (session, token, token)
            return command
        if code == _CANCEL:
            command = stamp.cancel(self._order_id(session, record[1]), session)
            self.origins[command[1]] = (session, record[1], record[1])
            return command
        _, existing, replacement, shares, price = record
        order_id = self._order_id(session, existing)
        if order_id and replacement != existing:
            self.order_ids[(session, replacement)] = order_id
            self.owners[order_id] = (session, replacement)
        command = stamp.replace(order_id, session, price, shares)
        self.origins[command[1]] = (session, replacement, existing)
        return command

    def token_of(self, order_id):
        """(session, client token) of an exchange order id, for replies."""
        return self.owners.get(order_id)


def flow_datagrams(commands, symbols, batch=1):
    """The datagrams (session, payload) that would carry `commands` (internal
    command tuples) from their users, `batch` messages per datagram at most.

    The session is the command's user; tokens are the order ids. Mass-cancel
    and admin commands have no order-entry message and are left out.
    """
    names = {spec.symbol_id: spec.name for spec in symbols}
    pending, sequences, out = {}, {}, []
    order_fields = internal.NEW_ORDER.field_names
    col = {name: order_fields.index(name) + 1 for name in order_fields}

    def flush(session):
        records = pending.pop(session, [])
        if records:
            first = sequences.get(session, 1)
            sequences[session] = first + len(records)
            out.append((session, encode_datagram(session, first, records)))

    for command in commands:
        code = command[0]
        if code == internal.NEW_ORDER.code:
            session = command[col["user"]]
            record = (_ENTER, command[col["order_id"]], names.get(command[col["symbol"]], "?"),
                      command[col["side"]], command[col["order_type"]], command[col["tif"]],
                      command[col["qty"]], command[col["price"]], command[col["stop_price"]])
        elif code == internal.CANCEL.code:
            _, _, _, order_id, session = command
            record = (_CANCEL, order_id)
        elif code == internal.REPLACE.code:
            _, _, _, order_id, session, price, qty = command
            record = (_REPLACE, order_id, order_id, qty, price)
        else:
            continue
        pending.setdefault(session, []).append(record)
        if len(pending[session]) >= batch:
            flush(session)
    for session in list(pending):
        flush(session)
    return out
