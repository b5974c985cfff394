"""Order entry with authentication under a flood of hostile datagrams.

A real `Exchange` on a kernel UDP socket on loopback. Three logged-in
traders send orders at a steady pace; an attacker on other addresses sends,
between each two of their datagrams, a hundred of its own: malformed and
fuzzed bytes, the traders' own datagrams replayed from its address, those
again with message number 2^64-1 or as an empty heartbeat, orders under
random session ids, and logins with wrong passwords. Afterwards:

- the exchange is up and every valid order was answered, to its sender;
- the engine holds the traders' orders only, each under its own user, and
  the gateway knows only their tokens;
- every refusal is counted by kind, and the state the attacker can make the
  exchange keep (failed-login addresses, ended sessions, the refusal log)
  stays under its bounds, as does the process's memory.

`--run-long` sends 1,000,000 hostile datagrams (the figure in docs/network.md);
the default suite sends 20,000.
"""

import random
import resource
import time

import pytest

from gatebook.dpdk_bridge.udp import SocketUdp
from gatebook.wire import ouch
from gatebook.host.clock import WallClock
from gatebook.host.ouch import ouch_exchange
from gatebook.host.ouch.inject import bad_datagrams
from gatebook.host.ouch.framing import HEADER_STRUCT, encode_datagram
from gatebook.host.symbols import DEFAULT_SYMBOLS

from ouch_login import accounts, as_session, login, login_datagram, outbound

TRADERS = (7, 8, 9)


def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _hostile(rng, pool, seen):
    """One hostile datagram: which kind, and its bytes."""
    kind = rng.randrange(6)
    if kind == 0 or not seen:
        payload = bytearray(rng.choice(pool))
        for _ in range(rng.randrange(1, 4)):
            if payload:
                payload[rng.randrange(len(payload))] = rng.randrange(256)
        return "malformed", bytes(payload)
    victim = rng.choice(seen)
    if kind == 1:
        return "replayed", victim
    session, _, count = HEADER_STRUCT.unpack_from(victim)
    if kind == 2:
        return "silence", HEADER_STRUCT.pack(session, (1 << 64) - 1, count) + victim[14:]
    if kind == 3:
        return "redirect", encode_datagram(session, 1, [])
    if kind == 4:
        return "guessed", as_session(victim, rng.randrange(1, 1 << 32))
    return "login", login_datagram(f"user{rng.choice(TRADERS)}", "guess%d" % rng.randrange(10**6))


def _flood(hostile_count, per_valid=100, seed=9):
    rng = random.Random(seed)
    pool = [payload for _, payload in bad_datagrams(400, seed)]
    with SocketUdp() as server:
        exchange = ouch_exchange(server, DEFAULT_SYMBOLS, WallClock(),
                                 accounts=accounts(TRADERS),
                                 session_options=dict(check_in_thread=False, timeout_ns=600 * 10**9,
                                                      replies_per_second=1000))
        clients = {user: SocketUdp() for user in TRADERS}
        attackers = [SocketUdp() for _ in range(4)]
        try:
            sessions = {user: login(sock, server.address, user, pump=exchange.poll).session
                        for user, sock in clients.items()}
            numbers, sent, answered, seen, kinds = ({u: 1 for u in TRADERS}, {}, {}, [], {})
            token = 0
            rss_start, started = None, time.monotonic()
            for index in range(hostile_count):
                if index % per_valid == 0:
                    user = TRADERS[(index // per_valid) % len(TRADERS)]
                    token += 1
                    side = rng.randrange(2)
                    payload = encode_datagram(sessions[user], numbers[user], [(
                        ouch.ENTER_ORDER.code, token, "GATE", side, 0, 2, 100,
                        (100_0000 - 100 + side * 200) + rng.randrange(-5, 6) * 100, 0)])
                    numbers[user] += 1
                    sent[token] = user
                    clients[user].send([(payload, server.address)])
                    if len(seen) < 1000:
                        seen.append(payload)
                kind, payload = _hostile(rng, pool, seen)
                kinds[kind] = kinds.get(kind, 0) + 1
                attackers[index % 4].send([(payload, server.address)])
                if index % 32 == 31:
                    exchange.poll(64)
                    for user, sock in clients.items():
                        for reply, _ in sock.recv(64):
                            for name, record in outbound(reply)[2]:
                                if name in ("accepted", "rejected", "canceled"):
                                    answered.setdefault(record[2], (user, name))
                    for sock in attackers:
                        sock.recv(256)
                if index == hostile_count // 5:
                    rss_start = _rss_mb()
            deadline = time.monotonic() + 10
            while len(answered) < len(sent) and time.monotonic() < deadline:
                exchange.poll(64)
                for user, sock in clients.items():
                    for reply, _ in sock.recv(64):
                        for name, record in outbound(reply)[2]:
                            if name in ("accepted", "rejected", "canceled"):
                                answered.setdefault(record[2], (user, name))
            seconds = time.monotonic() - started
        finally:
            for sock in list(clients.values()) + attackers:
                sock.close()
            exchange.close(end_of_day=False)
    return dict(exchange=exchange, sent=sent, answered=answered, kinds=kinds, seconds=seconds,
                rss_start=rss_start, rss_end=_rss_mb())


def _check(run, hostile_count):
    exchange, sent, answered = run["exchange"], run["sent"], run["answered"]
    assert set(answered) == set(sent), f"{len(set(sent) - set(answered))} valid orders unanswered"
    assert all(answered[token][0] == user for token, user in sent.items())
    gateway, sessions = exchange.entry.gateway, exchange.entry.sessions
    assert gateway.messages == len(sent)                     # no hostile message became a command
    assert {key[0] for key in gateway.order_ids} <= set(TRADERS)
    assert set(gateway.tracker.expected) <= set(TRADERS) and set(gateway.peers) <= set(TRADERS)
    for book in exchange.engine.books.values():
        for side in (0, 1):
            for _, orders in book.orders_at(side):
                assert all(sent[gateway.owners[o.order_id][1]] == o.user for o in orders)
    refused = sum(gateway.bad.values())
    assert refused >= hostile_count * 0.8                   # replays from afar, logins, the rest
    assert len(sessions.sessions) == len(TRADERS) and len(sessions.failures) <= 65_536
    assert len(sessions.ended) <= 4 * sessions.max_sessions and len(gateway.bad_log) <= 1000
    return refused


def test_a_flood_of_hostile_datagrams_changes_no_valid_session():
    run = _flood(20_000)
    _check(run, 20_000)


@pytest.mark.long
def test_a_million_hostile_datagrams():
    run = _flood(1_000_000)
    refused = _check(run, 1_000_000)
    assert run["rss_end"] - run["rss_start"] < 64, (run["rss_start"], run["rss_end"])
    exchange = run["exchange"]
    print(f"\nfuzz: {sum(run['kinds'].values()):,} hostile datagrams "
          f"({', '.join(f'{k} {v:,}' for k, v in sorted(run['kinds'].items()))}) and "
          f"{len(run['sent']):,} valid orders in {run['seconds']:.1f} s; every valid order "
          f"answered; refused {refused:,} "
          f"({', '.join(f'{k} {v:,}' for k, v in sorted(exchange.entry.gateway.bad.items()))}); "
          f"duplicates {exchange.entry.gateway.tracker.duplicates:,}; max RSS "
          f"{run['rss_start']:.0f} MB at 20%, {run['rss_end']:.0f} MB at the end")
