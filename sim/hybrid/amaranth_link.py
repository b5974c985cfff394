"""`LaneLink` over Amaranth's simulator: `gatebook.hdl.matcher.Matcher` in process.

One persistent simulation per lane. A testbench coroutine presents the
queued records on `i` and collects `o`, holding back valid and ready at
random (seeded) when asked to; `run()` advances the simulation in short
slices until the lane has taken everything queued and gone quiet. With
`vcd`, the whole run is written as one waveform, closed by `close()`.

A closed link's simulation (without a waveform) serves the next link of its
depth, reset to clock 0 (`gatebook.sim.clocked.SharedSimulation`).
"""

import random
from collections import deque

from gatebook.hdl.driver import MatcherCodec
from gatebook.hdl.matcher import Matcher
from gatebook.host.hybrid.link import LaneLink, LinkError
from gatebook.sim.clocked import SharedSimulation

__all__ = ["AmaranthLink"]

_SLICE = 64                 # clocks per run_until step


class AmaranthLink(LaneLink):
    """A `Matcher(depth)` on Amaranth's simulator.

    Parameters
    ----------
    depth : int
        Window depth of the lane.
    stall : float
        Probability of holding back `i.valid` (between records) and `o.ready` (any clock).
    seed : int
        Seed of the stalls.
    vcd : str or None
        Waveform file to write.
    max_idle : int
        Clocks without a transfer after which `run()` gives up.
    """

    def __init__(self, depth, *, stall=0.0, seed=0, vcd=None, max_idle=10_000):
        self.depth = depth
        self._lane = SharedSimulation.take(("matcher", depth, True), lambda: Matcher(depth),
                                           self, vcd)        # (depth, evict): the lane's design
        self.dut = self._lane.dut
        self.codec = MatcherCodec(self.dut)
        self.inbox = deque()
        self.outbox = []
        self.cycles = 0
        self._quiet = True
        self._stall = stall
        self._rng = random.Random(seed)
        self._max_idle = max_idle
        self._sim = self._lane.clocked

    def send(self, records):
        encode = self.codec.commands.encode
        self.inbox.extend((record, encode(record)) for record in records)
        self._quiet = False

    def run(self):
        idle_since = self.cycles
        seen = 0
        while not self._quiet:
            self._sim.step(_SLICE)
            if len(self.outbox) != seen or not self.inbox:
                seen, idle_since = len(self.outbox), self.cycles
            if self.cycles - idle_since > self._max_idle:
                raise LinkError(f"lane stuck for {self._max_idle} clocks at cycle {self.cycles}")
        out, self.outbox = self.outbox, []
        return out

    def close(self):
        if self._lane is not None:
            self._lane.release()
            self._lane = None
            self._sim = None            # another link may hold the simulation now

    async def _bench(self, ctx):
        dut, rng, stall = self.dut, self._rng, self._stall
        decode = self.codec.decode_beat
        inbox, presenting = self.inbox, False
        while True:
            if inbox and not presenting:
                presenting = not stall or rng.random() >= stall
            presenting = presenting and bool(inbox)
            ctx.set(dut.i.valid, presenting)
            if presenting:
                ctx.set(dut.i.payload.as_value(), inbox[0][1])
            ready = not stall or rng.random() >= stall
            ctx.set(dut.o.ready, ready)
            _, _, i_ready, o_valid, o_payload, idle = await ctx.tick().sample(
                dut.i.ready, dut.o.valid, dut.o.payload.as_value(), dut.idle)
            self.cycles += 1
            taken = presenting and i_ready
            if taken:
                inbox.popleft()
                presenting = False
            if o_valid and ready:
                self.outbox.extend(decode(o_payload))
            elif idle and not (o_valid or taken or inbox):
                self._quiet = True      # IDLE, nothing accepted, nothing queued
