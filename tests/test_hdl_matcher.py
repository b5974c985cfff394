"""gatebook.hdl.matcher.Matcher against the golden model, on Amaranth's simulator.

The same flows and scoreboard as the cocotb bench (sim/matcher), without
Verilog: directed scenarios, window pressure that forces every punt, and
short seeded random flows with random valid/ready stalls.
"""

import pytest

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
