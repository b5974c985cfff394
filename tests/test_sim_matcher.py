"""The matching core's Verilog under Icarus and cocotb, against the golden model.

One build per window depth (build/sim/matcher_d<depth>); the bench itself is
sim/matcher/test_matcher.py.
"""

import pytest

from sim.matcher import test_matcher as bench


@pytest.mark.parametrize("depth", [4, 16])
def test_matcher_verilog(depth):
    bench.test_matcher(depth)


@pytest.mark.long
@pytest.mark.parametrize("depth", [2, 8])
def test_matcher_verilog_long(depth):
    bench.test_matcher(depth, random_commands=20_000)
