"""Replies framed per burst: one datagram per session, split under the size
limit, numbered without gaps, and the same messages `replies()` describes."""

import pytest

from gatebook.host.clock import ManualClock
from gatebook.host.engine import MatchingEngine
from gatebook.host.flow import generate_flow
from gatebook.host.ouch.gateway import Gateway, flow_datagrams
from gatebook.host.ouch.replier import MAX_PAYLOAD, Replier
from gatebook.host.ouch.framing import OUTBOUND_CODEC, RAW_OUTBOUND, decode_datagram
from gatebook.host.sequencer import Sequencer
from gatebook.host.symbols import DEFAULT_SYMBOLS


def _run(max_payload, burst):
    """Replies to a flow, flushed every `burst` commands, plus what `replies()`
    says about the same events, per session."""
    gateways = [Gateway(Sequencer(ManualClock(start=1)), DEFAULT_SYMBOLS) for _ in range(2)]
    engines = [MatchingEngine(DEFAULT_SYMBOLS) for _ in range(2)]
    packed, readable = Replier(gateways[0], DEFAULT_SYMBOLS, max_payload), Replier(
        gateways[1], DEFAULT_SYMBOLS)
    sent, said = [], {}
    for index, (session, payload) in enumerate(
            flow_datagrams(generate_flow(3000, seed=4), DEFAULT_SYMBOLS, batch=2)):
        peer = ("127.0.0.1", 20000 + session % 1000)
        for command in gateways[0].commands(payload, (gateways[0].frame(payload, peer),)):
            packed.add(engines[0].apply(command))
        # One command at a time, each applied before the next is taken (a fill
        # forgets its order's token before the datagram's next message names it).
        for command in gateways[1].commands(payload, (gateways[1].frame(payload, peer),)):
            for to, record in readable.replies(engines[1].apply(command)):
                said.setdefault(to, []).append(record)
        if index % burst == burst - 1:
            sent += packed.flush()
    sent += packed.flush()
    return sent, said


@pytest.mark.parametrize("max_payload, burst", [(MAX_PAYLOAD, 64), (100, 256)])
def test_batched_replies_are_the_readable_replies_numbered_without_gaps(max_payload, burst):
    sent, said = _run(max_payload, burst)
    got, next_seq = {}, {}
    for payload, peer in sent:
        assert len(payload) <= max_payload
        session, first, records = decode_datagram(payload, OUTBOUND_CODEC)
        assert peer[1] == 20000 + session % 1000
        assert first == next_seq.get(session, 1)         # contiguous per session
        next_seq[session] = first + len(records)
        got.setdefault(session, []).extend(records)
    assert len(sent) < sum(map(len, got.values()))       # batched: fewer datagrams than replies
    for session, records in said.items():
        raw = [OUTBOUND_CODEC.decode(RAW_OUTBOUND[r[0]].pack(*r)) for r in records]
        assert got[session] == raw, session
    assert set(got) == set(said)


def test_a_session_without_a_peer_is_numbered_but_not_sent():
    gateway = Gateway(Sequencer(ManualClock(start=1)), DEFAULT_SYMBOLS)
    engine, replier = MatchingEngine(DEFAULT_SYMBOLS), Replier(gateway, DEFAULT_SYMBOLS)
    (_, payload), = flow_datagrams(generate_flow(1, seed=1), DEFAULT_SYMBOLS)
    for command in gateway.datagram(payload):                 # no peer known
        assert replier.datagrams(engine.apply(command)) == []
    assert list(replier.sequences.values()) == [2]
