"""The hybrid host over the lane's Verilog under cocotb (sim/hybrid/test_hybrid_cocotb.py).

Icarus by default (directed scenarios, window pressure and a 500-command
adversarial flow, one build directory per depth: build/sim/hybrid_icarus_d<depth>);
Verilator and longer flows in the long suite.
"""

import pytest

from gatebook.sim.hybrid import test_hybrid_cocotb as bench


def test_hybrid_icarus():
    bench.test_hybrid(8)


@pytest.mark.long
@pytest.mark.parametrize("depth", [4, 16])
def test_hybrid_verilator_long(depth):
    bench.test_hybrid(depth, commands=10_000, sim="verilator")


def test_a_reused_amaranth_lane_starts_as_a_new_one():
    """A closed AmaranthLink's simulation serves the next link of its depth, reset to clock 0:
    the same flow gives the same events in the same clocks as on a lane made afresh."""
    from gatebook.host.engine import MatchingEngine
    from gatebook.host.hybrid import HybridExchange
    from gatebook.host.symbols import DEFAULT_SYMBOLS
    from gatebook.sim.clocked import SharedSimulation
    from gatebook.sim.flows import SYMBOL, hybrid_flow
    from gatebook.sim.hybrid.amaranth_link import AmaranthLink

    commands = hybrid_flow(7, 150, symbols=(SYMBOL,))

    def run(link):
        hybrid = HybridExchange(DEFAULT_SYMBOLS, [link], [SYMBOL], window=4)
        events = []
        hybrid.subscribe(events.extend)
        hybrid.run(commands)
        cycles, lane_commands = link.cycles, hybrid.lane_commands
        hybrid.close()
        return events, cycles, lane_commands

    key = ("matcher", 3, True)                       # Matcher(3), eviction on
    first = AmaranthLink(3, stall=0.3, seed=5)
    kept, simulation = SharedSimulation.idle(key), first._sim
    fresh = run(first)
    assert SharedSimulation.idle(key) == kept + 1    # closed: kept for the next link
    again = AmaranthLink(3, stall=0.3, seed=5)
    assert again._sim is simulation and SharedSimulation.idle(key) == kept    # taken, not made
    assert run(again) == fresh
    assert fresh[2] > len(commands) // 4             # the lane matched a good part of it
    golden = MatchingEngine(DEFAULT_SYMBOLS)
    assert fresh[0] == [event for command in commands for event in golden.apply(command)]
