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
