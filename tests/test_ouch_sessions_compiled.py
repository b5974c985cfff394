"""The session layer over the compiled gateway and over the Python reference: the same
logins, refusals and answers, the same commands tuple for tuple, the same replies byte
for byte, on logins, orders, attacks, mass cancels, admin messages and logouts, both
a datagram at a time and as one DPDK-like burst."""

import itertools

import pytest

from gatebook.dpdk_bridge.fast import status
from gatebook.wire import ouch
from gatebook.wire.enums import AdminAction, MassCancelScope
from gatebook.host.clock import ManualClock
from gatebook.host.engine import MatchingEngine
from gatebook.host.ouch.gateway import CompiledGateway, Gateway
from gatebook.host.ouch.replier import Replier
from gatebook.host.ouch.framing import HEADER_STRUCT, encode_datagram
from gatebook.host.ouch.sessions import SessionLayer
from gatebook.host.sequencer import Sequencer
from gatebook.host.symbols import DEFAULT_SYMBOLS

from ouch_login import accounts, login_datagram

needs_compiled = pytest.mark.skipif(status()[0] is None, reason=status()[1])

ALICE, BOB, ADMIN = 7, 8, 1
SESSION_IDS = (0, 0x1111, 0x2222, 0x3333, 0x4444)      # 0 is never given: drawn again
A, B, ADM, A2 = 0x1111, 0x2222, 0x3333, 0x4444
HOME_A, HOME_B, HOME_ADM, ELSEWHERE = (("198.18.0.2", 40000), ("198.18.0.3", 40001),
                                        ("198.18.0.4", 40002), ("198.18.0.9", 40009))


def _enter(token, side=0, shares=100, price=100_0000, stock="GATE"):
    return (ouch.ENTER_ORDER.code, token, stock, side, 0, 0, shares, price, 0)


def _script():
    one = lambda session, number, *records: encode_datagram(session, number, list(records))  # noqa: E731
    return [
        (HOME_A, login_datagram("user7", "pw7")),
        (HOME_B, login_datagram("user8", "pw8")),
        (HOME_ADM, login_datagram("user1", "pw1")),
        (ELSEWHERE, login_datagram("user7", "wrong")),
        (HOME_A, one(A, 1, _enter(1), _enter(2, price=99_0000))),
        (ELSEWHERE, one(A, 3, _enter(3))),                                  # spoofed
        (ELSEWHERE, one(A, 0, )),                                           # redirect try
        (ELSEWHERE, one(A, 2**64 - 1, _enter(4))),                          # silence try
        (HOME_B, one(B, 1, (ouch.CANCEL_ORDER.code, 1))),                   # guessed token
        (HOME_B, one(B, 2, _enter(1, side=1, shares=40))),
        (HOME_B, one(B, 3, (ouch.ADMIN.code, AdminAction.HALT, ""))),       # a trader's halt
        (HOME_B, one(B, 4, (ouch.MASS_CANCEL.code, MassCancelScope.USER, ALICE, ""))),
        (HOME_A, one(A, 3, (ouch.REPLACE_ORDER.code, 2, 20, 50, 99_0000))),
        (HOME_A, one(A, 4, _enter(5), (ouch.LOGOUT_REQUEST.code,))),        # not alone
        (HOME_ADM, one(ADM, 1, (ouch.ADMIN.code, AdminAction.HALT, "GATE"))),
        (HOME_A, one(A, 4, _enter(6))),                                     # halted
        (HOME_ADM, one(ADM, 2, (ouch.ADMIN.code, AdminAction.RESUME, ""))),
        (HOME_A, one(A, 2, _enter(7))),                                     # a duplicate
        (HOME_A, one(A, 5, (ouch.MASS_CANCEL.code, MassCancelScope.USER_SYMBOL, 0, "GATE"))),
        (HOME_B, one(B, 5, _enter(2, side=1, price=105_0000))),             # rests
        (HOME_B, one(B, 6, (ouch.LOGOUT_REQUEST.code,))),
        (HOME_B, one(B, 7, _enter(9))),                                      # logged out
        (ELSEWHERE, login_datagram("user7", "pw7")),                         # alice moves
        (HOME_A, one(A, 6, _enter(10))),                                     # old session
        (ELSEWHERE, one(A2, 6, _enter(11, price=105_0000))),  # fills Bob's, logged out
        (ELSEWHERE, b"\x00" * 20), (HOME_A, b"junk"),
    ]


def _side(compiled):
    clock = ManualClock(start=1, step=3)
    gateway = Gateway(Sequencer(clock), DEFAULT_SYMBOLS, compiled=compiled)
    replier = Replier(gateway, DEFAULT_SYMBOLS)
    draws = itertools.chain(SESSION_IDS, itertools.count(0x5555))
    layer = SessionLayer(gateway, accounts((ALICE, BOB, ADMIN), admins=(ADMIN,)), clock,
                         replier=replier, session_ids=lambda: next(draws),
                         check_in_thread=False)
    return gateway, replier, layer, MatchingEngine(DEFAULT_SYMBOLS)


def _drive(side, datagrams, burst):
    gateway, replier, layer, engine = side
    commands, replies, answers = [], [], []

    def run(found):
        for command in found:
            commands.append(command)
            replier.add(engine.apply(command))
        replies.extend(replier.flush(unaddressed=True))   # a logged-out user's too
        layer.forget_ended()
        answers.extend(layer.take_outbox())

    if not burst:
        for peer, payload in datagrams:
            run(layer.receive(payload, peer))
        return commands, replies, answers
    # Logins first, a datagram at a time; then the rest as one buffer of frames.
    for peer, payload in datagrams[:4]:
        run(layer.receive(payload, peer))
    data, frames = bytearray(), []
    for peer, payload in datagrams[4:21]:
        frame = gateway.frame(payload, peer)
        if frame is not None:
            frames.append(frame[:3] + (len(data) + HEADER_STRUCT.size,) + frame[4:])
        data += payload
    run(layer.commands(bytes(data), frames))
    return commands, replies, answers


@needs_compiled
@pytest.mark.parametrize("burst", [False, True])
def test_compiled_and_reference_agree_behind_the_session_layer(burst):
    reference, compiled = _side(False), _side(True)
    assert isinstance(compiled[0], CompiledGateway) and not isinstance(reference[0],
                                                                       CompiledGateway)
    got = [_drive(side, _script(), burst) for side in (reference, compiled)]
    assert got[0] == got[1]
    commands, replies, answers = got[0]
    assert len(commands) >= 8 and replies and answers
    # To Bob once he logged out; in one burst, his replies of that burst still reach him.
    assert any(peer is None for _, peer in replies) == (not burst)
    python, fast = reference[0], compiled[0]
    assert fast.bad == python.bad and list(fast.bad_log) == list(python.bad_log)
    assert fast.order_ids == python.order_ids and fast.owners == python.owners
    assert fast.tracker.expected == python.tracker.expected and fast.peers == python.peers
    assert reference[2].logins == compiled[2].logins
    assert reference[3].state_hash() == compiled[3].state_hash()
    # Only the users' keys ever reach the gateway: no session id, no stranger's address.
    assert set(python.tracker.expected) <= {ALICE, BOB, ADMIN}
    assert set(python.peers.values()) <= {HOME_A, HOME_B, HOME_ADM, ELSEWHERE}
    # Bob logged out: his address is forgotten; Alice's is where she logged in last.
    assert BOB not in python.peers and python.peers[ALICE] == (HOME_A if burst else ELSEWHERE)
