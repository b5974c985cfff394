"""cocotb bench of the matching core on its generated Verilog (Icarus).

`test_matcher(depth)` is what pytest runs (tests/test_sim_matcher.py imports
it): it converts `gatebook.hdl.matcher.Matcher(depth)` to Verilog, builds it in its own
directory and runs the `run_test_*` coroutines below in one simulator
process. Every coroutine drives flows from sim/flows.py through the
transport-agnostic `Scoreboard`/`Feeder`, with random valid/ready stalls.

A failing run is run again with waveforms on; the failure names the
command's sequence number and the FST file.
"""

import os
import random
from collections import Counter
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
from cocotb.simtime import get_sim_time

from gatebook.hdl.driver import MatcherCodec
from gatebook.hdl.matcher import Matcher
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.sim.flows import SYMBOL, directed, eviction, random_flow, window_pressure
from gatebook.sim.matcher.scoreboard import Feeder, Scoreboard, ScoreboardError, coverage_table
from gatebook.sim.runner import FAILURE_FILE, ROOT, build_and_test, require_simulator

__all__ = ["TB", "test_matcher", "build_and_run"]



class TB:
    """Clock, reset, and one driver/monitor loop for the matcher's two streams."""

    def __init__(self, dut):
        self.dut = dut
        self.depth = int(os.environ["GATEBOOK_DEPTH"])
        # Widths and layouts from the component itself (STYLE principle 4).
        self.codec = MatcherCodec(Matcher(self.depth))
        self.stall = float(os.environ.get("GATEBOOK_STALL", "0.3"))
        self.cycles = 0
        Clock(dut.clk, 10, unit="ns").start()

    async def reset(self):
        dut = self.dut
        dut.rst.value = 1
        dut.i__valid.value = 0
        dut.o__ready.value = 0
        for _ in range(2):
            await RisingEdge(dut.clk)
        dut.rst.value = 0

    async def run(self, commands, seed, max_cycles=500_000):
        """Reset, then push `commands` through; returns the scoreboard when all resolved."""
        await self.reset()
        dut, codec = self.dut, self.codec
        rng = random.Random(seed)
        sb = Scoreboard(DEFAULT_SYMBOLS, SYMBOL, self.depth)
        feeder = Feeder(sb, commands)
        presenting = False
        start = self.cycles
        try:
            while not feeder.finished():
                await FallingEdge(dut.clk)
                record = feeder.peek()
                if record is not None and not presenting:
                    presenting = rng.random() >= self.stall
                presenting = presenting and record is not None
                dut.i__valid.value = int(presenting)
                if presenting:
                    dut.i__payload.value = codec.commands.encode(record)
                ready = rng.random() >= self.stall
                dut.o__ready.value = int(ready)
                await ReadOnly()
                if presenting and dut.i__ready.value:
                    feeder.sent()
                    presenting = False
                if ready and dut.o__valid.value:
                    for event in codec.decode_beat(dut.o__payload.value.to_unsigned()):
                        sb.observe(event)
                self.cycles += 1
                if self.cycles - start > max_cycles:
                    raise TimeoutError(f"no progress after {max_cycles} cycles; "
                                       f"in flight: seq {[e[0] for e in sb.in_flight][:5]}")
        except ScoreboardError as error:
            now = get_sim_time("ns")
            Path(FAILURE_FILE).write_text(f"{error} (at {now} ns)")
            raise
        await FallingEdge(dut.clk)
        dut.i__valid.value = 0
        return sb


@cocotb.test()
async def run_test_directed(dut):
    tb = TB(dut)
    for index, (name, commands) in enumerate(sorted(directed().items())):
        sb = await tb.run(commands, seed=index)
        dut._log.info("%s: %d commands, punts %s", name, sb.commands, dict(sb.punts))


@cocotb.test()
async def run_test_window_pressure(dut):
    tb = TB(dut)
    sb = await tb.run(window_pressure(tb.depth), seed=7)
    assert sb.punts, "window pressure must force punts"
    sb = await tb.run(eviction(tb.depth), seed=8)
    assert sb.evictions, "a full side must spill its worst level"


@cocotb.test()
async def run_test_random(dut):
    tb = TB(dut)
    count = int(os.environ.get("GATEBOOK_RANDOM_COMMANDS", "600"))
    coverage = Counter()
    for seed in (1, 2):
        sb = await tb.run(random_flow(seed, count), seed=seed)
        coverage.update(sb.coverage)
        dut._log.info("random seed %d: %d commands, %d cycles, punts %s", seed, sb.commands,
                      tb.cycles, dict(sb.punts))
    dut._log.info("functional coverage (command x outcome x window state):\n%s",
                  coverage_table(coverage))


# -- the pytest side ---------------------------------------------------------------

def test_dir_of(depth, sim):
    return ROOT / "build" / "sim" / f"matcher_{sim}_d{depth}"


def build_and_run(depth, *, sim="icarus", random_commands=600, stall=0.3, waves=False,
                  testcase=None):
    """Convert, build (once per depth and simulator) and run the bench; return the results."""
    return build_and_test(depth, sim, test_dir_of(depth, sim), "gatebook.sim.matcher.test_matcher",
                          waves=waves, testcase=testcase,
                          extra_env={"GATEBOOK_DEPTH": str(depth), "GATEBOOK_STALL": str(stall),
                                     "GATEBOOK_RANDOM_COMMANDS": str(random_commands)})


def test_matcher(depth, random_commands=600, sim="icarus"):
    """Run the bench; on failure run it again with waves and name the seq and the wave file."""
    require_simulator(sim)
    try:
        build_and_run(depth, sim=sim, random_commands=random_commands)
    except SystemExit:
        test_dir = test_dir_of(depth, sim)
        try:
            build_and_run(depth, sim=sim, random_commands=random_commands, waves=True)
        except SystemExit:
            pass
        failure = test_dir / FAILURE_FILE
        detail = failure.read_text().strip() if failure.exists() else "see the cocotb log"
        waves = sorted(test_dir.glob("*.fst")) + sorted(test_dir.glob("*.vcd"))
        raise AssertionError(f"matcher bench ({sim}, depth {depth}) failed: {detail}; "
                             f"waveform: {waves[0] if waves else test_dir}") from None
