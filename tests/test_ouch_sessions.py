"""Order entry with identity: logins, sessions bound to a user and a peer, ownership.

A real `Exchange` on the kernel-socket backend on loopback; each client is
its own UDP socket (its own peer address). Each attack test reproduces one
way the exchange could be abused when the session id in the header was the
whole identity, and checks that it is refused, counted, answered where the
answer is not larger than the datagram, and changes nobody's state.
"""

import pytest

from gatebook.dpdk_bridge.udp import SocketUdp
from gatebook.wire import ouch
from gatebook.wire.enums import (AdminAction, LoginRejectReason, LogoutReason, MassCancelScope,
                                 SessionRefusal)
from gatebook.host.clock import ManualClock
from gatebook.host.ouch import ouch_exchange
from gatebook.host.ouch.inject import script_datagrams
from gatebook.host.ouch.framing import encode_datagram
from gatebook.host.symbols import DEFAULT_SYMBOLS

from ouch_login import Login, accounts, as_session, login, outbound

ALICE, BOB, ADMIN = 7, 8, 1
TIMEOUT = 15_000_000_000


class Desk:
    """An exchange and the clients that talk to it, pumped in this process."""

    def __init__(self, clock=None, **options):
        self.server = SocketUdp()
        self.clock = clock or ManualClock(1_700_000_000_000_000_000, 1000)
        self.exchange = ouch_exchange(self.server, DEFAULT_SYMBOLS, self.clock,
                                      accounts=accounts((ALICE, BOB, ADMIN), admins=(ADMIN,)),
                                      session_options=dict(check_in_thread=False, **options))
        self.sockets = []

    def client(self):
        sock = SocketUdp()
        self.sockets.append(sock)
        return sock

    def pump(self):
        self.exchange.poll()

    def login(self, sock, user, password=None, requested=0):
        return login(sock, self.server.address, user, password, pump=self.pump,
                     requested=requested)

    def send(self, sock, *payloads):
        sock.send([(payload, self.server.address) for payload in payloads])
        for _ in range(20):
            if not self.exchange.poll():
                break

    def replies(self, sock):
        """Every (session, message number, message name, record) `sock` got so far."""
        for _ in range(5):
            self.pump()
        out = []
        for payload in getattr(sock, "early", []) + [p for p, _ in sock.recv(256)]:
            session, sequence, messages = outbound(payload)
            out += [(session, sequence + index, name, record)    # each message's number
                    for index, (name, record) in enumerate(messages)]
        sock.early = []
        return out

    def close(self):
        self.exchange.close()
        for sock in self.sockets + [self.server]:
            sock.close()


@pytest.fixture
def desk():
    desk = Desk()
    yield desk
    desk.close()


def _order(session, sequence, token, side="BUY", shares=100, price="100.00", stock="GATE"):
    line = (f"1 enter_order order_token={token} stock={stock} side={side} shares={shares} "
            f"price={price}")
    payload = script_datagrams(line)[0][1]
    return _numbered(as_session(payload, session), sequence)


def _numbered(payload, sequence):
    return payload[:4] + sequence.to_bytes(8, "big") + payload[12:]


def _message(session, sequence, message, *fields):
    return encode_datagram(session, sequence, [(message.code, *fields)])


def _names(replies):
    return [name for _, _, name, _ in replies]


def _live(exchange):
    return sorted(exchange.engine.orders)


def test_a_login_gives_a_session_and_orders_are_the_users(desk):
    alice = desk.client()
    got = desk.login(alice, ALICE)
    assert isinstance(got, Login) and got.session and got.user_id == ALICE
    assert (got.next_inbound, got.next_outbound) == (1, 1)
    desk.send(alice, _order(got.session, 1, token=1))
    replies = desk.replies(alice)
    assert _names(replies) == ["accepted"] and replies[0][0] == ALICE
    resting = [order for book in desk.exchange.engine.books.values()
               for _, orders in book.orders_at(0) for order in orders]
    assert [(order.order_id, order.user) for order in resting] == [(1, ALICE)]
    assert desk.exchange.entry.gateway.order_ids == {(ALICE, 1): 1}


def test_a_spoofed_session_id_from_another_address_is_refused(desk):
    alice, mallory = desk.client(), desk.client()
    session = desk.login(alice, ALICE).session
    desk.send(mallory, _order(session, 1, token=1))
    assert _names(desk.replies(alice)) == []
    refused = desk.replies(mallory)
    assert [(name, record[1]) for _, _, name, record in refused] == [
        ("refused", SessionRefusal.WRONG_PEER)]
    assert desk.exchange.entry.gateway.messages == 0 and _live(desk.exchange) == []
    assert desk.exchange.entry.gateway.bad["wrong_peer"] == 1
    desk.send(alice, _order(session, 1, token=1))      # alice's number 1 is still hers
    assert _names(desk.replies(alice)) == ["accepted"]


def test_a_guessed_token_cannot_cancel_another_users_order(desk):
    alice, bob = desk.client(), desk.client()
    a, b = desk.login(alice, ALICE).session, desk.login(bob, BOB).session
    desk.send(alice, _order(a, 1, token=1))
    desk.send(bob, _message(b, 1, ouch.CANCEL_ORDER, 1))
    assert _names(desk.replies(alice)) == ["accepted"]
    assert _names(desk.replies(bob)) == ["rejected"]
    assert len(_live(desk.exchange)) == 1


def test_an_empty_datagram_does_not_redirect_another_sessions_reports(desk):
    alice, bob, mallory = desk.client(), desk.client(), desk.client()
    a, b = desk.login(alice, ALICE).session, desk.login(bob, BOB).session
    desk.send(mallory, encode_datagram(a, 1, []))          # the heartbeat, from elsewhere
    desk.send(alice, _order(a, 1, token=1))
    desk.send(bob, _order(b, 1, token=1, side="SELL"))
    assert _names(desk.replies(alice)) == ["accepted", "executed"]
    assert _names(desk.replies(bob)) == ["accepted", "executed"]
    assert desk.replies(mallory) == []      # 14 bytes in: a 16-byte answer would be larger
    assert desk.exchange.entry.gateway.bad["wrong_peer"] == 1


def test_message_number_two_to_the_64_minus_1_cannot_silence_a_session(desk):
    alice, mallory = desk.client(), desk.client()
    a = desk.login(alice, ALICE).session
    desk.send(mallory, _order(a, (1 << 64) - 1, token=9))
    desk.send(alice, _order(a, 1, token=1))
    assert _names(desk.replies(alice)) == ["accepted"]
    desk.send(alice, _order(a, (1 << 64) - 1, token=2))    # not from her either
    assert [(n, r[1]) for _, _, n, r in desk.replies(alice)] == [
        ("refused", SessionRefusal.OUT_OF_RANGE)]
    desk.send(alice, _order(a, 2, token=3))
    assert _names(desk.replies(alice)) == ["accepted"]


def test_a_traders_halt_is_refused_and_an_admins_is_not(desk):
    bob, admin = desk.client(), desk.client()
    b, adm = desk.login(bob, BOB).session, desk.login(admin, ADMIN).session
    desk.send(bob, _message(b, 1, ouch.ADMIN, AdminAction.HALT, ""))
    assert [(n, r[1]) for _, _, n, r in desk.replies(bob)] == [
        ("refused", SessionRefusal.NOT_ADMIN)]
    assert not any(book.halted for book in desk.exchange.engine.books.values())
    desk.send(bob, _order(b, 2, token=1))
    assert _names(desk.replies(bob)) == ["accepted"]
    desk.send(admin, _message(adm, 1, ouch.ADMIN, AdminAction.HALT, "GATE"))
    desk.send(bob, _order(b, 3, token=2))
    assert [(n, r[-1]) for _, _, n, r in desk.replies(bob)] == [("rejected", 17)]


def test_mass_cancel_is_the_owners_and_everyones_is_an_admins(desk):
    alice, bob, admin = desk.client(), desk.client(), desk.client()
    a, b = desk.login(alice, ALICE).session, desk.login(bob, BOB).session
    adm = desk.login(admin, ADMIN).session
    desk.send(alice, _order(a, 1, token=1), _order(a, 2, token=2, price="99.00"))
    desk.send(bob, _order(b, 1, token=1, price="98.00"))
    desk.send(bob, _message(b, 2, ouch.MASS_CANCEL, MassCancelScope.USER, ALICE, ""))
    desk.send(bob, _message(b, 3, ouch.MASS_CANCEL, MassCancelScope.SYMBOL, 0, "GATE"))
    assert [n for _, _, n, _ in desk.replies(bob)][-2:] == ["refused", "refused"]
    assert len(_live(desk.exchange)) == 3
    desk.send(alice, _message(a, 3, ouch.MASS_CANCEL, MassCancelScope.USER, 0, ""))
    assert _names(desk.replies(alice))[-2:] == ["canceled", "canceled"]
    assert len(_live(desk.exchange)) == 1
    desk.send(admin, _message(adm, 1, ouch.MASS_CANCEL, MassCancelScope.USER, BOB, ""))
    assert _names(desk.replies(bob)) == ["canceled"] and _live(desk.exchange) == []


def test_wrong_password_and_unknown_user_look_alike_and_are_counted_apart(desk):
    alice = desk.client()
    wrong = desk.login(alice, ALICE, "not-it")
    unknown = desk.login(alice, "nobody", "pw7")
    assert wrong == unknown == ("login_rejected", (ord("K"), LoginRejectReason.NOT_AUTHORIZED))
    assert desk.exchange.entry.sessions.logins == {"wrong_password": 1, "unknown_user": 1}
    for _ in range(4):
        desk.login(alice, ALICE, "not-it")
    # Five failures for this name from this address: the sixth try is refused
    # unchecked; another user at the same address is not locked out.
    assert desk.login(alice, ALICE) == ("login_rejected",
                                        (ord("K"), LoginRejectReason.TOO_MANY_TRIES))
    assert isinstance(desk.login(desk.client(), BOB), Login)
    desk.clock.advance(61_000_000_000)
    assert isinstance(desk.login(alice, ALICE), Login)


def test_a_silent_session_expires_and_heartbeats_keep_one_alive(desk):
    alice, bob = desk.client(), desk.client()
    a, b = desk.login(alice, ALICE).session, desk.login(bob, BOB).session
    for _ in range(3):
        desk.clock.advance(TIMEOUT // 2)
        desk.send(bob, encode_datagram(b, 1, []))
    desk.send(alice, _order(a, 1, token=1))
    desk.send(bob, _order(b, 1, token=1))
    assert [(n, r[1]) for _, _, n, r in desk.replies(alice)] == [
        ("refused", SessionRefusal.EXPIRED)]
    assert _names(desk.replies(bob)) == ["accepted"]
    assert desk.exchange.entry.gateway.bad["expired"] == 1
    desk.clock.advance(TIMEOUT + 1)                         # silent: swept, address gone
    desk.pump()
    assert not desk.exchange.entry.sessions.sessions and not desk.exchange.entry.gateway.peers


def test_a_new_login_goes_on_with_the_users_numbers_and_orders(desk):
    first, second = desk.client(), desk.client()
    old = desk.login(first, ALICE).session
    desk.send(first, _order(old, 1, token=1), _order(old, 2, token=2, price="99.00"))
    assert _names(desk.replies(first)) == ["accepted", "accepted"]
    again = desk.login(second, ALICE)
    assert again.session != old and (again.next_inbound, again.next_outbound) == (3, 3)
    assert [(n, r[1]) for _, _, n, r in desk.replies(first)] == [
        ("logged_out", LogoutReason.REPLACED)]
    desk.send(second, _message(again.session, 3, ouch.CANCEL_ORDER, 1))
    replies = desk.replies(second)
    assert [(s, q, n) for s, q, n, _ in replies] == [(ALICE, 3, "canceled")]
    desk.send(first, _order(old, 4, token=4))
    assert [(n, r[1]) for _, _, n, r in desk.replies(first)] == [
        ("refused", SessionRefusal.LOGGED_OUT)]


def test_logout_ends_the_session(desk):
    alice = desk.client()
    a = desk.login(alice, ALICE).session
    desk.send(alice, _message(a, 0, ouch.LOGOUT_REQUEST))
    assert [(n, r[1]) for _, _, n, r in desk.replies(alice)] == [
        ("logged_out", LogoutReason.REQUESTED)]
    desk.send(alice, _order(a, 1, token=1))
    assert [(n, r[1]) for _, _, n, r in desk.replies(alice)] == [
        ("refused", SessionRefusal.LOGGED_OUT)]


def test_unknown_sessions_and_garbage_are_refused_counted_and_answered_small(desk):
    mallory = desk.client()
    desk.send(mallory, _order(12345, 1, token=1), b"\x00" * 20, b"junk")
    refused = desk.replies(mallory)
    assert sorted(r[1] for _, _, _, r in refused) == [SessionRefusal.UNKNOWN_SESSION,
                                                      SessionRefusal.MALFORMED]
    assert desk.exchange.entry.gateway.bad["unknown_session"] == 1
    assert desk.exchange.entry.gateway.bad["undecodable"] == 2
    assert desk.exchange.entry.gateway.messages == 0


def test_a_session_message_does_not_share_a_datagram_with_orders(desk):
    alice = desk.client()
    a = desk.login(alice, ALICE).session
    mixed = encode_datagram(a, 1, [(ouch.ENTER_ORDER.code, 1, "GATE", 0, 0, 0, 100, 1_000_000, 0),
                                   (ouch.ADMIN.code, AdminAction.HALT, "")])
    desk.send(alice, mixed)
    assert [(n, r[1]) for _, _, n, r in desk.replies(alice)] == [
        ("refused", SessionRefusal.NOT_ALONE)]
    assert desk.exchange.entry.gateway.messages == 0


def test_the_session_table_is_bounded():
    desk = Desk(max_sessions=2)
    try:
        users = [desk.client() for _ in range(3)]
        assert isinstance(desk.login(users[0], ALICE), Login)
        assert isinstance(desk.login(users[1], BOB), Login)
        assert desk.login(users[2], ADMIN) == ("login_rejected",
                                               (ord("K"), LoginRejectReason.TABLE_FULL))
        desk.clock.advance(TIMEOUT + 1)
        assert isinstance(desk.login(users[2], ADMIN), Login)
    finally:
        desk.close()


def test_refusal_answers_are_rate_limited():
    desk = Desk(replies_per_second=3)
    try:
        mallory = desk.client()
        desk.send(mallory, *[_order(99, 1, token=1)] * 10)
        assert len(desk.replies(mallory)) == 3
        assert desk.exchange.entry.gateway.bad["unknown_session"] == 10
    finally:
        desk.close()


def test_an_exchange_without_accounts_is_refused():
    with SocketUdp() as server, pytest.raises(ValueError, match="accounts"):
        ouch_exchange(server, DEFAULT_SYMBOLS, ManualClock(1))


def test_after_logout_no_report_goes_to_the_old_address(desk):
    alice, bob, later = desk.client(), desk.client(), desk.client()
    a, b = desk.login(alice, ALICE).session, desk.login(bob, BOB).session
    desk.send(alice, _order(a, 1, token=1))
    assert _names(desk.replies(alice)) == ["accepted"]
    desk.send(alice, _message(a, 0, ouch.LOGOUT_REQUEST))
    assert _names(desk.replies(alice)) == ["logged_out"]
    desk.send(bob, _order(b, 1, token=1, side="SELL"))         # fills alice's resting order
    assert _names(desk.replies(bob)) == ["accepted", "executed"]
    assert desk.replies(alice) == []                            # nothing to the old address
    again = desk.login(later, ALICE)
    assert (again.next_inbound, again.next_outbound) == (2, 3)  # reply 2 was numbered, unsent
    desk.send(later, _order(again.session, 2, token=2))
    assert [(s, q, n) for s, q, n, _ in desk.replies(later)] == [(ALICE, 3, "accepted")]


def test_a_user_past_its_live_order_limit_is_refused_until_it_cancels():
    desk = Desk(max_live_orders=2)
    try:
        alice, bob = desk.client(), desk.client()
        a, b = desk.login(alice, ALICE).session, desk.login(bob, BOB).session
        desk.send(alice, _order(a, 1, token=1), _order(a, 2, token=2, price="99.00"))
        desk.send(alice, _order(a, 3, token=3, price="98.00"))
        assert [(n, r[1] if n == "refused" else None) for _, _, n, r in desk.replies(alice)] == [
            ("accepted", None), ("accepted", None),
            ("refused", SessionRefusal.TOO_MANY_LIVE_ORDERS)]
        desk.send(bob, _order(b, 1, token=1, side="SELL"))          # fills alice's token 1
        desk.send(alice, _order(a, 3, token=3, price="98.00"))      # the same number again
        assert _names(desk.replies(alice)) == ["executed", "accepted"]
        desk.send(alice, _message(a, 4, ouch.CANCEL_ORDER, 2))      # cancels are never limited
        assert _names(desk.replies(alice)) == ["canceled"]
        assert desk.exchange.entry.gateway.bad["too_many_live_orders"] == 1
    finally:
        desk.close()


def test_a_user_past_its_message_rate_is_refused_and_others_are_not():
    desk = Desk(messages_per_second=3)
    try:
        alice, bob = desk.client(), desk.client()
        a, b = desk.login(alice, ALICE).session, desk.login(bob, BOB).session
        desk.send(alice, *[_order(a, n, token=n, price="90.00") for n in range(1, 6)])
        got = desk.replies(alice)
        assert sorted(_names(got)) == ["accepted"] * 3 + ["refused"] * 2
        assert {r[1] for _, _, n, r in got if n == "refused"} == {SessionRefusal.RATE_LIMITED}
        desk.send(bob, _order(b, 1, token=1, price="90.00"))
        assert _names(desk.replies(bob)) == ["accepted"]
        desk.clock.advance(1_000_000_000)                           # a second later
        desk.send(alice, _order(a, 4, token=4, price="90.00"))
        assert _names(desk.replies(alice)) == ["accepted"]
    finally:
        desk.close()


def test_a_new_login_may_ask_for_the_replies_it_missed(desk):
    alice, bob, later = desk.client(), desk.client(), desk.client()
    a, b = desk.login(alice, ALICE).session, desk.login(bob, BOB).session
    desk.send(alice, _order(a, 1, token=1), _order(a, 2, token=2, price="99.00"))
    assert _names(desk.replies(alice)) == ["accepted", "accepted"]
    desk.send(alice, _message(a, 0, ouch.LOGOUT_REQUEST))
    desk.replies(alice)
    desk.send(bob, _order(b, 1, token=1, side="SELL", shares=150, price="99.00"))
    assert desk.replies(alice) == []                    # logged out: sent nowhere
    again = desk.login(later, ALICE, requested=2)       # from reply 2 on
    assert again.next_outbound == 5
    replayed = desk.replies(later)
    assert [(s, q, n, r[2]) for s, q, n, r in replayed] == [
        (ALICE, 2, "accepted", 2), (ALICE, 3, "executed", 1), (ALICE, 4, "executed", 2)]
    desk.send(later, _order(again.session, 3, token=3))
    assert [(q, n) for _, q, n, _ in desk.replies(later)] == [(5, "accepted")]
    # Without asking, nothing is sent again.
    assert desk.login(desk.client(), ALICE).next_outbound == 6


def test_a_logout_right_after_orders_still_gets_their_replies(desk):
    alice = desk.client()
    a = desk.login(alice, ALICE).session
    desk.send(alice, _order(a, 1, token=1), _order(a, 2, token=2, price="99.00"),
              _message(a, 0, ouch.LOGOUT_REQUEST))                 # one burst
    assert sorted(_names(desk.replies(alice))) == ["accepted", "accepted", "logged_out"]
    assert ALICE not in desk.exchange.entry.gateway.peers                 # and then no address


def test_an_admins_kill_switch_halts_everything_cancels_every_order_and_is_published():
    """The operator's kill switch on a running exchange: each owner hears its cancels, every
    symbol halts, the feed says so, and a trader cannot undo it."""
    from gatebook.wire import itch50, mold
    from gatebook.wire.codec import ProtocolCodec
    feed = SocketUdp()
    desk = Desk()
    desk.exchange.close(end_of_day=False)          # the same desk, with market data this time
    desk.exchange = ouch_exchange(desk.server, DEFAULT_SYMBOLS, desk.clock,
                                  accounts=accounts((ALICE, BOB, ADMIN), admins=(ADMIN,)),
                                  session_options=dict(check_in_thread=False),
                                  md_destination=feed.address)
    try:
        alice, bob, admin = desk.client(), desk.client(), desk.client()
        a, b = desk.login(alice, ALICE).session, desk.login(bob, BOB).session
        adm = desk.login(admin, ADMIN).session
        desk.send(alice, _order(a, 1, token=1), _order(a, 2, token=2, stock="AAPL",
                                                       shares=10, price="99.00"))
        desk.send(bob, _order(b, 1, token=1, side="SELL", price="101.00"))
        assert len(_live(desk.exchange)) == 3
        desk.send(bob, _message(b, 2, ouch.ADMIN, AdminAction.KILL, ""))
        assert [n for _, _, n, _ in desk.replies(bob)][-1] == "refused"     # not an admin
        assert len(_live(desk.exchange)) == 3
        desk.send(admin, _message(adm, 1, ouch.ADMIN, AdminAction.KILL, ""))
        assert _names(desk.replies(alice))[-2:] == ["canceled", "canceled"]
        assert _names(desk.replies(bob))[-1] == "canceled"
        assert _live(desk.exchange) == []
        assert all(book.halted for book in desk.exchange.engine.books.values())
        desk.send(bob, _order(b, 3, token=2))
        assert [(n, r[-1]) for _, _, n, r in desk.replies(bob)] == [("rejected", 17)]
        codec = ProtocolCodec(itch50.ITCH50)
        actions = {}
        for payload, _ in feed.recv(256):
            for message in mold.parse(payload).messages:
                record = codec.decode(message)
                if record[0] == itch50.STOCK_TRADING_ACTION.code:
                    actions[record[4].strip()] = record[5]
        assert actions == {spec.name: "H" for spec in DEFAULT_SYMBOLS}
    finally:
        desk.close()
        feed.close()
