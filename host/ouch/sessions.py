"""The session layer in front of the order-entry gateway: logins, and who may do what.

# Ref: gatebook/wire/ouch.py (the session messages), NASDAQ SoupBinTCP 4.1
#      (login, logout, heartbeats, end of session).

A LOGIN_REQUEST from a peer is checked against the exchange's accounts
(`gatebook.host.net.accounts`, Argon2 hashes, checked on a worker thread so a login
never stalls matching); an accepted login gets an unguessable nonzero 32-bit
session id bound to (account, peer, last heard). Every other datagram is
admitted only if its session id is bound and it comes from the bound peer;
anything else is refused before it touches any state (no sequence tracker,
no peer table, no replies redirected), counted by kind in the gateway's
`bad`, and answered with REFUSED and the reason when that answer is not
larger than what came and the reply budget allows (the exchange is no
reflector). A session expires after `timeout_ns` of silence (heartbeats keep
it alive); LOGOUT_REQUEST ends it; a user's new login replaces its old
session; the table holds `max_sessions` at most.

Orders belong to users: an admitted datagram reaches the gateway under the
account's user id instead of the session id, so the gateway's token map,
inbound and reply numbering and reply address are the user's, and a user's
next session goes on where the last stopped. MASS_CANCEL (the user's own
orders; everyone's, or another user's, for an admin) and ADMIN (halt,
resume, end of day, kill: admins only) are numbered like orders, checked
against the account's role (`host/net/roles.py`) and stamped by the
gateway's sequencer here.
"""

import secrets
from collections import Counter, OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor

from gatebook.wire import ouch
from gatebook.wire.enums import LoginRejectReason, LogoutReason, SessionRefusal
from gatebook.wire.positions import INTERNAL, OUCH

from ..net.limits import FailedLogins, TokenBucket, UserLimits
from ..net.order_entry_api import SETTLE
from ..net.roles import admin_command, mass_cancel_command
from .framing import HEADER_STRUCT, RAW_INBOUND, RAW_OUTBOUND

__all__ = ["SessionLayer", "Session"]

_HEADER, _HEADER_PACK = HEADER_STRUCT.size, HEADER_STRUCT.pack
_ORDER_SIZES = {message.code: message.size for message in ouch.ORDER_MESSAGES}
_ENTER = ouch.ENTER_ORDER.code
_MIN_MESSAGE = min(_ORDER_SIZES.values())
_LOGIN, _LOGOUT, _MASS, _ADMIN = (ouch.LOGIN_REQUEST.code, ouch.LOGOUT_REQUEST.code,
                                  ouch.MASS_CANCEL.code, ouch.ADMIN.code)
_SESSION_CODES = frozenset(message.code for message in ouch.SESSION_MESSAGES)
_UNPACK = {code: RAW_INBOUND[code].unpack_from for code in _SESSION_CODES}
# Field positions in the unpacked login and in a command, from the tables.
_LOGIN_NAME, _LOGIN_PASSWORD = OUCH.LOGIN_REQUEST.username, OUCH.LOGIN_REQUEST.password
_LOGIN_SEQUENCE = OUCH.LOGIN_REQUEST.requested_sequence_number
_SEQ = INTERNAL.MASS_CANCEL.seq
assert INTERNAL.ADMIN.seq == _SEQ, "mass cancel and admin carry seq alike"
_PACK = {message.code: RAW_OUTBOUND[message.code].pack for message in (
    ouch.LOGIN_ACCEPTED, ouch.LOGIN_REJECTED, ouch.LOGGED_OUT, ouch.REFUSED)}
_REFUSED_SIZE = _HEADER + ouch.REFUSED.size
_OVER = {"rate": SessionRefusal.RATE_LIMITED,
         "live_orders": SessionRefusal.TOO_MANY_LIVE_ORDERS}
_EMPTY = bytes(_HEADER)          # a heartbeat's bytes
_LAST_NUMBER = 1 << 63          # a message number at or past this is refused: no wrap


class Session:
    """One logged-in session: its id, account, bound peer and when it was last heard."""

    __slots__ = ("id", "account", "peer", "last_heard")

    def __init__(self, session_id, account, peer, now):
        self.id, self.account, self.peer, self.last_heard = session_id, account, peer, now


class SessionLayer:
    """Logins and admission in front of one `Gateway` (see the module docstring).

    Parameters
    ----------
    gateway : gatebook.host.ouch.gateway.Gateway
        Takes the admitted datagrams, keyed by user id; its sequencer stamps
        mass cancels and admin commands, its `refuse` counts refusals.
    accounts : gatebook.host.net.accounts.Accounts
    clock : callable returning int nanoseconds
        Session expiry, failed-login windows and the reply budget read it.
    timeout_ns : int
        Silence after which a session expires (default 15 s).
    max_sessions : int
        Sessions held at most; a login beyond is rejected TABLE_FULL.
    failed_logins : (int, int)
        At most this many failed logins per source IP and user name per that
        many ns (20 times as many per source IP).
    replies_per_second : int
        REFUSED and LOGIN_REJECTED answers sent at most, all peers together.
    replier : gatebook.host.ouch.replier.Replier, optional
        Says the next reply number in LOGIN_ACCEPTED (1 without one).
    history : gatebook.host.ouch.reply_history.ReplyHistory, optional
        Replies sent again to a login that asks for them from a number.
    max_live_orders : int or None
        Live orders a user may have (default 100,000; None: no limit).
    messages_per_second : int or None
        Messages a user may send a second (default 100,000; None: no limit).
        A datagram over either limit is refused whole (`host/net/limits.py`).
    session_ids : callable, optional
        Draws a candidate session id; by default 32 bits from `secrets`
        (tests that compare two exchanges give both the same draws).
    check_in_thread : bool
        Check passwords on a worker thread (the default) or inline (tests
        that want a login settled in the same call).
    """

    def __init__(self, gateway, accounts, clock, timeout_ns=15_000_000_000, max_sessions=1024,
                 failed_logins=(5, 60_000_000_000), replies_per_second=100,
                 replier=None, history=None, max_live_orders=100_000, messages_per_second=100_000,
                 session_ids=None, check_in_thread=True, pending_checks=16):
        self.gateway, self.accounts, self.clock = gateway, accounts, clock
        self.replier, self.history = replier, history
        self.limits = UserLimits(clock, max_live_orders, messages_per_second)
        self._draw = session_ids or (lambda: secrets.randbits(32))
        self.timeout_ns, self.max_sessions = timeout_ns, max_sessions
        self.sessions = {}                  # session id -> Session
        self.session_of_user = {}           # user id -> session id
        self.ended = OrderedDict()          # recently ended session id -> SessionRefusal
        self.failures = FailedLogins(*failed_logins)
        self._swept = clock()
        self.logins = Counter()             # accepted, unknown_user, wrong_password, ...
        self.outbox = []                    # (payload, peer) to send now: session replies
        self._ended_users = set()           # users whose session ended in this burst
        self._budget = TokenBucket(replies_per_second, clock)
        self._pending = deque()             # (future or result, peer, requested)
        self._max_pending = pending_checks
        self._checker = ThreadPoolExecutor(1, "login-check") if check_in_thread else None
        # With a pipelined engine: callable() -> commands in flight (EntryContext.in_flight)
        self.in_flight = None

    def close(self):
        """Stop the password-checking thread."""
        if self._checker is not None:
            self._checker.shutdown(wait=True, cancel_futures=True)

    # -- the datagrams ------------------------------------------------------

    def receive(self, payload, peer):
        """Stamped commands for one datagram from `peer` (`Gateway.datagram`'s
        job, behind the session checks): frames it, then `commands`."""
        frame = self.gateway.frame(payload, peer)
        if frame is None:
            if len(payload) >= _HEADER:
                session, sequence, _ = HEADER_STRUCT.unpack_from(payload)
                self._answer(session, sequence, peer, len(payload), SessionRefusal.MALFORMED)
            return ()
        return self.commands(payload, (frame,), len(payload))

    def commands(self, data, frames, size=None):
        """What `Gateway.commands` gives for the admitted `frames` in `data`, plus
        the commands of mass cancels and admin messages, in datagram order.

        Each frame is the gateway's `(session, sequence_number, count, offset,
        peer, error)`; `size` is the datagram's length when there is one frame
        (else each is taken as at least its header and messages).
        """
        admitted = []
        for frame in frames:
            session, sequence, count, at, peer, error = frame
            if error is not None:
                admitted.append(frame)      # the gateway counts and logs it
                continue
            received = size or _HEADER + count * _MIN_MESSAGE
            if count and data[at] in _SESSION_CODES:
                if admitted:
                    yield from self.gateway.commands(data, admitted)
                    admitted = []
                if count != 1:
                    self._refuse(session, sequence, peer, received, SessionRefusal.NOT_ALONE)
                    continue
                yield from self._session_message(data, session, sequence, at, peer, received)
                continue
            bound = self._admit(session, sequence, count, peer, received)
            if bound is None:
                continue
            walk, enters = at, 0
            for _ in range(count):
                code = data[walk]
                width = _ORDER_SIZES.get(code)
                if width is None:
                    break
                enters += code == _ENTER
                walk += width
            else:
                user = bound.account.user_id
                if enters and self.in_flight is not None and self._near_limit(user, enters):
                    yield SETTLE            # the orders in flight decide the live count
                over = self.limits.allows(user, count, enters)
                if over is None:
                    admitted.append((user, sequence, count, at, peer, None))
                else:
                    self._refuse(session, sequence, peer, received, _OVER[over])
                continue
            self._refuse(session, sequence, peer, received, SessionRefusal.NOT_ALONE)
        if admitted:
            yield from self.gateway.commands(data, admitted)

    def _near_limit(self, user, enters):
        """True when commands in flight could decide whether `user` may enter `enters`
        more orders (each may be a new live order, or end one)."""
        limits, in_flight = self.limits, self.in_flight()
        return in_flight and limits.max_live_orders is not None \
            and limits.live[user] + enters + in_flight > limits.max_live_orders

    def _admit(self, session_id, sequence, count, peer, received):
        """The Session a datagram may act for, its silence reset; None (refused,
        counted, answered) otherwise."""
        session = self.sessions.get(session_id)
        if session is None:
            self._refuse(session_id, sequence, peer, received,
                         self.ended.get(session_id, SessionRefusal.UNKNOWN_SESSION))
            return None
        if peer != session.peer:
            self._refuse(session_id, sequence, peer, received, SessionRefusal.WRONG_PEER)
            return None
        now = self.clock()
        if now - session.last_heard > self.timeout_ns:
            self._end(session, SessionRefusal.EXPIRED)
            self._refuse(session_id, sequence, peer, received, SessionRefusal.EXPIRED)
            return None
        if sequence + count >= _LAST_NUMBER:
            self._refuse(session_id, sequence, peer, received, SessionRefusal.OUT_OF_RANGE)
            return None
        session.last_heard = now
        return session

    def _refuse(self, session, sequence, peer, received, reason):
        self.gateway.refuse(peer, f"session {session}: {reason.text}", reason.name.lower())
        self._answer(session, sequence, peer, received, reason)

    def _answer(self, session, sequence, peer, received, reason):
        # Never larger than what came, never more than the budget: no reflector.
        if peer is not None and received >= _REFUSED_SIZE and self._budget.take():
            self.outbox.append((_HEADER_PACK(session, sequence, 1)
                                + _PACK[ouch.REFUSED.code](ouch.REFUSED.code, reason), peer))

    # -- session messages -------------------------------------------------------

    def _session_message(self, data, session_id, sequence, at, peer, received):
        code = data[at]
        fields = _UNPACK[code](data, at)
        if code == _LOGIN:
            self._login(fields[_LOGIN_NAME], fields[_LOGIN_PASSWORD], fields[_LOGIN_SEQUENCE], peer)
            return
        session = self._admit(session_id, sequence if code != _LOGOUT else 0,
                              1, peer, received)
        if session is None:
            return
        if code == _LOGOUT:
            self._end(session, SessionRefusal.LOGGED_OUT)
            self._send(session.id, 0, ouch.LOGGED_OUT, LogoutReason.REQUESTED, peer)
            return
        user = session.account.user_id
        if self.gateway.tracker.check(user, sequence, 1).skip:
            return                          # a duplicate, counted by the tracker
        make = mass_cancel_command if code == _MASS else admin_command
        command = make(session.account, fields, self.gateway.symbol_ids, self.gateway.sequencer)
        if isinstance(command, SessionRefusal):
            self._refuse(session_id, sequence, peer, received, command)
        else:
            self.gateway.note_origin(command[_SEQ], user, sequence)
            yield command

    # -- logins -------------------------------------------------------------------

    def _login(self, username, password, requested, peer):
        if peer is None:
            return
        name = username.rstrip(b" ").decode("latin-1")
        now = self.clock()
        if self.failures.too_many(peer[0], name, now):
            self._reject(peer, "too_many_tries", LoginRejectReason.TOO_MANY_TRIES)
            return
        if len(self._pending) >= self._max_pending:
            self._reject(peer, "busy", LoginRejectReason.BUSY)
            return
        secret = password.rstrip(b" ").decode("latin-1")
        if self._checker is None:
            self._pending.append((self._check(name, secret), peer, requested, name))
            self.settle()
        else:
            self._pending.append((self._checker.submit(self._check, name, secret),
                                  peer, requested, name))

    def _check(self, name, secret):
        try:
            return self.accounts.verify(name, secret)
        except Exception:                   # a check that fails is a failed login
            return None, "check_failed"

    def settle(self):
        """Answer the logins whose password check has finished, in arrival order;
        sweep expired sessions once a second. The exchange calls it once per poll."""
        now = self.clock()
        if now - self._swept > 1_000_000_000:
            self._swept = now
            self.sweep()
        while self._pending:
            outcome, peer, requested, name = self._pending[0]
            if not isinstance(outcome, tuple):
                if not outcome.done():
                    break
                outcome = outcome.result()
            self._pending.popleft()
            account, failure = outcome
            if account is None:
                self._failed(peer, name, failure)
            else:
                self._open(account, peer, requested)

    def _failed(self, peer, name, failure):
        self.failures.record(peer[0], name, self.clock())
        self._reject(peer, failure, LoginRejectReason.NOT_AUTHORIZED)

    def _reject(self, peer, kind, reason):
        self.logins[kind] += 1
        self.gateway.refuse(peer, f"login: {kind.replace('_', ' ')}", "login_rejected")
        if self._budget.take():
            self._send(0, 0, ouch.LOGIN_REJECTED, reason, peer)

    def _open(self, account, peer, requested=0):
        user = account.user_id
        previous = self.sessions.get(self.session_of_user.get(user))
        if previous is not None:
            self._end(previous, SessionRefusal.LOGGED_OUT)
            self._send(previous.id, 0, ouch.LOGGED_OUT, LogoutReason.REPLACED, previous.peer)
        if len(self.sessions) >= self.max_sessions:
            self.sweep()
        if len(self.sessions) >= self.max_sessions:
            self._reject(peer, "table_full", LoginRejectReason.TABLE_FULL)
            return
        session_id = 0
        while not session_id or session_id in self.sessions or session_id in self.ended:
            session_id = self._draw() & 0xFFFF_FFFF
        self.sessions[session_id] = Session(session_id, account, peer, self.clock())
        self.session_of_user[user] = session_id
        self.logins["accepted"] += 1
        expected = self.gateway.tracker.expected.get(user, 1)
        # A heartbeat under the user binds the replies to the new peer, through
        # the gateway itself (the compiled one mirrors its peers in C).
        for _ in self.gateway.commands(_EMPTY, ((user, expected, 0, _HEADER, peer, None),)):
            pass
        replies = self.replier.sequences.get(user, 1) if self.replier is not None else 1
        self._send(session_id, 0, ouch.LOGIN_ACCEPTED, (session_id, user, expected, replies),
                   peer)
        if requested and self.history is not None:
            # SoupBinTCP's sequenced replay: the kept replies from `requested` on.
            self.outbox += self.history.datagrams(user, requested, peer)

    def _send(self, session, sequence, message, values, peer):
        values = values if isinstance(values, tuple) else (values,)
        self.outbox.append((_HEADER_PACK(session, sequence, 1)
                            + _PACK[message.code](message.code, *values), peer))

    def _end(self, session, why):
        del self.sessions[session.id]
        user = session.account.user_id
        if self.session_of_user.get(user) == session.id:
            del self.session_of_user[user]
            self._ended_users.add(user)     # its address goes after this burst's replies
        self.ended[session.id] = why
        while len(self.ended) > 4 * self.max_sessions:
            self.ended.popitem(last=False)

    def sweep(self):
        """End every session silent for longer than the timeout."""
        now = self.clock()
        for session in [s for s in self.sessions.values()
                        if now - s.last_heard > self.timeout_ns]:
            self._end(session, SessionRefusal.EXPIRED)

    def forget_ended(self):
        """After a burst's replies are flushed: a user whose session ended and
        who has not logged in again has no address any more, so reports of its
        resting orders are numbered but sent nowhere until it logs in again."""
        for user in self._ended_users:
            if user not in self.session_of_user:
                self.gateway.forget_peer(user)
        self._ended_users.clear()

    def take_outbox(self):
        """The session replies to send now, emptied."""
        out, self.outbox = self.outbox, []
        return out
