"""`gatebook run --link` pipelines (issue 13): many commands in flight, every reply as one at a time.

The exchange loop submits a whole burst to a pipelined engine (a `HybridExchange`
with a lane) and resolves each command's replies when its events come back, by
sequence number. Here the same racing OUCH datagrams (tests/link_pipeline_flow.py:
adds, cancels, replaces that rename tokens, fills, token reuse) go to an exchange on
the golden engine, one command at a time, and to one whose lane runs on Amaranth's
simulator in process, pipelined; everything each sends (replies to every client and
the market data, in order, byte for byte) must be equal, on the Python gateway and
the compiled one. The real `gatebook run --link` over a veth to a simulated lane is
tests/test_link_pipeline_run.py.
"""

import itertools

import pytest

from gatebook.host.clock import ManualClock
from gatebook.host.hybrid import HybridExchange
from gatebook.host.ouch import ouch_exchange
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.sim.flows import SYMBOL, hybrid_flow
from gatebook.sim.hybrid.amaranth_link import AmaranthLink
from gatebook.sim.hybrid.hot_flow import hot_flow

from link_pipeline_flow import racing_datagrams  # noqa: E402 (tests/ is on sys.path)
from ouch_login import ListPort, accounts, as_session, log_in_process, outbound

USERS = 4
PEERS = {user: ("127.0.0.1", 20000 + user) for user in range(1, USERS + 1)}
MD = ("239.1.1.1", 30001)


class CountingLink(AmaranthLink):
    """The lane on Amaranth's simulator, counting the host's waits (`run` calls)."""

    def __init__(self, depth):
        super().__init__(depth, stall=0.2, seed=depth)
        self.runs = self.records = 0

    def send(self, records):
        self.records += len(records)
        super().send(records)

    def run(self):
        self.runs += 1
        return super().run()


def _exchange(compiled, engine=None, **session_options):
    port = ListPort()
    exchange = ouch_exchange(port, DEFAULT_SYMBOLS, ManualClock(1_700_000_000_000_000_000, 1000),
                             accounts=accounts(PEERS), compiled=compiled, engine=engine,
                             md_destination=MD,
                             session_options=dict(check_in_thread=False,
                                                  session_ids=itertools.count(0x1000).__next__,
                                                  **session_options))
    return exchange, port


def _serve(exchange, port, datagrams, burst):
    sessions = log_in_process(exchange, port, PEERS)
    port.inbox = [(as_session(payload, sessions[user]), PEERS[user]) for user, payload in datagrams]
    while port.inbox:
        exchange.poll(burst)
    return port.sent


def _reports(sent):
    """Execution reports among `sent` (market data left out)."""
    return sum(len(outbound(payload)[2]) for payload, peer in sent if peer != MD)


def _golden_and_pipelined(datagrams, compiled, burst=32, depth=4, **session_options):
    golden, golden_port = _exchange(compiled, **session_options)
    expected = _serve(golden, golden_port, datagrams, burst)
    link = CountingLink(depth)
    hybrid = HybridExchange(DEFAULT_SYMBOLS, [link], [SYMBOL], window=64)
    pipelined, port = _exchange(compiled, hybrid, **session_options)
    assert pipelined.pipeline
    try:
        sent = _serve(pipelined, port, datagrams, burst)
    finally:
        hybrid.close()
    assert pipelined.entry.path.startswith("compiled" if compiled else "python")
    return expected, sent, pipelined, hybrid, link


@pytest.mark.parametrize("compiled", [False, True], ids=["python", "compiled"])
@pytest.mark.parametrize("flow", ["hot", "adversarial"])
def test_pipelined_replies_are_the_golden_engines_one_at_a_time(flow, compiled):
    if flow == "hot":
        commands = hot_flow(3, 600)
    else:
        commands = hybrid_flow(7, 500, symbols=(SYMBOL, 3))
    datagrams = racing_datagrams(commands, DEFAULT_SYMBOLS, seed=11, users=USERS)
    expected, sent, exchange, hybrid, link = _golden_and_pipelined(datagrams, compiled)
    assert _reports(expected) > len(commands)
    for got, want in zip(sent, expected):
        assert got == want
    assert len(sent) == len(expected)
    assert hybrid.lane_commands > len(commands) // 10        # the lane matched
    # commands in flight together: far fewer waits for the lane than commands it took
    assert link.runs * 3 < hybrid.lane_commands, (link.runs, hybrid.lane_commands)


@pytest.mark.parametrize("compiled", [False, True], ids=["python", "compiled"])
def test_races_on_tokens_in_one_burst(compiled):
    """One datagram per case, all in one burst: each reply depends on a command before it."""
    from gatebook.wire import ouch
    from gatebook.wire.enums import Side, TimeInForce
    from gatebook.host.ouch.framing import encode_datagram

    def enter(token, side, shares, price=1_000_000, tif=0):
        return (ouch.ENTER_ORDER.code, token, "GATE", side, 0, tif, shares, price, 0)

    buy, sell, ioc = int(Side.BUY), int(Side.SELL), int(TimeInForce.IOC)
    script = [
        # 1 rests, 2 renames it to 20; 3 takes it whole: its fill names token 20
        (1, [enter(1, sell, 100)]),
        (1, [(ouch.REPLACE_ORDER.code, 1, 20, 100, 1_000_000)]),
        (2, [enter(3, buy, 100)]),
        # the fill freed token 20: the cancel finds nothing, the reuse is a new order
        (1, [(ouch.CANCEL_ORDER.code, 20)]),
        (1, [(ouch.REPLACE_ORDER.code, 20, 21, 50, 1_000_000)]),
        (1, [enter(20, sell, 10, 1_000_100)]),
        # a live order's token again: a duplicate; a replace onto a live token
        (1, [enter(20, sell, 10, 1_000_200)]),
        (1, [enter(30, sell, 10, 1_000_300)]),
        (1, [(ouch.REPLACE_ORDER.code, 30, 20, 10, 1_000_300)]),
        # a fill and a rename in one datagram, then the taker
        (1, [enter(40, sell, 5, 999_900), (ouch.REPLACE_ORDER.code, 40, 41, 5, 999_900)]),
        (2, [enter(4, buy, 5, 999_900, tif=ioc)]),
        (1, [(ouch.CANCEL_ORDER.code, 41), (ouch.CANCEL_ORDER.code, 40)]),
    ]
    numbers, datagrams = {}, []
    for user, records in script:
        first = numbers.get(user, 1)
        numbers[user] = first + len(records)
        datagrams.append((user, encode_datagram(user, first, records)))
    expected, sent, exchange, hybrid, link = _golden_and_pipelined(datagrams, compiled, depth=8)
    assert sent == expected
    assert exchange.counts["late_tokens"] >= 2          # the cancel and replace of token 20
    assert link.runs < len(script) // 2


@pytest.mark.parametrize("compiled", [False, True], ids=["python", "compiled"])
def test_a_live_order_limit_counts_the_orders_in_flight(compiled):
    """Three live orders allowed: a fill in flight frees one for the next enter, not two."""
    from gatebook.wire import ouch
    from gatebook.wire.enums import Side
    from gatebook.host.ouch.framing import encode_datagram

    def enter(token, side, price):
        return [(ouch.ENTER_ORDER.code, token, "GATE", side, 0, 0, 10, price, 0)]

    sell, buy = int(Side.SELL), int(Side.BUY)
    script = [(1, enter(1, sell, 1_000_000)), (1, enter(2, sell, 1_000_100)),
              (1, enter(3, sell, 1_000_200)), (2, enter(1, buy, 1_000_000)),
              (1, enter(4, sell, 1_000_300)), (1, enter(5, sell, 1_000_400))]
    numbers, datagrams = {}, []
    for user, records in script:
        first = numbers.get(user, 1)
        numbers[user] = first + len(records)
        datagrams.append((user, encode_datagram(user, first, records)))
    expected, sent, exchange, hybrid, link = _golden_and_pipelined(
        datagrams, compiled, depth=8, max_live_orders=3)
    assert sent == expected
    assert exchange.entry.gateway.bad["too_many_live_orders"] == 1      # token 5, not 4


def test_an_entry_that_does_not_pipeline_waits_for_each_answer():
    """OUCH in flight beside the text protocol of tests/text_order_entry.py (no `pipelines`):
    its orders take OUCH orders of the same poll, and both entries' replies are the
    golden engine's; the text entry's order ids follow OUCH's in one poll."""
    from gatebook.wire import ouch
    from gatebook.wire.enums import Side
    from gatebook.host.net.exchange_server import Exchange
    from gatebook.host.ouch import OuchEntry
    from gatebook.host.ouch.framing import encode_datagram
    from text_order_entry import TextEntry

    def run(engine):
        ouch_port, text_port = ListPort(), ListPort()
        entry = OuchEntry(ouch_port, accounts(PEERS), session_options=dict(
            check_in_thread=False, session_ids=itertools.count(0x1000).__next__))
        exchange = Exchange(ouch_port, DEFAULT_SYMBOLS, ManualClock(1, 1000), engine=engine,
                            order_entry=(entry, TextEntry(text_port)))
        sessions = log_in_process(exchange, ouch_port, PEERS)
        sells = [(ouch.ENTER_ORDER.code, token, "GATE", int(Side.SELL), 0, 0, 10,
                  1_000_000 + 100 * token, 0) for token in range(1, 7)]
        ouch_port.inbox = [(as_session(encode_datagram(1, number, [record]), sessions[1]),
                            PEERS[1]) for number, record in enumerate(sells, 1)]
        text_port.inbox = [(f"NEW 9 t{k} GATE BUY 15 1000{k}00".encode(), ("127.0.0.1", 9))
                           for k in range(1, 5)] + [(b"CANCEL 9 t4", ("127.0.0.1", 9))]
        while ouch_port.inbox or text_port.inbox:
            exchange.poll()
        return ouch_port.sent, text_port.sent

    expected = run(None)
    hybrid = HybridExchange(DEFAULT_SYMBOLS, [CountingLink(8)], [SYMBOL])
    try:
        assert run(hybrid) == expected
    finally:
        hybrid.close()
    assert not any(b"DUPLICATE" in payload for payload, _ in expected[1]), expected[1]
    assert sum(payload.startswith(b"FILL") for payload, _ in expected[1]) >= 3


def test_a_full_frame_of_commands_leaves_before_the_host_waits():
    """PacketLaneLink sends each MTU's worth of records as `send` queues them, the rest at
    `run()`: the same frames `pack_frames` makes of all of them, every record in order."""
    from gatebook.dpdk_bridge import dpdk_available
    from gatebook.host.flow import generate_flow
    from gatebook.host.net.link import PacketLaneLink, pack_frames, unpack_frame
    from gatebook.wire import link_frame as lf
    available, why = dpdk_available()
    if not available:
        pytest.skip(f"DPDK unavailable: {why}")
    from gatebook.dpdk_bridge.eal import Eal
    port = Eal.start().attach("net_ring913")         # hands our frames back to us
    mine, far = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
    lane = PacketLaneLink(port, far, 4, local_mac=mine, timeout=0.2)
    records = generate_flow(200)
    try:
        for record in records:
            lane.send((record,))                # one at a time, as the hybrid host sends
        early = port.recv(64)
        assert len(early) == lane.sent_frames >= 5 and lane.round_trips == 0
        with pytest.raises(Exception, match="answered 0 of"):
            lane.run()          # the rest leaves (and comes back to run(), which ignores it)
    finally:
        port.close()
    whole = pack_frames(far, mine, lf.COMMANDS, 0, records)
    assert early == whole[:-1] and lane.sent_frames == len(whole) and lane.ignored == 1
    assert [r for frame in whole for r in unpack_frame(frame)[3]] == [tuple(r) for r in records]
    assert lane.records_sent == len(records) and lane.round_trips == 1
