"""Runs a flow through `gatebook.hdl.matcher.Matcher` on Amaranth's simulator.

The fast, toolchain-free twin of the cocotb bench: same `Feeder` and
`Scoreboard`, same random valid/ready stalls, no Verilog.
"""

import random

from amaranth.sim import Simulator

from gatebook.hdl.driver import MatcherCodec
from gatebook.hdl.matcher import Matcher
from gatebook.host.symbols import DEFAULT_SYMBOLS

from ..flows import SYMBOL
from .scoreboard import Feeder, Scoreboard

__all__ = ["run_flow"]


def run_flow(commands, *, depth=4, seed=0, stall=0.0, max_cycles=200_000, vcd=None,
             trace=None, evict=True):
    """Drive `commands` through a fresh Matcher; return the scoreboard after the last event.

    `stall` is the probability of holding back valid (between records) and
    ready (any clock). Raises ScoreboardError on the first mismatch. With a
    `trace` list, every transfer is appended to it as (cycle, "i" or "o", record).
    """
    dut = Matcher(depth, evict=evict)
    codec = MatcherCodec(dut)
    sb = Scoreboard(DEFAULT_SYMBOLS, SYMBOL, depth)
    feeder = Feeder(sb, commands)
    rng = random.Random(seed)

    async def bench(ctx):
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
            if cycles > max_cycles:
                raise TimeoutError(f"no progress after {cycles} cycles")
        sb.cycles = cycles

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    return sb
