"""The order-entry gateway: same commands as the flow it carries, and robust
against duplicates, gaps, fuzzed, truncated, oversized and garbage datagrams."""

import random

from scapy.packet import fuzz

from gatebook.wire import internal, ouch
from gatebook.host.net import scapy_layers as layers
from gatebook.host.clock import ManualClock
from gatebook.host.engine import MatchingEngine
from gatebook.host.flow import generate_flow
from gatebook.host.ouch.gateway import Gateway, flow_datagrams
from gatebook.host.ouch.framing import encode_datagram
from gatebook.host.sequencer import Sequencer
from gatebook.host.symbols import DEFAULT_SYMBOLS

_ENTRY = (internal.NEW_ORDER.code, internal.CANCEL.code, internal.REPLACE.code)


def _gateway():
    return Gateway(Sequencer(ManualClock(start=1, step=1)), DEFAULT_SYMBOLS)


def _unstamped(events):
    return [event[:1] + event[3:] for event in events]


def test_datagrams_carry_the_flow_exactly():
    flow = [c for c in generate_flow(5000, seed=11) if c[0] in _ENTRY]
    gateway = _gateway()
    commands = [c for _, payload in flow_datagrams(flow, DEFAULT_SYMBOLS, batch=3)
                for c in gateway.datagram(payload)]
    # batching reorders arrivals across sessions, so exchange ids differ from the
    # flow's; map each back to its client token (the flow's id) to compare
    def by_token(command):
        at = 4 if command[0] == internal.NEW_ORDER.code else 3
        token = gateway.token_of(command[at])[1] if command[at] else 0
        return command[:1] + command[3:at] + (token,) + command[at + 1:]
    assert sorted(map(by_token, commands)) == sorted(_unstamped(flow))
    direct, via = MatchingEngine(DEFAULT_SYMBOLS), MatchingEngine(DEFAULT_SYMBOLS)
    single = _gateway()
    flow_one = [c for _, payload in flow_datagrams(flow, DEFAULT_SYMBOLS, batch=1)
                for c in single.datagram(payload)]
    assert _unstamped(flow_one) == _unstamped(flow)      # one per datagram keeps the order
    for original, carried in zip(flow, flow_one):
        assert _unstamped(direct.apply(original)) == _unstamped(via.apply(carried))
    assert not gateway.bad


def test_duplicates_are_dropped_and_gaps_logged():
    gateway = _gateway()
    enter = (ord("O"), 1, "GATE", 0, 0, 0, 100, 100_0000, 0)
    assert len(gateway.datagram(encode_datagram(5, 1, [enter]))) == 1
    assert gateway.datagram(encode_datagram(5, 1, [enter])) == []          # replayed
    cancel = gateway.datagram(encode_datagram(5, 4, [(ord("X"), 1)]))      # 2, 3 lost
    assert cancel[0][0] == internal.CANCEL.code and cancel[0][3] == 1
    assert list(gateway.gap_log) == [(5, 2, 3)]
    assert gateway.tracker.duplicates == 1


def test_unknown_tokens_and_stocks_still_reach_the_engine_for_a_reply():
    gateway, engine = _gateway(), MatchingEngine(DEFAULT_SYMBOLS)
    commands = gateway.datagram(encode_datagram(9, 1, [
        (ord("X"), 424242), (ord("O"), 1, "NOPE", 0, 0, 0, 100, 100_0000, 0),
        (ord("U"), 77, 78, 10, 100_0000)]))
    events = [engine.apply(command) for command in commands]
    assert [e[0][0] for e in events] == [internal.REJECTED.code] * 3


def test_bad_datagrams_are_counted_with_reasons_and_valid_orders_still_answered():
    rng = random.Random(7)
    gateway, engine = _gateway(), MatchingEngine(DEFAULT_SYMBOLS)
    valid = encode_datagram(1, 1, [(ord("O"), 1, "GATE", 0, 0, 0, 100, 100_0000, 0)])
    bad = [b"", b"\x00" * 5, valid[:-1], valid + b"\x00" * 3, valid + b"Z" * 40,
           valid + b"X" + bytes(8),                     # one message more than counted
           bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))) + b"\xff"]
    for _ in range(300):      # scapy's fuzz(): random values for every field
        bad.append(bytes(fuzz(layers.OuchInbound() / layers.EnterOrder())))
    answered = 0
    seq = 1
    for index, payload in enumerate(bad):
        for command in gateway.datagram(payload, peer=("127.0.0.1", index)):
            assert engine.apply(command)                 # every command gets events
        if index % 50 == 0:   # interleave valid orders; each must get its reply
            seq_payload = encode_datagram(2, seq, [(ord("O"), seq, "GATE", 1, 0, 0, 100,
                                                    101_0000, 0)])
            seq += 1
            replies = [engine.apply(c) for c in gateway.datagram(seq_payload)]
            assert replies and replies[0][0][0] in (internal.ACCEPTED.code, internal.REJECTED.code)
            answered += 1
    assert answered == 7
    refused = sum(gateway.bad.values())
    assert refused >= 6 and gateway.bad["undecodable"] == refused
    assert len(gateway.bad_log) == min(refused, 1000)
    assert any("truncated" in reason for _, reason in gateway.bad_log)
    assert any("header says" in reason for _, reason in gateway.bad_log)


def test_replies_for_each_side_of_a_script():
    from gatebook.host.ouch.replier import Replier
    from gatebook.host.ouch.framing import OUTBOUND_CODEC, decode_datagram
    gateway, engine = _gateway(), MatchingEngine(DEFAULT_SYMBOLS)
    replier = Replier(gateway, DEFAULT_SYMBOLS)
    flow = [
        (7, encode_datagram(7, 1, [(ord("O"), 1, "GATE", 0, 0, 1, 100, 100_0000, 0)])),
        (8, encode_datagram(8, 1, [(ord("O"), 9, "GATE", 1, 0, 0, 40, 100_0000, 0)])),
        (7, encode_datagram(7, 2, [(ord("U"), 1, 2, 30, 100_0000)])),
        (7, encode_datagram(7, 3, [(ord("X"), 2)])),
        (7, encode_datagram(7, 4, [(ord("X"), 2)])),
        (8, encode_datagram(8, 2, [(ord("O"), 10, "NOPE", 1, 0, 0, 40, 100_0000, 0)])),
    ]
    sent = []
    for session, payload in flow:
        for command in gateway.datagram(payload, peer=("127.0.0.1", 20000 + session)):
            sent += replier.datagrams(engine.apply(command))
    decoded = [(peer[1], *decode_datagram(payload, OUTBOUND_CODEC)) for payload, peer in sent]
    names = [(port, seq, [ouch.OUTBOUND.by_code()[r[0]].name for r in records])
             for port, _, seq, records in decoded]
    assert names == [
        (20007, 1, ["accepted"]),
        (20008, 1, ["accepted", "executed"]), (20007, 2, ["executed"]),
        (20007, 3, ["replaced"]),
        (20007, 4, ["canceled"]),
        (20007, 5, ["rejected"]),
        (20008, 3, ["rejected"]),                 # numbers count messages
    ]
    executed_aggressor = decoded[1][3][1]
    assert executed_aggressor[2:] == (9, 40, 100_0000, "R", 1, 0)        # token 9 filled
    executed_resting = decoded[2][3][0]
    assert executed_resting[2:] == (1, 40, 100_0000, "A", 1, 60)
    replaced = decoded[3][3][0]
    assert replaced[2:4] == (2, 1) and replaced[4] == 30                   # new, previous token
    assert decoded[4][3][0][2:] == (2, 30, 1)                              # canceled 30, USER
    assert decoded[5][3][0][2:] == (2, 14)     # UNKNOWN_ORDER: a gone order's token is forgotten
    assert decoded[6][3][0][2:] == (10, 1)                                 # UNKNOWN_SYMBOL
    assert not gateway.origins                                             # nothing left behind
