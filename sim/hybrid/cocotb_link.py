"""`LaneLink` over the lane's Verilog inside a running cocotb simulation.

`CocotbLink` drives the generated Verilog of `gatebook.hdl.matcher.Matcher(depth)` in
the simulator (Icarus or Verilator), with random valid/ready stalls. Its user
is ordinary blocking Python (the hybrid host, or `gatebook.sim.cosim`'s packet bridge),
so it runs in a cocotb `bridge` thread and `run()` is a cocotb `resume`
coroutine that clocks the lane until it has taken everything queued and gone
quiet. `settle(dut, codec)` prepares a fresh simulation for it.
"""

import os
import random

from cocotb.task import resume
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from gatebook.wire import internal, link
from gatebook.host.hybrid.link import LaneLink, LinkError

__all__ = ["CocotbLink", "reset", "settle"]

LOAD_CODE, CANCEL_CODE = link.LOAD.code, internal.CANCEL.code


class CocotbLink(LaneLink):
    """The lane's Verilog in the running simulator; call from a cocotb `bridge` thread.

    Every link made resets the lane, so each flow starts from an empty lane.
    """

    def __init__(self, dut, codec, *, stall=0.0, seed=0, max_idle=100_000):
        self.dut = dut
        self.codec = codec                          # a MatcherCodec of the Verilog's component
        self.depth = codec.depth
        self.stall = stall
        self.rng = random.Random(seed)
        self.max_idle = max_idle
        self.inbox = []
        self.cycles = 0
        resume(self._reset)()

    def send(self, records):
        encode = self.codec.commands.encode
        self.inbox.extend(encode(record) for record in records)

    def run(self):
        return resume(self._drive)()

    async def _reset(self):
        await reset(self.dut)

    async def _drive(self):
        dut, rng, stall, inbox = self.dut, self.rng, self.stall, self.inbox
        decode = self.codec.decode_beat
        trace = bool(os.environ.get("GATEBOOK_TRACE"))      # log every record in and out
        out, position, presenting, idle = [], 0, False, 0
        while True:
            await FallingEdge(dut.clk)
            more = position < len(inbox)
            if more and not presenting:
                presenting = not stall or rng.random() >= stall
            presenting = presenting and more
            dut.i__valid.value = int(presenting)
            if presenting:
                dut.i__payload.value = inbox[position]
            ready = not stall or rng.random() >= stall
            dut.o__ready.value = int(ready)
            await ReadOnly()
            self.cycles += 1
            i_ready, o_valid = bool(dut.i__ready.value), bool(dut.o__valid.value)
            idle = bool(dut.idle.value)
            taken = presenting and i_ready
            if taken:
                position += 1
            if o_valid and ready:
                beat = dut.o__payload.value
                if not beat.is_resolvable:
                    raise LinkError(f"event beat with X/Z bits at clock {self.cycles}: {beat}")
                records = decode(beat.to_unsigned())
                out.extend(records)
                if trace:
                    for record in records:
                        dut._log.info("o %s", record)
            if taken and trace:
                dut._log.info("i %s", self.codec.commands.decode(inbox[position - 1]))
            if taken:
                presenting = False
            if taken or (o_valid and ready):
                idle = 0
            elif idle and not o_valid and position == len(inbox):
                break
            else:
                idle += 1
                if idle > self.max_idle:
                    raise LinkError(f"lane stuck for {idle} clocks")
        await FallingEdge(dut.clk)
        dut.i__valid.value = 0
        del inbox[:]
        return out


async def reset(dut):
    """Hold `dut` (stream ports `i` and `o`) in reset for two clocks, both streams idle."""
    await FallingEdge(dut.clk)
    dut.rst.value = 1
    dut.i__valid.value = 0
    dut.o__ready.value = 0
    for _ in range(2):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0


async def settle(dut, codec):
    """Make every window's order-id CAM hit once, then leave the lane to the links' resets.

    Icarus does not run `always @*` blocks at time 0, so a block whose inputs
    never change keeps X (the ask window's CAM, in a flow that never rests an
    ask, would answer X to every cancel). Loading one order per side and
    cancelling it makes each CAM block evaluate; hardware and the two-state
    simulators do not need this.
    """
    entry = (1, 0, 1, 1, 0, 0, 1_000_000, 0, 1, 1)       # symbol, side, id, user, ..., seq
    records = [(LOAD_CODE,) + entry,
               (LOAD_CODE,) + entry[:1] + (1, 2) + entry[3:],
               (CANCEL_CODE, 1, 0, 1, 1), (CANCEL_CODE, 2, 0, 2, 1)]
    dut.rst.value = 0
    dut.o__ready.value = 1
    for record in records:
        await FallingEdge(dut.clk)
        dut.i__valid.value = 1
        dut.i__payload.value = codec.commands.encode(record)
        await RisingEdge(dut.clk)
        while not dut.i__ready.value:
            await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.i__valid.value = 0
    for _ in range(4):
        await RisingEdge(dut.clk)
