"""FIX 4.4 order entry for an `Exchange`: an acceptor over TCP, polled, no thread per client.

# Ref: host/net/order_entry_api.py (the OrderEntry interface), FIX 4.4, docs/fix.md.

`FixEntry` listens on one TCP address; each poll (`receive`) accepts new
connections, reads every ready socket (non-blocking, one selector), and
takes each framed message through the session layer (session.py; logons are
checked against the exchange's accounts on a worker thread, as OUCH's are)
and order messages through `Requests` (requests.py) into stamped commands.
Every applied command's events become ExecutionReports and the other answers
(state.py) for the owners of FIX orders; with a journal they are numbered at
once and held until the log acknowledges them, and anything the same user is
sent after them waits behind them, so numbers go out in order.

The log keeps each command's `FixOrigin` (log_origin.py) and the `FixState`
it rebuilds: ClOrdIDs of live orders, FIX quantities, each user's session
numbers. After a restart a client logs on again and its numbers go on; what
it missed is sent again from the messages kept since the process started,
and gap-filled before that.
"""

import selectors
import socket
from collections import Counter

from gatebook.wire.enums import OrderEntryProtocol
from gatebook.wire.positions import INTERNAL

from ..net.limits import UserLimits
from .dictionary import TAG
from .log_origin import FIX_LOG, encode_origin
from .logons import LogonGate
from .outbound import Outbound
from .requests import RequestError, Requests
from .session import APPLICATION, Connection, SessionReject, check_fields
from .state import NEW, FixState

__all__ = ["FixEntry"]

_SEQ = INTERNAL.NEW_ORDER.seq
_FIX = int(OrderEntryProtocol.FIX)
# Outbound numbers jump this far after a restart: session messages sent after the last
# logged command are in no log, and a number below what the client saw ends its session
# (FIX: "MsgSeqNum too low"), while a gap is only filled (SequenceReset-GapFill).
RESTART_SKIP = 10_000
MAX_WAITING = 1024                       # framed messages held per connection


class FixEntry:
    """FIX 4.4 order entry on one TCP address (an `OrderEntry`; see the module docstring).

    Parameters
    ----------
    listen : (host, port)
        Where the acceptor listens (port 0: any free port; see `address`).
    accounts : gatebook.host.net.accounts.Accounts
        Whose Username (553) and Password (554) a Logon must carry.
    comp_id : str
        The exchange's CompID: clients send it as TargetCompID.
    client_comp_id : str or None
        When set, the only SenderCompID a client may use.
    max_connections, logon_timeout, max_live_orders, messages_per_second
        Limits: connections held, seconds a connection may stay without a logon,
        per-user live orders and messages a second (host/net/limits.py).
    check_in_thread : bool
        Check passwords on a worker thread (the default) or inline.
    """

    protocol = OrderEntryProtocol.FIX

    def __init__(self, listen, accounts, comp_id="GATEBOOK", client_comp_id=None,
                 max_connections=256, logon_timeout=10.0, max_live_orders=100_000,
                 messages_per_second=100_000, check_in_thread=True, failed_logons=(5, 60.0)):
        if accounts is None:
            raise ValueError("FIX order entry needs accounts: every Logon is checked")
        self.accounts, self.comp_id, self.client_comp_id = accounts, comp_id, client_comp_id
        self.max_connections, self.logon_timeout_ns = max_connections, int(logon_timeout * 1e9)
        self._limit_options = (max_live_orders, messages_per_second)
        self._gate_options = (accounts, comp_id, client_comp_id, failed_logons, check_in_thread)
        self.listener = socket.create_server(listen, backlog=128)
        self.listener.setblocking(False)
        self.address = self.listener.getsockname()[:2]
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, None)
        self.connections, self.by_user = {}, {}
        self.bad = Counter()                # refusals and cut connections, by kind
        self.messages = 0
        self.listeners = ()
        self.gate = self.outbound = None
        self._origins, self._batch, self._journaled = {}, [], False

    def attach(self, context):
        """Take the exchange's sequencer and order ids and any recovered FixState."""
        recovered = context.recovered
        self.state = recovered.copy() if recovered is not None else FixState()
        for numbers in self.state.numbers.values():
            numbers[1] += RESTART_SKIP
        self.state.names = {spec.symbol_id: spec.name for spec in context.symbols}
        self.requests = Requests(self.state, context.symbols, context.sequencer,
                                 context.order_ids)
        self.clock, self._journaled, self._counts = context.clock, context.journaled, \
            context.counts
        self.limits = UserLimits(context.clock, *self._limit_options)
        if context.engine is not None:
            self.limits.seed(context.engine)
        self.listeners = (self._hear, self.limits.observe)
        accounts, comp_id, client_comp_id, failed_logons, check_in_thread = self._gate_options
        self.gate = LogonGate(accounts, comp_id, client_comp_id, context.clock, failed_logons,
                              check_in_thread)
        self.outbound = Outbound(self.state, comp_id, context.clock, self.by_user.get)

    @property
    def logons(self):
        """Logons by outcome: accepted, wrong_password, unknown_user, too_many_tries, ..."""
        return self.gate.logons

    # -- receiving ------------------------------------------------------------

    def receive(self, burst):
        """(messages taken, stamped commands): at most `burst` messages per connection.

        A connection with `MAX_WAITING` framed messages waiting is not read until
        they are taken: TCP holds a flood back at the sender, not in our memory.
        """
        now = self.clock()
        self._settle_logons(now)
        for key, _ in self.selector.select(0):
            if key.data is None:
                self._accept(now)
                continue
            connection = key.data
            if len(connection.inbox) < MAX_WAITING and not connection.read(now, self.bad):
                self._drop(connection)
        received = sum(min(len(c.inbox), burst) for c in self.connections.values()
                       if not c.checking)
        if not received:
            return 0, ()
        return received, self._commands(now, burst)

    def _accept(self, now):
        for _ in range(16):
            try:
                sock, peer = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.bad["accept_error"] += 1
                return
            if len(self.connections) >= self.max_connections:
                self.bad["too_many_connections"] += 1
                sock.close()
                continue
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection = Connection(sock, peer[:2], now)
            self.connections[sock.fileno()] = connection
            self.selector.register(sock, selectors.EVENT_READ, connection)

    def _commands(self, now, burst):
        for connection in list(self.connections.values()):
            for _ in range(burst):
                if not connection.inbox or connection.checking or connection.closed:
                    break
                fields, twice = connection.inbox.popleft()
                yield from self._message(connection, fields, twice, now)

    def _message(self, connection, fields, twice, now):
        msg_type = fields.get(TAG.MsgType, "")
        try:
            check_fields(fields, twice)
        except SessionReject as error:
            if connection.user is None:
                self.gate.refuse(connection, "malformed_logon", str(error))
                return
            self.bad["session_reject"] += 1
            self._take_number(connection, fields)
            self._reject(connection, fields, error.reason, error.tag, str(error))
            return
        if connection.user is None:
            if msg_type != "A":
                self.gate.refuse(connection, "not_logged_on", "the first message is a Logon")
            else:
                self.gate.start(connection, fields, now,
                                sum(c.checking for c in self.connections.values()))
            return
        if fields[TAG.SenderCompID] != connection.comp_id or \
                fields[TAG.TargetCompID] != self.comp_id:
            self.bad["comp_id"] += 1
            self._reject(connection, fields, 9, TAG.SenderCompID, "CompID problem")
            self._logout(connection, "CompID problem")
            return
        numbers = self.state.numbers_of(connection.user)
        seq = int(fields[TAG.MsgSeqNum])
        if msg_type == "4" and fields.get(TAG.GapFillFlag) != "Y":
            numbers[0] = max(numbers[0], int(fields[TAG.NewSeqNo]))     # reset mode
            return
        if seq < numbers[0]:
            if fields.get(TAG.PossDupFlag) == "Y":
                self.bad["duplicate"] += 1
                return
            self.bad["seq_too_low"] += 1
            self._logout(connection, f"MsgSeqNum too low, expecting {numbers[0]} but "
                                     f"received {seq}")
            return
        if seq > numbers[0]:
            if not connection.resend_asked:
                connection.resend_asked = True
                self._send(connection.user, "2", [(TAG.BeginSeqNo, numbers[0]),
                                                  (TAG.EndSeqNo, 0)])
            if msg_type == "2":
                self._resend(connection, fields)
            elif msg_type == "5":
                self._logout(connection, "logged out")
            return
        connection.resend_asked = False
        if msg_type in APPLICATION:
            yield from self._order(connection, msg_type, fields, seq, numbers)
            return
        numbers[0] = seq + 1
        if msg_type == "0":
            if connection.test_sent and fields.get(TAG.TestReqID) == connection.test_sent[0]:
                connection.test_sent = None
        elif msg_type == "1":
            self._send(connection.user, "0", [(TAG.TestReqID, fields[TAG.TestReqID])])
        elif msg_type == "2":
            self._resend(connection, fields)
        elif msg_type == "4":
            numbers[0] = max(seq + 1, int(fields[TAG.NewSeqNo]))
        elif msg_type == "5":
            self._logout(connection, "logged out")
        elif msg_type != "3":
            self.bad["unexpected"] += 1
            self._reject(connection, fields, 11, TAG.MsgType, f"MsgType {msg_type} "
                                                              "is not sent by a client here")

    def _order(self, connection, msg_type, fields, seq, numbers):
        user = connection.user
        numbers[0] = seq + 1
        over = self.limits.allows(user, 1, msg_type == NEW)
        try:
            if over is not None:
                raise RequestError(over, "over the user's " + (
                    "message rate" if over == "rate" else "live-order limit"))
            command, origin = self.requests.command(user, msg_type, fields, seq, numbers[1])
        except RequestError as error:
            self.bad[error.kind] += 1
            self._send(*self.requests.refusal(user, msg_type, fields, error))
            return
        self.messages += 1
        self._origins[command[_SEQ]] = origin
        yield command

    def _take_number(self, connection, fields):
        """A rejected message still uses its number (FIX: Reject, then go on)."""
        numbers = self.state.numbers_of(connection.user)
        seq = fields.get(TAG.MsgSeqNum, "")
        if seq.isdigit() and int(seq) == numbers[0]:
            numbers[0] += 1

    # -- logons and sending -----------------------------------------------------

    def _settle_logons(self, now):
        connections = list(self.connections.values())
        for connection, account in self.gate.settled(connections, now):
            self._logged_on(connection, account)
        for connection in connections:
            if connection.user is None and not connection.checking and not connection.closing \
                    and now - connection.opened > self.logon_timeout_ns:
                self.bad["logon_timeout"] += 1
                self._drop(connection)

    def _logged_on(self, connection, account):
        fields, user = connection.logon, account.user_id
        if user in self.by_user:
            self.gate.refuse(connection, "already_logged_on", "this user is logged on on "
                                                              "another connection")
            return
        self.gate.logons["accepted"] += 1
        connection.user, connection.comp_id = user, fields[TAG.SenderCompID]
        connection.heartbeat_ns = int(fields[TAG.HeartBtInt]) * 1_000_000_000
        self.by_user[user] = connection
        numbers = self.state.numbers_of(user)
        if fields.get(TAG.ResetSeqNumFlag) == "Y":
            numbers[:] = [1, 1]
            self.outbound.forget(user)
        self.outbound.flush(user)           # what waited for no one is not for this socket
        seq = int(fields[TAG.MsgSeqNum])
        if seq < numbers[0]:
            self._logout(connection, f"MsgSeqNum too low, expecting {numbers[0]} but "
                                     f"received {seq}")
            return
        self._send(user, "A", [(TAG.EncryptMethod, 0), (TAG.HeartBtInt,
                                                        fields[TAG.HeartBtInt])])
        if seq > numbers[0]:
            connection.resend_asked = True
            self._send(user, "2", [(TAG.BeginSeqNo, numbers[0]), (TAG.EndSeqNo, 0)])
        else:
            numbers[0] = seq + 1

    def _send(self, user, msg_type, body, held=False):
        return self.outbound.send(user, msg_type, body, held)

    def _reject(self, connection, fields, reason, tag, text):
        self._send(connection.user, "3", [
            (TAG.RefSeqNum, fields.get(TAG.MsgSeqNum, "0")[:18] or "0"),
            (TAG.RefTagID, tag), (TAG.RefMsgType, fields.get(TAG.MsgType, "?")[:2]),
            (TAG.SessionRejectReason, reason), (TAG.Text, text)])

    def _logout(self, connection, text):
        self._send(connection.user, "5", [(TAG.Text, text)])
        self.outbound.flush(connection.user)
        connection.closing = True
        connection.inbox.clear()

    def _resend(self, connection, fields):
        self._counts["fix_resend_requests"] += 1
        self.outbound.resend(connection, int(fields[TAG.BeginSeqNo]), int(fields[TAG.EndSeqNo]))

    # -- the exchange's side ----------------------------------------------------

    def _hear(self, events):
        if not events:
            return
        origin = self._origins.pop(events[0][_SEQ], None)
        for user, msg_type, body in self.state.reports(events, origin):
            entry = self._send(user, msg_type, body, held=self._journaled)
            if self._journaled:
                self._batch.append((user, entry))      # released by send() once logged

    def origin(self, command):
        """(FIX, the FixOrigin's bytes) of a command this entry stamped, or None."""
        found = self._origins.get(command[_SEQ])
        return None if found is None else (_FIX, encode_origin(found))

    def refuse(self, command, reason):
        origin = self._origins.pop(command[_SEQ], None)
        self.bad["unloggable"] += 1
        if origin is not None:
            self._send(*self.requests.refusal(
                origin.user, origin.kind, {TAG.ClOrdID: origin.clordid,
                                           TAG.OrigClOrdID: origin.orig_clordid},
                RequestError("unloggable", reason)))

    def end_burst(self, hold):
        batch, self._batch = self._batch, []
        self._timers(self.clock())          # also under steady traffic on another entry
        self._write_all()
        return batch if hold and batch else None

    def send(self, batch):
        """Release replies the journal acknowledged, in order, with what waited behind them."""
        self.outbound.release(entry for _, entry in batch or ())
        self._write_all()

    def idle(self):
        now = self.clock()
        self._settle_logons(now)
        self._timers(now)
        self._write_all()

    def _timers(self, now):
        """Heartbeats after HeartBtInt of our silence; a TestRequest after 1.2 HeartBtInt
        of the client's, and the connection cut if that goes unanswered for another."""
        for connection in list(self.connections.values()):
            if connection.user is None or connection.closing:
                continue
            interval = connection.heartbeat_ns
            if now - connection.last_out >= interval:
                connection.last_out = now   # also while it waits behind held reports
                self._send(connection.user, "0", [])
            if connection.test_sent is not None:
                if now - connection.test_sent[1] > interval:
                    self.bad["heartbeat_timeout"] += 1
                    self._drop(connection)
            elif now - connection.last_in > interval * 6 // 5:
                connection.test_sent = (f"T{now}", now)
                self._send(connection.user, "1", [(TAG.TestReqID, connection.test_sent[0])])

    def _write_all(self):
        self.outbound.flush_all()
        for connection in list(self.connections.values()):
            if not connection.flush(self.bad):
                self._drop(connection)

    def _drop(self, connection):
        if connection.closed:
            return
        try:
            self.selector.unregister(connection.sock)
        except (KeyError, ValueError):
            pass
        self.connections.pop(connection.sock.fileno(), None)
        if connection.user is not None and self.by_user.get(connection.user) is connection:
            del self.by_user[connection.user]
        connection.close()

    def export_state(self):
        frozen = self.state.copy()
        return lambda: FIX_LOG.encode_state(frozen)

    def close(self):
        """Close every connection and the listener; stop the logon checker. Safe twice."""
        if self.listener.fileno() < 0:
            return
        for connection in list(self.connections.values()):
            self._drop(connection)
        self.selector.close()
        self.listener.close()
        if self.gate is not None:
            self.gate.close()
