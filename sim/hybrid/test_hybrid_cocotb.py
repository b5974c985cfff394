"""cocotb bench of the hybrid host: `HybridExchange` over the lane's Verilog (Icarus, Verilator).

The third `LaneLink`: `CocotbLink` drives the generated Verilog of
`hdl.matcher.Matcher(depth)` inside the simulator, with random valid/ready
stalls. The host is ordinary blocking Python, so the bench runs it in a
cocotb `bridge` thread and `CocotbLink.run()` is a cocotb `resume` coroutine
that clocks the lane until it has taken everything queued and gone quiet:
the same `sim.hybrid.equivalence.run_hybrid` the Amaranth and Verilator
links run. `test_hybrid(depth)` is what pytest calls
(tests/test_sim_hybrid.py); a failure is run again with waves and names the
seq and the FST file.
"""

import os
import random
from pathlib import Path

import cocotb
from amaranth.hdl import Fragment
from cocotb.clock import Clock
from cocotb.task import bridge, resume
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from gatebook.wire import internal, link
from hdl.driver import MatcherCodec
from hdl.matcher import Matcher
from host.hybrid.link import LaneLink, LinkError
from sim.flows import SYMBOL, directed, eviction, hybrid_flow, window_pressure
from sim.hybrid.equivalence import run_hybrid
from sim.runner import FAILURE_FILE, ROOT, build_and_test, require_simulator

LOAD_CODE, CANCEL_CODE = link.LOAD.code, internal.CANCEL.code

__all__ = ["CocotbLink", "test_hybrid"]



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
        dut = self.dut
        await FallingEdge(dut.clk)
        dut.rst.value = 1
        dut.i__valid.value = 0
        dut.o__ready.value = 0
        for _ in range(2):
            await RisingEdge(dut.clk)
        await FallingEdge(dut.clk)
        dut.rst.value = 0

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
            elif i_ready and not o_valid and position == len(inbox):
                break
            else:
                idle += 1
                if idle > self.max_idle:
                    raise LinkError(f"lane stuck for {idle} clocks")
        await FallingEdge(dut.clk)
        dut.i__valid.value = 0
        del inbox[:]
        return out


def _flows(depth):
    flows = [(name, commands, 1) for name, commands in sorted(directed().items())]
    flows.append(("window_pressure", window_pressure(depth), 1))
    flows.append(("eviction", eviction(depth), 1))
    count = int(os.environ.get("GATEBOOK_HYBRID_COMMANDS", "500"))
    flows.append(("adversarial", hybrid_flow(int(os.environ.get("GATEBOOK_SEED", "3")), count,
                                             symbols=(SYMBOL, 3)), 4))
    wanted = os.environ.get("GATEBOOK_FLOWS")
    return [flow for flow in flows if not wanted or flow[0] in wanted.split(",")]


async def _settle(dut, codec):
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


@cocotb.test()
async def run_test_hybrid(dut):
    depth = int(os.environ["GATEBOOK_DEPTH"])
    stall = float(os.environ.get("GATEBOOK_STALL", "0.3"))
    component = Matcher(depth)
    codec = MatcherCodec(component)                 # widths from the component (STYLE 4)
    Fragment.get(component, None)                   # elaborated: Amaranth checks it is used
    Clock(dut.clk, 10, unit="ns").start()
    await _settle(dut, codec)

    def host():
        for index, (name, commands, window) in enumerate(_flows(depth)):
            def make(lane_depth, lane, vcd):
                return CocotbLink(dut, codec, stall=stall, seed=index)
            try:
                hybrid = run_hybrid(commands, make, depths=[depth], homes=[SYMBOL],
                                    window=window, hash_every=100)
            except AssertionError as error:
                Path(FAILURE_FILE).write_text(f"{name}: {error}")
                raise
            dut._log.info("%s: %d commands, %d in the lane, punts %s", name, len(commands),
                          hybrid.lane_commands, dict(hybrid.punts))
    await bridge(host)()


# -- the pytest side ---------------------------------------------------------------

def build_dir_of(depth, sim):
    return ROOT / "build" / "sim" / f"hybrid_{sim}_d{depth}"


def _run(depth, sim, commands, waves):
    build_and_test(depth, sim, build_dir_of(depth, sim), "sim.hybrid.test_hybrid_cocotb",
                   waves=waves, extra_env={"GATEBOOK_DEPTH": str(depth),
                                           "GATEBOOK_HYBRID_COMMANDS": str(commands)})


def test_hybrid(depth, commands=500, sim="icarus"):
    """Run the bench; on failure run it again with waves and name the seq and the wave file."""
    require_simulator(sim)
    try:
        _run(depth, sim, commands, waves=False)
    except SystemExit:
        build_dir = build_dir_of(depth, sim)
        try:
            _run(depth, sim, commands, waves=True)
        except SystemExit:
            pass
        failure = build_dir / FAILURE_FILE
        detail = failure.read_text().strip() if failure.exists() else "see the cocotb log"
        waves = sorted(build_dir.glob("*.fst")) + sorted(build_dir.glob("*.vcd"))
        raise AssertionError(f"hybrid bench ({sim}, depth {depth}) failed: {detail}; "
                             f"waveform: {waves[0] if waves else build_dir}") from None
