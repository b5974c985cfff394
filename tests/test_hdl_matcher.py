"""gatebook.hdl.matcher.Matcher against the golden model, on Amaranth's simulator.

The same flows and scoreboard as the cocotb bench (sim/matcher), without
Verilog: directed scenarios, window pressure that forces every punt, and
short seeded random flows with random valid/ready stalls. Then the matcher's
parts on their own: the stamp overlap, the entry helpers, the decision.
"""

import pytest

from gatebook.wire import internal
from gatebook.wire.link import PuntReason
from gatebook.sim.flows import directed, eviction, random_flow, window_pressure
from gatebook.sim.matcher.amaranth_bench import run_flow

SCENARIOS = directed()


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_directed(name):
    sb = run_flow(SCENARIOS[name], depth=4, stall=0.25, seed=1)
    assert sb.done() and sb.commands == len(SCENARIOS[name])


def test_fast_path_never_punts():
    for name in ("rest_and_cancel", "limit_cross", "market_ioc_fok"):
        assert not run_flow(SCENARIOS[name], depth=4).punts, name


def test_every_punt_reason():
    seen = set()
    for name, flow in SCENARIOS.items():
        seen |= set(run_flow(flow, depth=4).punts)
    seen |= set(run_flow(window_pressure(4), depth=4).punts)
    assert seen == set(PuntReason)


@pytest.mark.parametrize("depth", [2, 8])
def test_window_pressure(depth):
    sb = run_flow(window_pressure(depth), depth=depth, stall=0.2, seed=depth)
    assert {PuntReason.WINDOW_FULL, PuntReason.BEYOND_WINDOW, PuntReason.SWEEP} <= set(sb.punts)


@pytest.mark.parametrize("depth", [2, 4, 8])
def test_eviction(depth):
    """A full side gives its worst level to the host and keeps the symbol."""
    sb = run_flow(eviction(depth), depth=depth, stall=0.25, seed=depth)
    assert sb.evictions >= 2
    assert PuntReason.WINDOW_FULL not in sb.punts
    assert {PuntReason.NOT_IN_WINDOW, PuntReason.SWEEP} <= set(sb.punts)
    # Built without eviction, the same flow hands the symbol over instead.
    sb = run_flow(eviction(depth), depth=depth, evict=False)
    assert sb.evictions == 0 and PuntReason.WINDOW_FULL in sb.punts


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_random_flow(seed):
    sb = run_flow(random_flow(seed, 250), depth=4 * (seed - 10), seed=seed, stall=0.3)
    assert sb.done()


@pytest.mark.long
def test_random_flows_long():
    """Twenty flows of 3000 commands over window depths 2..16 (about a minute)."""
    for seed in range(100, 120):
        run_flow(random_flow(seed, 3000), depth=(2, 4, 8, 16)[seed % 4], seed=seed, stall=0.3)


def test_functional_coverage(capsys):
    """Random flows reach every command x outcome x window-state bin the lane can."""
    from collections import Counter

    from gatebook.sim.matcher.scoreboard import coverage_table
    coverage = Counter()
    for seed, depth in ((1, 2), (2, 2), (3, 4), (4, 8)):
        coverage.update(run_flow(random_flow(seed, 300), depth=depth, seed=seed).coverage)
    reached = {(kind, outcome) for kind, outcome, _ in coverage}
    wanted = {(kind, outcome) for kind in ("limit", "IOC", "market")
              for outcome in ("full fill", "partial fill", "handover")}
    wanted |= {("FOK", "full fill"), ("FOK", "kill"), ("IOC", "no fill"), ("limit", "rest"),
               ("cancel", "done"), ("cancel", "punt"), ("replace", "done"),
               ("replace", "handover"), ("stop", "handover")}
    assert wanted <= reached, wanted - reached
    for state in ("empty", "partial", "full"):
        assert coverage[("limit", "rest", state)], state
    assert coverage[("limit", "handover", "full")]
    with capsys.disabled():
        print("\n" + coverage_table(coverage))


# -- the matcher's parts, one at a time -------------------------------------------------

def _settle(module, drive):
    """Run `drive(ctx)` once against a combinational `module` on Amaranth's simulator."""
    from amaranth.sim import Simulator

    sim = Simulator(module)
    sim.add_testbench(drive)
    sim.run()


def test_stamp_overlap_holds_for_the_tables():
    """Every sequenced command carries seq and ts at the bits events read them from."""
    from gatebook.hdl.layouts import COMMAND
    from gatebook.hdl.matcher_records import UNSTAMPED_COMMANDS, check_stamp_overlap

    check_stamp_overlap(COMMAND)
    stamped = set(COMMAND.members) - {"code"} - UNSTAMPED_COMMANDS
    assert {"new_order", "cancel", "replace", "mass_cancel", "admin", "host"} <= stamped


@pytest.mark.parametrize("bad_member", [
    {"code": 8, "ts": 64, "seq": 64},        # the stamp's fields swapped
    {"code": 8, "seq": 64},                  # no timestamp
    {"code": 8, "seq": 32, "ts": 64},        # a narrower sequence number
])
def test_stamp_overlap_refuses_a_command_that_moves_the_stamp(bad_member):
    from amaranth.lib import data

    from gatebook.hdl.matcher_records import check_stamp_overlap

    layout = data.UnionLayout({
        "code":   8,
        "cancel": data.StructLayout({"code": 8, "seq": 64, "ts": 64, "order_id": 64}),
        "moved":  data.StructLayout(bad_member),
    })
    with pytest.raises(ValueError, match="'moved'"):
        check_stamp_overlap(layout)


def test_entry_from_order_copies_by_name():
    """A window entry made from a new order: same-named fields, its seq as priority."""
    from amaranth.hdl import Module, Signal

    from gatebook.hdl.layouts import COMMAND
    from gatebook.hdl.matcher_records import entry_from_order

    m = Module()
    command = Signal(COMMAND)
    entry = entry_from_order(m, command.new_order, 17)
    order = {"order_id": 0x1122334455667788, "user": 42, "order_type": 0, "tif": 1,
             "price": 10_050, "stop_price": 9_000, "qty": 500, "seq": 987_654, "ts": 3}

    async def drive(ctx):
        for name, value in order.items():
            ctx.set(command.new_order[name], value)
        got = {name: ctx.get(entry[name]) for name in ("order_id", "user", "order_type", "tif",
                                                        "price", "stop_price", "qty", "prio_seq")}
        assert got == {**{k: order[k] for k in got if k in order}, "qty": 17,
                       "prio_seq": 987_654}

    _settle(m, drive)


def test_load_and_spill_carry_every_entry_field():
    """LOAD -> window entry -> SPILL, all by field name: nothing dropped or shifted."""
    from amaranth.hdl import Module, Signal

    from gatebook.hdl.layouts import COMMAND, ENTRY, EVENT
    from gatebook.hdl.matcher_events import EventFormatter
    from gatebook.hdl.matcher_records import entry_from_record
    from gatebook.wire import link

    m = Module()
    # LOAD carries no stamp, so the stamp comes from another (stamped) command.
    loading, stamped, spill = Signal(COMMAND), Signal(COMMAND), Signal(EVENT)
    entry = entry_from_record(m, loading.load)
    EventFormatter(m, stamped).handed_entry(spill.spill, link.SPILL, symbol=7, side=1,
                                            entry=entry)
    # Distinct values that fit every field, so a field read from its neighbour shows.
    fields = {name: 100 + index for index, name in enumerate(ENTRY.members)}

    async def drive(ctx):
        for name, value in fields.items():
            ctx.set(loading.load[name], value)
        ctx.set(stamped.cancel.seq, 55)
        ctx.set(stamped.cancel.ts, 66)
        got = {name: ctx.get(spill.spill[name]) for name in fields}
        assert got == fields
        assert ctx.get(spill.code) == link.SPILL.code
        assert (ctx.get(spill.spill.symbol), ctx.get(spill.spill.side)) == (7, 1)
        assert (ctx.get(spill.spill.seq), ctx.get(spill.spill.ts)) == (55, 66)

    _settle(m, drive)


def _decide(command, *, owned=1, symbol=7):
    """The decision's (start, punt reason) for one command against empty windows."""
    from amaranth.hdl import Module, Signal

    from gatebook.hdl.layouts import COMMAND
    from gatebook.hdl.matcher_decision import DeepPrices, Decision
    from gatebook.hdl.window import Window
    from gatebook.wire.enums import Side

    m = Module()
    m.submodules.bids = bids = Window(2, Side.BUY)
    m.submodules.asks = asks = Window(2, Side.SELL)
    incoming = Signal(COMMAND)
    state = {"owned": Signal(), "symbol": Signal(16), "deep": DeepPrices()}
    m.submodules.decision = decision = Decision(incoming, bids, asks, evict=True, **state)
    answer = []

    async def drive(ctx):
        ctx.set(state["owned"], owned)
        ctx.set(state["symbol"], symbol)
        member, fields = command
        for name, value in fields.items():
            ctx.set(incoming[member][name], value)
        answer.append((ctx.get(decision.start), ctx.get(decision.punt_reason)))

    _settle(m, drive)
    return answer[0]


def _new_order(**fields):
    order = {"code": internal.NEW_ORDER.code, "symbol": 7, "order_id": 1, "user": 1,
             "side": 0, "order_type": 0, "tif": 0, "price": 100, "qty": 10}
    return ("new_order", {**order, **fields})


@pytest.mark.parametrize("command, owned, expected", [
    (_new_order(), 1, ("ADDED", None)),
    (_new_order(tif=2), 1, ("KILLED", None)),                       # IOC, nothing to hit
    (_new_order(tif=3), 1, ("KILLED", None)),                       # FOK, nothing to hit
    (_new_order(order_type=2), 1, ("FLUSH", "STOP")),
    (_new_order(symbol=8), 1, ("PUNT", "NOT_OWNED")),
    (_new_order(), 0, ("PUNT", "NOT_OWNED")),
    (("cancel", {"code": internal.CANCEL.code, "order_id": 1, "user": 1}), 1, ("PUNT", "NOT_IN_WINDOW")),
    (("replace", {"code": internal.REPLACE.code, "order_id": 1, "user": 1, "price": 1, "qty": 1}), 1,
     ("FLUSH", "REPLACE")),
])
def test_decision_on_empty_windows(command, owned, expected):
    """The accept/punt decision on its own: each rule's start state and punt reason."""
    from gatebook.hdl.matcher_decision import Start

    start, reason = _decide(command, owned=owned)
    want_start, want_reason = expected
    assert start == Start[want_start]
    if want_reason is not None:
        assert reason == PuntReason[want_reason]


def test_idle_is_low_while_a_command_waits_in_the_input_stage():
    """`i.ready` is high while a command is staged, so links and the link endpoint watch
    `idle` to know the lane is done: low from the clock a command is taken until the clock
    of its last beat (a resting add: ACCEPTED+LEVEL two clocks after it was taken)."""
    from amaranth.sim import Simulator

    from gatebook.hdl.driver import MatcherCodec
    from gatebook.hdl.matcher import Matcher
    from gatebook.wire import link

    dut = Matcher(2)
    codec = MatcherCodec(dut)
    own = (link.OWN.code, 7, 0, 0, 0)
    add = (internal.NEW_ORDER.code, 1, 10, 7, 1, 1, 0, 0, 1, 100, 0, 10)
    seen = []

    async def bench(ctx):
        ctx.set(dut.o.ready, 1)
        for record in (own, add):
            ctx.set(dut.i.payload.as_value(), codec.commands.encode(record))
            ctx.set(dut.i.valid, 1)
            await ctx.tick().until(dut.i.ready)
        ctx.set(dut.i.valid, 0)
        for _ in range(4):
            seen.append((ctx.get(dut.idle), ctx.get(dut.i.ready), ctx.get(dut.o.valid)))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    # The add is staged (ready high, not idle), then decided, then its beat goes out while
    # the lane is idle again.
    assert seen[0] == (0, 1, 0)
    assert (1, 1, 1) in seen[1:3] and seen[3] == (1, 1, 0)


@pytest.mark.parametrize("side, price, reason", [
    (1, 90, "SWEEP"),              # a sell that reaches the host's bids behind an empty window
    (1, 110, "BEYOND_WINDOW"),     # a sell that would rest at the host's best ask
])
def test_a_command_right_behind_own_sees_its_deep_prices(side, price, reason):
    """The deep-price compares are registered in the input stage: a new order decided in
    the clock right after an OWN must compare with the prices that OWN set (bid 100,
    ask 110), not the ones before it (none)."""
    from amaranth.sim import Simulator

    from gatebook.hdl.driver import MatcherCodec
    from gatebook.hdl.matcher import Matcher
    from gatebook.wire import link

    dut = Matcher(2)
    codec = MatcherCodec(dut)
    own = (link.OWN.code, 7, 100, 110, 0)
    order = (internal.NEW_ORDER.code, 1, 10, 7, 1, 1, side, 0, 0, price, 0, 10)
    events = []

    async def bench(ctx):
        ctx.set(dut.o.ready, 1)
        for record in (own, order):      # back to back: the order is staged as OWN is taken
            ctx.set(dut.i.payload.as_value(), codec.commands.encode(record))
            ctx.set(dut.i.valid, 1)
            await ctx.tick().until(dut.i.ready)
        ctx.set(dut.i.valid, 0)
        for _ in range(6):
            if ctx.get(dut.o.valid):
                events.extend(codec.decode_beat(ctx.get(dut.o.payload.as_value())))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    from gatebook.wire.named import record_class
    punt = record_class(link.PUNT)(*next(e for e in events if e[0] == link.PUNT.code))
    assert punt.reason == PuntReason[reason]
