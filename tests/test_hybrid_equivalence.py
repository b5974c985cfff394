"""Hybrid equivalence, the acceptance test of the design (issue 3, docs/hardware.md).

host/hybrid's `HybridExchange` with `gatebook.hdl.matcher.Matcher` lanes on Amaranth's
simulator, against the pure software engine on the same flows: every event
and the state hash (every few hundred commands and at the end) must be equal.
Random valid/ready stalls on every lane; directed scenarios, window pressure,
seeded random flows, and adversarial multi-symbol flows with two lanes and
with random reload policies, which between them force every punt reason,
handover and reload. The long variants (Verilator harness, 1M orders) are in
tests/test_hybrid_long.py.
"""

import os

import pytest

from gatebook.wire import internal
from gatebook.wire.enums import OrderType, Side, TimeInForce
from gatebook.wire.link import PuntReason
from gatebook.wire.records import make as make_record
from gatebook.host.hybrid import FitsWindow, RandomReload
from gatebook.host.symbols import DEFAULT_SYMBOLS, SymbolSpec
from gatebook.sim.flows import (OTHER, SYMBOL, directed, eviction, hybrid_flow, random_flow,
                       window_pressure)
from gatebook.sim.hybrid.amaranth_link import AmaranthLink
from gatebook.sim.hybrid.equivalence import EquivalenceError, check_equivalence

SCENARIOS = directed()
# The lane sees every command of the symbol it owns: what exercises each of its punt rules.
LANE_SEES_ALL = FitsWindow(host_keeps=False)


def stalling(stall=0.25, seed=0):
    return lambda depth, index, vcd: AmaranthLink(depth, stall=stall, seed=seed + index, vcd=vcd)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_directed(name):
    hybrid = check_equivalence(SCENARIOS[name], stalling(), depths=[4], homes=[SYMBOL],
                               window=1, name=name)
    assert hybrid.lane_commands, "the lane must process some of every scenario"


def test_fast_path_stays_in_the_lane():
    """Scenarios the lane can do alone: every command is the lane's (the HOST is the hash's)."""
    for name in ("rest_and_cancel", "limit_cross", "market_ioc_fok"):
        hybrid = check_equivalence(SCENARIOS[name], stalling(), depths=[4], homes=[SYMBOL],
                                   window=1, name=name)
        assert hybrid.lane_commands == len(SCENARIOS[name]), name


@pytest.mark.parametrize("depth", [2, 8])
def test_window_pressure(depth):
    hybrid = check_equivalence(window_pressure(depth), stalling(seed=depth), depths=[depth],
                               homes=[SYMBOL], window=1, name=f"pressure_d{depth}",
                               policy=LANE_SEES_ALL)
    assert {PuntReason.WINDOW_FULL, PuntReason.BEYOND_WINDOW,
            PuntReason.SWEEP} <= set(hybrid.punts)
    assert hybrid.lanes[0].loads >= 3


@pytest.mark.parametrize("depth", [2, 8])
def test_host_keeps_an_order_behind_its_deeper_ones(depth):
    """An order resting behind the host's deeper bids is the host's: the lane keeps the symbol
    (with the lane seeing it, the same order hands the whole window back, BEYOND_WINDOW)."""
    hybrid = check_equivalence(window_pressure(depth), stalling(seed=depth), depths=[depth],
                               homes=[SYMBOL], window=1, name=f"keeps_d{depth}")
    assert PuntReason.BEYOND_WINDOW not in hybrid.punts
    assert hybrid.host_kept >= 1


@pytest.mark.parametrize("depth", [2, 8])
def test_eviction(depth):
    """Spilled levels join the engine's book exactly; the lane keeps the symbol."""
    hybrid = check_equivalence(eviction(depth), stalling(seed=depth), depths=[depth],
                               homes=[SYMBOL], window=1, name=f"eviction_d{depth}")
    assert hybrid.evictions >= 2
    assert PuntReason.WINDOW_FULL not in hybrid.punts


@pytest.mark.parametrize("seed,depth", [(11, 4), (12, 16)])
def test_random_flow(seed, depth):
    commands = random_flow(seed, 600)
    hybrid = check_equivalence(commands, stalling(0.3, seed), depths=[depth], homes=[SYMBOL],
                               window=8, hash_every=200, name=f"random_{seed}")
    assert hybrid.lane_commands > len(commands) // 10


@pytest.mark.parametrize("seed, count", [(1, 300), pytest.param(1, 1000, marks=pytest.mark.long),
                                         pytest.param(2, 1000, marks=pytest.mark.long)])
def test_adversarial_two_lanes(seed, count):
    """Two lanes (depths 8 and 16, homes GATE and AAPL) and the host's MSFT, all at once
    (a 300-command flow by default, which already loads and hands over each lane ten
    times and evicts; the 1000-command flows with --run-long)."""
    commands = hybrid_flow(seed, count)
    hybrid = check_equivalence(commands, stalling(0.25, seed), depths=[8, 16],
                               homes=[SYMBOL, OTHER], window=4, hash_every=count // 4,
                               name=f"adversarial_{seed}")
    for lane in hybrid.lanes:
        assert lane.loads >= 10 and lane.handovers >= 10
    assert hybrid.lane_commands > len(commands) // 4
    assert hybrid.evictions


# One seed by default (the three together cost ~20 s); all three with --run-long.
@pytest.mark.parametrize("seed", [1, pytest.param(2, marks=pytest.mark.long),
                                  pytest.param(3, marks=pytest.mark.long)])
def test_adversarial_random_reloads(seed):
    """One shallow lane, loads at random moments: migrations land everywhere in the flow."""
    commands = hybrid_flow(seed + 10, 700, symbols=(3,))
    hybrid = check_equivalence(commands, stalling(0.3, seed), depths=[4], homes=[3],
                               window=8, hash_every=175, policy=RandomReload(seed, p=0.3),
                               name=f"reloads_{seed}")
    assert hybrid.lanes[0].loads >= 20


def test_every_punt_reason():
    """The directed scenarios, window pressure and one adversarial flow reach every reason."""
    seen = set()
    for name, commands in SCENARIOS.items():
        seen |= set(check_equivalence(commands, stalling(0), depths=[4], homes=[SYMBOL],
                                      window=1, name=name, policy=LANE_SEES_ALL).punts)
    seen |= set(check_equivalence(window_pressure(2), stalling(0), depths=[2], homes=[SYMBOL],
                                  window=1, policy=LANE_SEES_ALL).punts)
    seen |= set(check_equivalence(hybrid_flow(1, 500), stalling(0), depths=[8], homes=[SYMBOL],
                                  window=8, policy=LANE_SEES_ALL).punts)
    assert seen == set(PuntReason), set(PuntReason) - seen


class _Corrupting:
    """An AmaranthLink that changes the open shares of one LEVEL event of `seq`."""

    def __init__(self, inner, seq):
        self.inner, self.seq, self.depth = inner, seq, inner.depth

    def send(self, records):
        self.inner.send(records)

    def run(self):
        out = self.inner.run()
        return [r[:6] + (r[6] + 1,) + r[7:]
                if r[0] == internal.LEVEL.code and r[1] == self.seq else r for r in out]

    def close(self):
        self.inner.close()


def test_a_difference_names_the_seq_and_writes_waves(tmp_path):
    commands = SCENARIOS["limit_cross"]
    bad_seq = commands[4][1]

    def make(depth, index, vcd):
        return _Corrupting(AmaranthLink(depth, vcd=vcd), bad_seq)
    with pytest.raises(EquivalenceError) as caught:
        check_equivalence(commands, make, depths=[4], homes=[SYMBOL], window=1,
                          wave_dir=str(tmp_path), name="broken")
    assert caught.value.seq == bad_seq
    assert f"seq {bad_seq}:" in str(caught.value)
    assert caught.value.waves and all(os.path.getsize(w) > 1000 for w in caught.value.waves)


def test_malformed_commands_are_the_engines():
    """Short, unknown and ill-typed commands reach the engine, which rejects them, in order."""
    from gatebook.sim.flows import BUY, SELL, Flow, cents
    f = Flow()
    f.order(BUY, cents(10000), 10)
    good = list(f.commands)
    seq = f.seq
    bad = [(internal.NEW_ORDER.code, seq), (0x7F, seq + 1, 0),
           (internal.NEW_ORDER.code, seq + 2, 0, SYMBOL, 77, 1, BUY, 0, 1, "100", 0, 10),
           (internal.CANCEL.code, seq + 3, 0, [1], 1),
           (internal.ADMIN.code, seq + 4, 0, 1),
           (internal.NEW_ORDER.code, seq + 5, 0, SYMBOL, 78, -1, BUY, 0, 1, cents(10000), 0, 10),
           (internal.NEW_ORDER.code, seq + 6, 0, SYMBOL, 79, 1, True, 0, 1, cents(10000), 0, 10)]
    f = Flow(first_seq=seq + 7)
    f.next_id = 2
    f.order(SELL, cents(10000), 5, user=2)
    f.cancel(1)
    hybrid = check_equivalence(good + bad + f.commands, stalling(), depths=[4], homes=[SYMBOL],
                               window=2, name="malformed")
    assert hybrid.lane_commands >= 3


# GATE with a notional limit that 3e9 shares at $150.00 meet and $151.00 pass.
EXTREME_SYMBOLS = (SymbolSpec(SYMBOL, "GATE", tick_size=100, price_min=100_000,
                              price_max=2_000_000, max_notional=3_000_000_000 * 1_500_000),
                   ) + tuple(s for s in DEFAULT_SYMBOLS if s.symbol_id != SYMBOL)


def extreme_flow():
    """Huge orders, the symbol's limits, IntEnum fields and ill-typed cancels (issue 9)."""
    from gatebook.sim.flows import BUY, FOK, IOC, SELL, Flow, cents
    big, most = 3_000_000_000, 0xFFFF_FFFF
    f = Flow()
    asks = [f.order(SELL, cents(15000), big, user=u) for u in (1, 2, 3)]    # 9e9 at one level
    f.order(Side.SELL, cents(15000), big, user=4, order_type=OrderType.LIMIT,
            tif=TimeInForce.GTC)                                             # IntEnum fields
    bids = [f.order(BUY, cents(14000), most, user=u) for u in (5, 6)]
    f.order(BUY, cents(15000), most, user=7, tif=FOK)                       # crosses 9e9+ shares
    f.order(BUY, cents(15000), big, user=7, tif=IOC)
    f.market(SELL, most, user=8)
    f.order(BUY, cents(15000), most + 1, user=7)                            # QUANTITY_TOO_LARGE
    f.order(BUY, cents(15100), big, user=7)                                 # notional limit
    f.order(BUY, cents(14000), most, user=9, order_type=OrderType.STOP_LIMIT,
            stop_price=cents(15000))
    f.replace(asks[2], cents(15000), big - 1, user=3)                       # decrease: the lane's
    f.replace(asks[2], cents(15000), most, user=3)                          # increase: the host's
    f.replace(bids[0], cents(15100), big, user=5)                           # notional limit
    for message, fields in [(internal.CANCEL, dict(order_id=True, user=1)),  # bool: no order
                            (internal.CANCEL, dict(order_id=asks[1], user=2.0)),
                            (internal.CANCEL, dict(order_id=asks[1], user=1 << 32)),
                            (internal.REPLACE, dict(order_id=asks[1], user=2,
                                                    price=cents(15000), qty=True))]:
        f.commands.append(make_record(message, seq=f.seq, ts=0, **fields))
        f.seq += 1
    f.order(BUY, cents(15000), big, user=7)                                 # triggers the stop
    f.cancel(asks[1], user=2)
    for order_id in range(1, f.next_id):
        f.cancel(order_id, user=0)
    return f.commands


def test_extreme_flow_matches_the_engine():
    """Levels past 32 bits in the window and in the host's book, both give the same events."""
    commands = extreme_flow()
    hybrid = check_equivalence(commands, stalling(), depths=[4], homes=[SYMBOL], window=2,
                               symbols=EXTREME_SYMBOLS, hash_every=7, name="extreme")
    assert hybrid.lane_commands >= 5


def scaled(commands, factor):
    """`commands` with every new order's and replace's quantity times `factor`."""
    qty_at = {internal.NEW_ORDER.code: 11, internal.REPLACE.code: 6}
    out = []
    for command in commands:
        at = qty_at.get(command[0])
        if at is not None:
            command = command[:at] + (command[at] * factor,) + command[at + 1:]
        out.append(command)
    return out


def test_adversarial_flow_with_huge_quantities():
    """An adversarial flow with every quantity times 80 million: 80M..4G shares an order (the
    largest past 32 bits, rejected), so levels in windows and books pass 2^32 shares."""
    commands = scaled(hybrid_flow(3, 600), 80_000_000)
    hybrid = check_equivalence(commands, stalling(0.25, 3), depths=[8, 16],
                               homes=[SYMBOL, OTHER], window=4, hash_every=200, name="huge")
    assert hybrid.lane_commands > len(commands) // 5


def garbled(commands, seed, share=0.05):
    """`commands` with a `share` of them given one field from the extremes (issue 9):
    negative, past the field's width, bool, float, None, an IntEnum member."""
    import random
    rng = random.Random(seed)
    stamps = [-1, 1 << 64, True, 1.0, None]
    fields = [0, 1, 2, 3, -1, 1 << 16, 1 << 32, 1 << 64, True, False, 1.0, None, Side.SELL,
              TimeInForce.GTC, OrderType.STOP, [1]]
    out = []
    for command in commands:
        if rng.random() < share:
            at = rng.randrange(1, len(command))
            value = rng.choice(stamps if at <= 2 else fields)
            command = command[:at] + (value,) + command[at + 1:]
        out.append(command)
    return out


@pytest.mark.parametrize("seed", [4, pytest.param(5, marks=pytest.mark.long)])
def test_adversarial_flow_with_garbage_fields(seed):
    """One command in twenty with a field at an extreme or of the wrong type, on two lanes:
    the router sends what the lane could misread to the host, and nothing differs."""
    commands = garbled(hybrid_flow(seed, 500), seed)
    check_equivalence(commands, stalling(0.25, seed), depths=[4, 8], homes=[SYMBOL, OTHER],
                      window=4, hash_every=200, name=f"garbage_{seed}")


def test_hot_symbol_flow():
    """A hot symbol's flow (quotes at the touch, requotes, takers), pipelined, depth 16: equal to
    the engine with either routing; the host keeping what the lane could only punt saves
    handovers (and the commands in flight behind each), and the lane takes most of the flow."""
    from gatebook.sim.hybrid.hot_flow import hot_flow
    commands = hot_flow(4, 1200)
    runs = {keeps: check_equivalence(commands, stalling(0.1, 4), depths=[16], homes=[SYMBOL],
                                     window=16, hash_every=600, name=f"hot_{keeps}",
                                     policy=FitsWindow(host_keeps=keeps))
            for keeps in (False, True)}
    handovers = {keeps: hybrid.lanes[0].handovers for keeps, hybrid in runs.items()}
    assert handovers[True] < handovers[False], handovers
    assert runs[True].punts[PuntReason.NOT_OWNED] < runs[False].punts[PuntReason.NOT_OWNED]
    assert runs[True].lane_commands > 0.85 * len(commands)


# GATE with a one-unit tick and the widest price band the 32-bit price field holds.
WIDE_SYMBOLS = (SymbolSpec(SYMBOL, "GATE", tick_size=1, price_min=1, price_max=(1 << 32) - 1),
                ) + tuple(s for s in DEFAULT_SYMBOLS if s.symbol_id != SYMBOL)


def extreme_field_flow():
    """Every field of the lane's entries at its widest: order ids near 2^64, users near 2^32,
    prices at 1 and 2^32 - 1, quantities of 2^32 - 1, sequence numbers and timestamps near
    2^64 (issue 15): the narrowed window keys and the slots must carry each one whole."""
    from gatebook.sim.flows import BUY, IOC, SELL, Flow
    top_id, top_user, top_price, most = (1 << 64) - 1, (1 << 32) - 1, (1 << 32) - 1, 0xFFFF_FFFF
    f = Flow(first_seq=(1 << 64) - 200)
    f.next_id = top_id - 40
    asks = [f.order(SELL, top_price - k, most, user=top_user - k) for k in range(3)]
    asks.append(f.order(SELL, top_price, most, user=top_user, order_id=top_id))
    bids = [f.order(BUY, 1 + k, most, user=top_user - k) for k in range(3)]
    f.order(BUY, top_price, most, user=top_user - 9, tif=IOC)              # sweeps one ask level
    f.replace(asks[1], top_price - 1, most - 1, user=top_user - 1)         # a decrease: the lane's
    f.cancel(top_id, user=top_user - 1)                                    # not the owner
    f.cancel(top_id, user=top_user)
    f.order(SELL, 1, most, user=top_user - 8, tif=IOC)                     # hits the bid at 1
    for order_id in bids + asks:
        f.cancel(order_id, user=top_user - (bids + asks).index(order_id) % 3)
    # Timestamps at the top of their 64 bits (the flow counts them from 1,000,000).
    return [command[:2] + ((1 << 64) - 1 - (len(f.commands) - k),) + command[3:]
            for k, command in enumerate(f.commands)]


@pytest.mark.parametrize("depth", [2, 4])
def test_extreme_fields_match_the_engine(depth):
    commands = extreme_field_flow()
    hybrid = check_equivalence(commands, stalling(0.25, depth), depths=[depth], homes=[SYMBOL],
                               window=2, symbols=WIDE_SYMBOLS, hash_every=5,
                               name=f"extreme_fields_d{depth}", policy=LANE_SEES_ALL)
    assert hybrid.lane_commands >= len(commands) // 2
