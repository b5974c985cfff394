"""host/hybrid/bench.py: instructions per command under callgrind, instrumentation switched on
around the run only. Behind --run-long (valgrind starts Python slowly)."""

import functools

import pytest

from gatebook.host.hybrid.bench import callgrind_available, instructions_per_command
from gatebook.sim.flows import SYMBOL
from gatebook.sim.hybrid import verilator_link
from gatebook.sim.hybrid.hot_flow import hot_flow

pytestmark = [pytest.mark.long,
              pytest.mark.skipif(callgrind_available() is not None,
                                 reason=f"callgrind: {callgrind_available()}")]


def test_the_host_counts_more_than_the_engine_and_only_the_run(tmp_path):
    commands = hot_flow(5, 400)
    engine = instructions_per_command(commands, workdir=str(tmp_path))
    twice = instructions_per_command(commands, workdir=str(tmp_path))
    assert 500 < engine < 100_000
    assert abs(twice - engine) < 0.02 * engine       # deterministic: start-up is not counted
    binary = verilator_link.built_harness(16) if verilator_link.verilator_available() else None
    if binary is None:
        pytest.skip("no current d16 Verilator harness in the build cache")
    lane = functools.partial(verilator_link.VerilatorLink, harness=binary)
    hybrid = instructions_per_command(commands, lane, homes=(SYMBOL,), workdir=str(tmp_path))
    assert hybrid > engine
