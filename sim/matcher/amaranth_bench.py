"""Runs a flow through `gatebook.hdl.matcher.Matcher` on Amaranth's simulator.

The fast, toolchain-free twin of the cocotb bench: same `Feeder` and
`Scoreboard`, same random valid/ready stalls, no Verilog. Each flow runs on a
lane reset to clock 0; the lane's simulation is kept between flows
(`gatebook.sim.clocked.SharedSimulation`), since making one costs more than a
short flow.
"""

import random

from gatebook.hdl.driver import MatcherCodec
from gatebook.hdl.matcher import Matcher
from gatebook.host.symbols import DEFAULT_SYMBOLS

from ..clocked import SharedSimulation
from ..flows import SYMBOL
from .scoreboard import Feeder, Scoreboard

__all__ = ["run_flow"]

_SLICE = 256                # clocks per step while the flow runs


def run_flow(commands, *, depth=4, seed=0, stall=0.0, max_cycles=200_000, vcd=None,
             trace=None, evict=True):
    """Drive `commands` through a fresh Matcher; return the scoreboard after the last event.

    `stall` is the probability of holding back valid (between records) and
    ready (any clock). Raises ScoreboardError on the first mismatch. With a
    `trace` list, every transfer is appended to it as (cycle, "i" or "o", record).
    """
    flow = _Flow(commands, depth=depth, seed=seed, stall=stall, max_cycles=max_cycles,
                 trace=trace)
    lane = SharedSimulation.take(("matcher", depth, evict), lambda: Matcher(depth, evict=evict),
                                 flow, vcd)
    flow.start(lane.dut)
    try:
        while not flow.done:
            lane.clocked.step(_SLICE)   # raises what the bench raises (a mismatch, a timeout)
    except BaseException:
        lane.clocked.close()            # the waveform up to the failure; the lane is dropped
        raise
    lane.release()                      # only a lane that finished its flow is used again
    return flow.sb


class _Flow:
    """One flow's feeder, scoreboard and stalls; its bench drives the lane it is given."""

    def __init__(self, commands, *, depth, seed, stall, max_cycles, trace):
        self.sb = Scoreboard(DEFAULT_SYMBOLS, SYMBOL, depth)
        self.feeder = Feeder(self.sb, commands)
        self.rng = random.Random(seed)
        self.stall, self.max_cycles, self.trace = stall, max_cycles, trace
        self.done = False

    def start(self, dut):
        self.dut, self.codec = dut, MatcherCodec(dut)

    async def _bench(self, ctx):
        dut, codec, feeder, sb, rng = self.dut, self.codec, self.feeder, self.sb, self.rng
        stall, trace = self.stall, self.trace
        presenting = False
        cycles = 0
        while not feeder.finished():
            record = feeder.peek()
            if record is not None and not presenting:
                presenting = rng.random() >= stall
            presenting = presenting and record is not None
            ctx.set(dut.i.valid, presenting)
            if presenting:
                ctx.set(dut.i.payload.as_value(), codec.commands.encode(record))
            ready = rng.random() >= stall
            ctx.set(dut.o.ready, ready)
            _, _, i_ready, o_valid, o_payload = await ctx.tick().sample(
                dut.i.ready, dut.o.valid, dut.o.payload.as_value())
            if presenting and i_ready:
                if trace is not None:
                    trace.append((cycles, "i", record))
                feeder.sent()
                presenting = False
            if o_valid and ready:
                for event in codec.decode_beat(o_payload):
                    if trace is not None:
                        trace.append((cycles, "o", event))
                    sb.observe(event)
            cycles += 1
            if cycles > self.max_cycles:
                raise TimeoutError(f"no progress after {cycles} cycles")
        sb.cycles = cycles
        self.done = True
        ctx.set(dut.i.valid, 0)
        while True:                     # the rest of the slice: nothing presented
            await ctx.tick()
