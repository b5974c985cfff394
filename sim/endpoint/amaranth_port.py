"""`gatebook.hdl.link_endpoint.LaneEndpoint` on Amaranth's simulator, as a port of whole frames.

`EndpointPort` has the `send(frames)` / `recv(n)` / `mac` / `close()` of a DPDK
`Port` or a `RawSocketPort`, so `gatebook.host.net.link.PacketLaneLink` runs over it
unchanged: `send` queues each frame's bytes for the endpoint's input (`first`
and `last` marking the frame), `recv` clocks the simulation until frames have
come out of the endpoint's output, or until it is idle. Random (seeded)
valid/ready stalls on both byte streams. A closed port's simulation (without a
waveform) serves the next port of the same endpoint, reset to clock 0
(`gatebook.sim.clocked.SharedSimulation`).
"""

import random
from collections import deque

from gatebook.hdl.link_endpoint import LaneEndpoint
from gatebook.hdl.link_header import RX_BYTE
from gatebook.sim.clocked import SharedSimulation

__all__ = ["EndpointPort", "ENDPOINT_MAC", "HOST_MAC"]

ENDPOINT_MAC, HOST_MAC = "02:00:00:00:e0:01", "02:00:00:00:40:01"
_SLICE = 256                    # clocks per run_until step
_FIRST, _LAST, _ERROR = (1 << RX_BYTE[name].offset for name in ("first", "last", "error"))


class EndpointPort:
    """A `LaneEndpoint(depth, mac)` in process, reached with whole frames.

    Parameters
    ----------
    depth : int
        The lane's window depth.
    mac : str
        The endpoint's MAC.
    host_mac : str
        This port's own MAC (the host's side of the cable).
    stall : float
        Probability of holding back the input's `valid` (between bytes) and the
        output's `ready` (any clock).
    seed : int
        Seed of the stalls.
    vcd : str or None
        Waveform file to write.
    max_idle : int
        Clocks without a byte moving after which `recv` stops waiting.
    """

    def __init__(self, depth, mac=ENDPOINT_MAC, *, host_mac=HOST_MAC, stall=0.0, seed=0,
                 vcd=None, max_idle=20_000, **endpoint):
        key = ("endpoint", depth, mac, tuple(sorted(endpoint.items())))
        self._shared = SharedSimulation.take(key, lambda: LaneEndpoint(depth, mac, **endpoint),
                                             self, vcd)
        self.dut = self._shared.dut
        self.mac = host_mac
        self.peer_mac = mac
        self.inbox = deque()            # the input's beats, as payload integers
        self.outbox = []                # whole frames out
        self.cycles = 0
        self.idle = False
        self._frame = bytearray()
        self._moved = 0                 # the clock a byte last moved
        self._stall, self._rng, self._max_idle = stall, random.Random(seed), max_idle
        self._sim = self._shared.clocked
        self._counters = {}

    def send(self, frames, error=False):
        """Queue `frames` for the endpoint; with `error`, the MAC flags each one's FCS."""
        for frame in frames:
            beats = list(frame)
            beats[0] |= _FIRST
            beats[-1] |= _LAST | (_ERROR if error else 0)
            self.inbox.extend(beats)
        self.idle = False
        return len(frames)

    def send_beats(self, beats):
        """Queue raw input beats (payload integers), for malformed framing."""
        self.inbox.extend(beats)
        self.idle = False

    def recv(self, max_packets=64):
        """Frames the endpoint sent; clocks it until there are some, or it is idle."""
        while not self.outbox and not (self.idle and not self.inbox):
            self.step()
            if self.cycles - self._moved > self._max_idle:
                break
        out, self.outbox = self.outbox[:max_packets], self.outbox[max_packets:]
        return out

    def step(self, clocks=_SLICE):
        self._sim.step(clocks)

    def run_until_idle(self):
        """Clock until everything sent is in and the endpoint has nothing more to say."""
        while not (self.idle and not self.inbox):
            self.step()
            if self.cycles - self._moved > self._max_idle:
                raise TimeoutError(f"endpoint stuck at clock {self.cycles}")
        out, self.outbox = self.outbox, []
        return out

    def counters(self):
        """The endpoint's counters now: drops per reason, frames, answered, sent, sessions."""
        self._counters = None
        while self._counters is None:
            self.step(1)
        return self._counters

    def _read_counters(self, ctx):
        dut = self.dut
        values = {name: ctx.get(getattr(dut.drops, name)) for name in dut.drops.shape().members}
        values.update((name, ctx.get(getattr(dut, name)))
                      for name in ("frames", "answered", "sent", "sessions"))
        return values

    def close(self):
        if self._shared is not None:
            self._shared.release()
            self._shared = None

    async def _bench(self, ctx):
        dut, rng, stall, inbox = self.dut, self._rng, self._stall, self.inbox
        first, last = 1 << 8, 1 << 9
        presenting = False
        payload = dut.i.payload.as_value()
        while True:
            if inbox and not presenting:
                presenting = not stall or rng.random() >= stall
                if presenting:
                    ctx.set(payload, inbox[0])
            ctx.set(dut.i.valid, presenting)
            ready = not stall or rng.random() >= stall
            ctx.set(dut.o.ready, ready)
            _, _, i_ready, o_valid, o_beat, idle = await ctx.tick().sample(
                dut.i.ready, dut.o.valid, dut.o.payload.as_value(), dut.idle)
            self.cycles += 1
            if presenting and i_ready:
                inbox.popleft()
                presenting = False
                self._moved = self.cycles
            if o_valid and ready:
                self._moved = self.cycles
                if o_beat & first:
                    self._frame = bytearray()
                self._frame.append(o_beat & 0xFF)
                if o_beat & last:
                    self.outbox.append(bytes(self._frame))
            self.idle = idle and not inbox and not o_valid
            if self._counters is None:
                self._counters = self._read_counters(ctx)
