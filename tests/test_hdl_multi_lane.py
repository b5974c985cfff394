"""Several symbols over one pipeline (`gatebook.hdl.multi_lane.MultiLane`, issue 15).

The hybrid host drives a `LaneLink` view per home symbol over one multi-symbol pipeline
(`gatebook.sim.hybrid.multi_link`), on Amaranth's simulator with random valid/ready
stalls and through the link endpoint built with `lanes=N`; every event and the state hash
must be the golden engine's. Hostile records (a symbol no lane holds, a LOAD with every
lane taken, a ROUTE nowhere, a cancel sent to the wrong lane) are answered as one lane
answers them and never wedge the pipeline.
"""

import pytest

from gatebook.host.hybrid import FitsWindow, RandomReload
from gatebook.host.net.link import PacketLaneLink
from gatebook.sim.endpoint.amaranth_port import ENDPOINT_MAC, EndpointPort
from gatebook.sim.flows import OTHER, SYMBOL, directed, hybrid_flow
from gatebook.sim.hybrid.equivalence import check_equivalence
from gatebook.sim.hybrid.multi_link import MultiLaneMux, MultiLaneSim, multi_lane_links
from gatebook.sim.multilane.flows import multi_hot_flow
from gatebook.wire import internal, link
from gatebook.wire.enums import ALL_SYMBOLS, Side
from gatebook.wire.link import PuntReason
from gatebook.wire.positions import CODE, LINK

HOMES = (1, 2, 3)


def _mux(hybrid):
    return hybrid.lanes[0].link.mux


def test_hot_flow_of_three_symbols_over_one_pipeline():
    """Three homes, three lanes, one input and one output stream: the golden engine's events."""
    commands = multi_hot_flow(7, 450, HOMES)
    hybrid = check_equivalence(commands, multi_lane_links(HOMES, stall=0.25, seed=7),
                               depths=[4] * 3, homes=list(HOMES), window=16, hash_every=150,
                               name="multi_hot")
    assert hybrid.lane_commands > len(commands) // 2
    assert all(lane.loads >= 1 for lane in hybrid.lanes)
    assert _mux(hybrid).routes > 20, "cancels of each symbol must have been routed"


def test_adversarial_flow_with_a_host_symbol_and_reloads():
    """Two homes on a four-lane pipeline beside a host-only symbol: mass cancels of every
    scope (HOST markers for ALL_SYMBOLS to both lanes, one seq), handovers, every reject."""
    commands = hybrid_flow(5, 500)
    hybrid = check_equivalence(commands, multi_lane_links((SYMBOL, OTHER), lanes=4, stall=0.3,
                                                          seed=5),
                               depths=[4, 4], homes=[SYMBOL, OTHER], window=8, hash_every=125,
                               policy=RandomReload(5, p=0.5), name="multi_adversarial")
    for lane in hybrid.lanes:
        assert lane.loads >= 5 and lane.handovers >= 5
    assert {PuntReason.HOST, PuntReason.NOT_IN_WINDOW} <= set(hybrid.punts)


def test_the_lane_sees_every_command_of_its_symbols():
    """Without `host_keeps` each lane answers every punt reason itself, for two symbols."""
    commands = hybrid_flow(9, 400, symbols=(SYMBOL, OTHER))
    hybrid = check_equivalence(commands, multi_lane_links((SYMBOL, OTHER), stall=0.2, seed=9),
                               depths=[4, 4], homes=[SYMBOL, OTHER], window=8,
                               policy=FitsWindow(host_keeps=False), name="multi_sees_all")
    assert {PuntReason.NOT_IN_WINDOW, PuntReason.REPLACE, PuntReason.STOP} <= set(hybrid.punts)


@pytest.mark.parametrize("name", ["rest_and_cancel", "limit_cross", "market_ioc_fok"])
def test_one_lane_pipeline_is_one_lane(name):
    """`MultiLane(depth, 1)` behind the router and merger answers as the lane alone does."""
    commands = directed()[name]
    hybrid = check_equivalence(commands, multi_lane_links((SYMBOL,), stall=0.25),
                               depths=[4], homes=[SYMBOL], window=1, name=f"multi1_{name}")
    assert hybrid.lane_commands == len(commands)


def test_more_homes_than_lanes_is_refused():
    with pytest.raises(ValueError, match="2 lanes"):
        multi_lane_links((1, 2, 3), lanes=2)
    pipeline = MultiLaneSim(4, 1)
    mux = MultiLaneMux(pipeline, 1)
    view = mux.view(1)
    try:
        with pytest.raises(ValueError, match="1 lanes, all with a view"):
            mux.view(2)
    finally:
        view.close()


def _through_the_endpoint(depth, lanes, vcd):
    port = EndpointPort(depth, stall=0.2, seed=3, vcd=vcd, lanes=lanes)
    return PacketLaneLink(port, ENDPOINT_MAC, depth, timeout=120)


@pytest.mark.parametrize("count", [80, pytest.param(600, marks=pytest.mark.long)])
def test_two_symbols_through_the_link_endpoint(count):
    """`LaneEndpoint(4, mac, lanes=2)` behind PacketLaneLink: frames in, frames out, and the
    `answered` rule holds with two lanes writing into one transmitter."""
    commands = multi_hot_flow(3, count, (SYMBOL, OTHER))
    hybrid = check_equivalence(commands, multi_lane_links((SYMBOL, OTHER),
                                                          transport=_through_the_endpoint),
                               depths=[4, 4], homes=[SYMBOL, OTHER], window=8,
                               hash_every=count // 2, name="multi_endpoint")
    assert hybrid.lane_commands > len(commands) // 3


# -- hostile records, straight into the pipeline -------------------------------------

def _record(message, **fields):
    return (message.code,) + tuple(fields[name] for name in message.field_names)


def _order(seq, symbol, order_id, side, price, qty, user=1):
    return _record(internal.NEW_ORDER, seq=seq, ts=10 * seq, symbol=symbol, order_id=order_id,
                   user=user, side=side, order_type=0, tif=1, price=price, stop_price=0, qty=qty)


def _load(symbol, order_id, side, price, qty, user=1):
    return _record(link.LOAD, symbol=symbol, side=side, order_id=order_id, user=user,
                   order_type=0, tif=1, price=price, stop_price=0, qty=qty, prio_seq=1)


def _own(symbol):
    return _record(link.OWN, symbol=symbol, bid_deep=0, ask_deep=0, last_price=0)


def _cancel(seq, order_id, user=1):
    return _record(internal.CANCEL, seq=seq, ts=10 * seq, order_id=order_id, user=user)


def _route(seq, symbol):
    return _record(link.ROUTE, seq=seq, ts=10 * seq, symbol=symbol)


def _answers(records):
    """{seq: [(type code, punt reason or None), ...]} of the pipeline's output."""
    out = {}
    for record in records:
        reason = record[LINK.PUNT.reason] if record[CODE] == link.PUNT.code else None
        out.setdefault(record[LINK.PUNT.seq], []).append((record[CODE], reason))
    return out


def test_hostile_records_are_answered_as_one_lane_answers_them():
    pipeline = MultiLaneSim(4, 2, stall=0.3, seed=1)
    punt = link.PUNT.code
    try:
        pipeline.send([
            _order(1, 9, 100, Side.BUY, 1000_0000, 10),     # no lane holds 9 (none holds any)
            _cancel(2, 77),                                 # an id no window holds
            _route(2, 9),                                   # ROUTE to a symbol no lane holds
            _load(1, 10, Side.BUY, 99_0000, 100), _own(1),  # lane 0 takes symbol 1
            _load(2, 20, Side.SELL, 101_0000, 100), _own(2),    # lane 1 takes symbol 2
            _load(3, 30, Side.SELL, 101_0000, 100), _own(3),    # every lane is taken: dropped
            _order(3, 3, 101, Side.BUY, 101_0000, 10),      # symbol 3 never got a lane
            _cancel(4, 20),                                 # symbol 2's order, lane 0 selected
            _route(5, 2), _cancel(5, 20),                   # routed: lane 1 cancels it
            _record(link.HOST, seq=6, ts=60, symbol=ALL_SYMBOLS, handover=1),  # lane 1's symbol
            _order(7, 1, 102, Side.SELL, 99_0000, 100),     # symbol 1 still trades
        ])
        answers = _answers(pipeline.run())
        assert pipeline.unrouted == 3
    finally:
        pipeline.close()
    assert answers[1] == [(punt, PuntReason.NOT_OWNED)]
    assert answers[2] == [(punt, PuntReason.NOT_IN_WINDOW)]
    assert answers[3] == [(punt, PuntReason.NOT_OWNED)]
    assert answers[4] == [(punt, PuntReason.NOT_IN_WINDOW)]
    assert answers[5] == [(internal.CANCELLED.code, None), (internal.LEVEL.code, None)]
    assert answers[6] == [(punt, PuntReason.HOST)]
    assert [kind for kind, _ in answers[7]] == [
        internal.ACCEPTED.code, internal.EXECUTED.code, internal.TRADE.code, internal.LEVEL.code]


def test_the_mux_refuses_a_view_that_names_another_lanes_symbol():
    pipeline = MultiLaneSim(4, 2)
    mux = MultiLaneMux(pipeline, 2)
    first, second = mux.view(1), mux.view(2)
    try:
        first.send([_load(1, 10, Side.BUY, 99_0000, 100), _own(1)])
        second.send([_own(2)])
        with pytest.raises(Exception, match="another lane's"):
            first.send([_order(1, 2, 11, Side.BUY, 99_0000, 1)])
    finally:
        first.close()
        second.close()


def test_clocks_per_command():
    """The router and merger add no clock to the first beat; one lane runs at beats + 1 a
    command; commands for different lanes overlap up to one record in and one beat out a
    clock (`python -m gatebook.sim.multilane.cycles`, docs/hardware.md)."""
    from gatebook.hdl.matcher import Matcher
    from gatebook.hdl.multi_lane import MultiLane
    from gatebook.sim.multilane.cycles import measure, workloads

    def per_command(dut, symbols, name):
        setup, records, commands = workloads(24, symbols)[name]
        clocks, first = measure(dut, setup, records)
        return clocks / commands, measure(dut, setup, records[:1])[1]

    lane = per_command(Matcher(4), 1, "IOC kill, 1 symbol")
    alone = per_command(MultiLane(4, 1), 1, "IOC kill, 1 symbol")
    shared = per_command(MultiLane(4, 2), 2, "IOC kill, 2 symbols")
    assert lane[1] == alone[1] == shared[1] == 2                # clocks to the first beat
    assert lane[0] < 1.1 and 1.9 < alone[0] < 2.1 and shared[0] < 1.1


def test_area_rows_split_lanes_from_the_router():
    """`python -m gatebook.sim.multilane.area` reads each module's own cells from yosys's
    hierarchical stat (a block per module, "count  cell" rows)."""
    from gatebook.sim.multilane.area import cell_rows
    stat = """
=== top.pipeline ===

        +----------Local Count, excluding submodules.
        |
      152   LUT4
       19   TRELLIS_FF

=== top.pipeline.lane0.bids ===

     2386   LUT4
      162   CCU2C
      532   TRELLIS_FF
"""
    assert cell_rows(stat) == {"top.pipeline": (152, 19), "top.pipeline.lane0.bids": (2386, 532)}
