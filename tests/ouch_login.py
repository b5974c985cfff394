"""Logging in to an order-entry exchange from a test: accounts, the login, the session id.

Every test that sends order datagrams to an `Exchange` (or `gatebook run`)
logs in first: `accounts(...)` makes the exchange's accounts (with cheap
Argon2 parameters, so a test spends milliseconds, not seconds, per login),
`login(...)` sends LOGIN_REQUEST and waits for the answer, and
`as_session(payload, session)` puts a session id into a datagram built
with a user id in its header (`script_datagrams`, `flow_datagrams`).
"""

import time
from typing import NamedTuple

from argon2 import PasswordHasher

from gatebook.wire import ouch
from gatebook.host.net.accounts import Accounts
from gatebook.host.ouch.framing import (HEADER_STRUCT, OUTBOUND_CODEC, decode_datagram,
                                           encode_datagram)

__all__ = ["ListPort", "CHEAP_HASHER", "accounts", "write_accounts", "login_datagram", "login", "Login",
           "as_session", "outbound", "FlowClient", "flow_accounts"]

# Argon2id at its smallest: the tests check the flow, not the hash's strength.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)

_BY_CODE = ouch.OUTBOUND.by_code()


class ListPort:
    """A datagram port over lists: what `recv` hands out, what `send` got."""

    def __init__(self):
        self.inbox, self.sent = [], []

    def recv(self, burst=32):
        out, self.inbox = self.inbox[:burst], self.inbox[burst:]
        return out

    def send(self, datagrams):
        self.sent += datagrams
        return len(datagrams)


def accounts(users, admins=()):
    """Accounts named `user<N>` with user id N and password `pw<N>` for each N
    in `users` (admins among them for those in `admins`)."""
    out = Accounts(hasher=CHEAP_HASHER)
    for user in users:
        out.add(f"user{user}", user, "admin" if user in admins else "trader", f"pw{user}")
    return out


def write_accounts(path, users, admins=()):
    """`accounts(users, admins)` saved to `path`; returns the path."""
    accounts(users, admins).save(path)
    return str(path)


def login_datagram(name, password, requested=0):
    return encode_datagram(0, 0, [(ouch.LOGIN_REQUEST.code, name, password, requested)])


class Login(NamedTuple):
    session:       int
    user_id:       int
    next_inbound:  int
    next_outbound: int


def outbound(payload):
    """(session, sequence_number, [(message name, record)]) of a reply datagram."""
    session, sequence, records = decode_datagram(payload, OUTBOUND_CODEC)
    return session, sequence, [(_BY_CODE[record[0]].name, record) for record in records]


def login(sock, server, user, password=None, pump=lambda: time.sleep(0.005), seconds=10,
          requested=0):
    """Log in as `user<N>` (an int N) or a name from `sock`; the Login, or the
    (message name, record) of the answer when it is not LOGIN_ACCEPTED.
    Replies that arrive meanwhile are left in `sock.early`."""
    name = f"user{user}" if isinstance(user, int) else user
    password = password if password is not None else f"pw{user}"
    sock.send([(login_datagram(name, password, requested), server)])
    deadline = time.monotonic() + seconds
    early = getattr(sock, "early", [])
    answer = None
    while answer is None and time.monotonic() < deadline:
        pump()
        for payload, _ in sock.recv(64):        # the whole batch: replays follow the answer
            _, _, messages = outbound(payload)
            kind, record = messages[0]
            if answer is None and kind == "login_accepted":
                answer = Login(*record[1:])
            elif answer is None and kind == "login_rejected":
                answer = kind, record
            else:
                early.append(payload)
    sock.early = early
    if answer is not None:
        return answer
    raise AssertionError(f"no answer to {name}'s login")


def as_session(payload, session):
    """`payload` with `session` in its header's session field."""
    _, sequence, count = HEADER_STRUCT.unpack_from(payload)
    return HEADER_STRUCT.pack(session, sequence, count) + payload[HEADER_STRUCT.size:]


class FlowClient:
    """One socket that logs in as every user of a flow and sends the flow's
    datagrams (user id in the header, as `flow_datagrams` builds them) under
    those users' sessions. `relogin()` after the exchange restarted."""

    def __init__(self, sock, server, users):
        self.sock, self.server, self.users = sock, server, sorted(set(users))
        self.relogin()

    def relogin(self):
        self.sessions = {user: login(self.sock, self.server, user).session
                         for user in self.users}

    def send(self, datagrams):
        """Send `(user, payload)` datagrams under the users' sessions; how many left."""
        return self.sock.send([(as_session(payload, self.sessions[user]), self.server)
                               for user, payload in datagrams])


def flow_accounts(directory, users=range(1, 1001)):
    """An accounts file beside `directory` (a test's log directory) for users
    1..1000 (every user a seeded flow or test names); its path."""
    import os
    path = os.path.join(os.path.dirname(os.path.abspath(directory)), "accounts.json")
    if not os.path.exists(path):
        write_accounts(path, users)
    return path


def log_in_process(exchange, port, peers, seconds=10):
    """Log users in to an in-process `exchange` whose port is a list port
    (`inbox`, `sent`): `peers` maps each user to the address it sends from.
    Returns {user: session}; the answers are taken out of `port.sent`."""
    answers, users = {}, set(peers)
    port.inbox = [(login_datagram(f"user{user}", f"pw{user}"), peer)
                  for user, peer in peers.items()] + port.inbox
    deadline = time.monotonic() + seconds
    while len(answers) < len(users) and time.monotonic() < deadline:
        exchange.poll()
        kept = []
        for payload, peer in port.sent:
            record = None
            if peer in peers.values() and payload[HEADER_STRUCT.size] == ouch.LOGIN_ACCEPTED.code:
                record = outbound(payload)[2][0][1]
            if record is not None and record[2] in users:
                answers[record[2]] = record[1]
            else:
                kept.append((payload, peer))
        port.sent[:] = kept
        time.sleep(0.001)
    assert len(answers) == len(users), f"logins unanswered: {users - set(answers)}"
    return answers
