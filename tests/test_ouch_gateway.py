"""The order-entry gateway: same commands as the flow it carries, and robust
against duplicates, gaps, fuzzed, truncated, oversized and garbage datagrams."""

import random

from scapy.packet import fuzz

from gatebook.wire import internal
from host import scapy_layers as layers
from host.clock import ManualClock
from host.engine import MatchingEngine
from host.flow import generate_flow
from host.order_entry import Gateway, flow_datagrams
from host.ouch_session import encode_datagram
from host.sequencer import Sequencer
from host.symbols import DEFAULT_SYMBOLS

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
