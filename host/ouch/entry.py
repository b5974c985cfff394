"""OUCH order entry for an `Exchange`: the session layer, gateway and replier over one port.

# Ref: host/net/order_entry_api.py (the OrderEntry interface), docs/network.md.

`OuchEntry` is the OUCH-style datagram protocol as an `OrderEntry`: it owns
a `DatagramPort` (DPDK or kernel socket); each burst goes through the
session layer (logins; only a logged-in session's datagrams from its own
address pass, under the user's id; sessions.py) and the gateway (decode,
sequence check, client tokens to exchange order ids; gateway.py), and the
replier (replier.py) turns every applied command's events into execution
reports for the users who own the orders, kept in a reply history
(reply_history.py) for a client that logs in again and asks.

With a journal, each command is logged with its INPUT_ORIGIN (session,
message number, tokens, peer: log_origin.py), and the entry starts from the
`GatewayState` recovery rebuilt from the log, so a restart keeps client
tokens, session numbering and reply numbering. Sessions die with the
process: after a restart no one is logged in, so no report goes anywhere
until its user logs in again.

With a pipelined engine (`EntryContext.in_flight`) the gateway keeps renames
by sequence number and says when a message must wait for the answers in
flight (gateway.py), the session layer waits when those answers could decide
a user's live-order limit, and `resolve` answers a cancel or replace that
named an order a command in flight ended as the gateway would have answered
it one command at a time: with order id 0, the token no longer naming it.
"""

from gatebook.wire import internal
from gatebook.wire.enums import OrderEntryProtocol
from gatebook.wire.positions import CODE, INTERNAL

from ..engine import MatchingEngine

from .gateway import Gateway
from .log_origin import OUCH_LOG, encode_origin
from .replier import Replier
from .reply_history import KEPT_PER_USER, ReplyHistory
from .sessions import SessionLayer

__all__ = ["OuchEntry"]

_SEQ = INTERNAL.NEW_ORDER.seq       # every command's seq (gatebook.wire.positions)
_OUCH = int(OrderEntryProtocol.OUCH)
# A cancel's or replace's order id, by its type code.
_ORDER_ID_AT = {internal.CANCEL.code: INTERNAL.CANCEL.order_id,
                internal.REPLACE.code: INTERNAL.REPLACE.order_id}


class OuchEntry:
    """OUCH order entry over one datagram port (an `OrderEntry`; see the module docstring).

    Parameters
    ----------
    port : gatebook.dpdk_bridge.udp.DatagramPort
        Receives order datagrams and sends replies. A port with the DPDK fast
        path (`recv_ouch`, `send_replies`) hands whole bursts to the compiled
        gateway and takes the compiled replier's datagrams into its burst.
    accounts : gatebook.host.net.accounts.Accounts
        Who may log in (required: order entry without a login is not served).
    session_options : dict, optional
        Keyword arguments of `gatebook.host.ouch.sessions.SessionLayer` (timeout,
        table size, login and reply limits).
    reply_history : int
        Replies kept per user for a client that logs in again and asks for
        them (reply_history.py); 0 keeps none (and lets a DPDK port write
        replies straight into its send burst).
    compiled : bool or None
        Whether the gateway runs compiled (`Gateway`'s `compiled`).

    Attributes
    ----------
    gateway, replier, sessions, history
        The parts, made by `attach` (None before).
    """

    protocol = OrderEntryProtocol.OUCH
    pipelines = True                    # its commands may be in flight together (resolve)

    def __init__(self, port, accounts, session_options=None, reply_history=KEPT_PER_USER,
                 compiled=None):
        if accounts is None:
            raise ValueError("order entry needs accounts: every datagram is refused "
                             "until its sender logs in")
        self.port, self.accounts = port, accounts
        self._session_options = dict(session_options or {})
        self._kept, self._compiled = reply_history, compiled
        self.gateway = self.replier = self.sessions = self.history = None
        self.listeners = ()
        self._fast = hasattr(port, "recv_ouch")
        self._peer = None                   # the datagram being taken (the Python path)

    def attach(self, context):
        """Build the parts on the exchange's sequencer; take a recovered `GatewayState`."""
        symbols, state = context.symbols, context.recovered
        gateway = self.gateway = Gateway(context.sequencer, symbols, compiled=self._compiled)
        gateway.next_order_id = context.order_ids.next_id
        self.replier = Replier(gateway, symbols)
        self.history = ReplyHistory(self._kept) if self._kept else None
        if self.history is not None and state is not None:
            self.history.seed(state.recent, symbols)
        self.sessions = SessionLayer(gateway, self.accounts, context.clock, replier=self.replier,
                                     history=self.history, **self._session_options)
        if context.engine is not None:
            self.sessions.limits.seed(context.engine)
        if state is not None:
            # Tokens, expected and reply numbers, peers: as the log left them.
            gateway.restore_state(state, self.replier)
            for user in list(gateway.peers):
                gateway.forget_peer(user)
            context.order_ids.at_least(gateway.next_order_id)
        self._order_ids, self._counts = context.order_ids, context.counts
        self._no_orders = None
        if context.in_flight is not None:
            gateway.pipeline()
            self.sessions.in_flight = context.in_flight
            # Answers commands about no order (order id 0) as the engine does: no
            # book holds one, so nothing the engine keeps changes its answer.
            self._no_orders = MatchingEngine(symbols)
        self._origin_of, self._peers = gateway.origins.get, gateway.peers
        self.listeners = (self.replier.add, self.sessions.limits.observe)

    @property
    def messages(self):
        """Order messages taken so far (0 before `attach`)."""
        return self.gateway.messages if self.gateway is not None else 0

    @property
    def path(self):
        """Which gateway and replier run (compiled or Python), and why."""
        return self.gateway.path

    def receive(self, burst):
        """(datagrams received, stamped commands): the session layer's and gateway's.

        A port with the fast path (`DpdkUdp.recv_ouch`) hands over the whole
        burst buffer split in C, up to its own burst size; any other port
        gives `(payload, peer)` pairs that the session layer frames one by one.
        """
        self.sessions.settle()              # logins whose password check is done
        self.gateway.next_order_id = self._order_ids.next_id
        if self._fast:
            data, frames = self.port.recv_ouch()
            return len(frames), self._handing_back(self.sessions.commands(data, frames))
        datagrams = self.port.recv(burst)
        return len(datagrams), self._handing_back(self._commands(datagrams))

    def _commands(self, datagrams):
        receive = self.sessions.receive
        for payload, peer in datagrams:
            self._peer = peer
            yield from receive(payload, peer)
        self._peer = None

    def _handing_back(self, commands):
        # The ids the gateway took go back to the shared counter as soon as its
        # commands end: the next entry polled takes new ones after them.
        yield from commands
        self._order_ids.at_least(self.gateway.next_order_id)

    def origin(self, command):
        """(OUCH, INPUT_ORIGIN bytes) of a command this entry stamped, or None."""
        found = self._origin_of(command[_SEQ])
        if found is None:
            return None
        return _OUCH, encode_origin(command[CODE], found, self._peers.get(found[0]))

    def resolve(self, command, events):
        """The events of a rejected `command` as they would be one command at a time.

        A cancel or replace took its order id from a token that a command then
        in flight freed (a fill, a cancel): one command at a time the token named
        nothing by then, the command carried order id 0 and the engine answered
        that. The token's order is gone from the gateway now, which only such a
        command sees (the gateway forgets an order only when its events say it
        is over, and a command's events come in before anything forgets again).
        """
        at = _ORDER_ID_AT.get(command[CODE])
        if at is None or not command[at] or self._no_orders is None \
                or self.gateway.token_of(command[at]) is not None \
                or self._origin_of(command[_SEQ]) is None:
            return events
        self._counts["late_tokens"] += 1
        return self._no_orders.apply(command[:at] + (0,) + command[at + 1:])

    def refuse(self, command, reason):
        self.gateway.origins.pop(command[_SEQ], None)
        self.gateway.refuse(self._peer, reason, "unloggable")

    def end_burst(self, hold):
        """Answer the sessions; send this burst's replies now, or return them to hold."""
        self._order_ids.at_least(self.gateway.next_order_id)
        self._answer_sessions()
        replier = self.replier
        batch = None
        if hold:
            batch = replier.flush(self.history is not None) or None
        else:
            # A DPDK port takes a compiled replier's datagrams straight into
            # its send burst; any other port sends what flush() gives.
            send_replies = getattr(self.port, "send_replies", None)
            if send_replies is not None and self.history is None:
                self._counts["replies"] += send_replies(replier)
            else:
                self.send(replier.flush(self.history is not None))
        self.sessions.forget_ended()        # after the flush: this burst's replies had them
        return batch

    def idle(self):
        self._order_ids.at_least(self.gateway.next_order_id)
        self._answer_sessions()
        self.sessions.forget_ended()        # sessions the sweep ended

    def _answer_sessions(self):
        # Login answers and refusals are about no logged command: they leave now.
        answers = self.sessions.take_outbox()
        if answers:
            self._counts["session_replies"] += self.port.send(answers)

    def send(self, batch):
        """Send reply datagrams: every one into the history, those with an address out."""
        if not batch:
            return
        if self.history is not None:
            self.history.add(batch)
            batch = [reply for reply in batch if reply[1] is not None]
        if batch:
            self._counts["replies"] += self.port.send(batch)

    def export_state(self):
        """A callable giving the gateway's and replier's state as OUCH_LOG's bytes."""
        state = self.gateway.export_state(self.replier, deferred=True)
        return lambda: OUCH_LOG.encode_state(state())

    def close(self):
        if self.sessions is not None:
            self.sessions.close()
