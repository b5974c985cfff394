"""An Amaranth simulation that a caller clocks forward a slice at a time.

The in-process lane links (gatebook.sim.hybrid.amaranth_link) and the link endpoint's
port (gatebook.sim.endpoint.amaranth_port) keep one simulation alive across calls: a
background testbench drives the ports, and the caller advances the clock
until what it waits for has happened. With `vcd`, the whole life of the
simulation is one waveform, closed by `close()`.

Elaborating a design and compiling it for the simulator costs more than most short
runs through it, so `SharedSimulation` keeps a released simulation (one without a
waveform) by the caller's key and hands it to the next owner reset to clock 0: every
signal and memory at its initial value and the testbench started afresh, as a new
simulation would be.
"""

import contextlib

from amaranth.sim import Simulator

__all__ = ["ClockedSimulation", "SharedSimulation", "PERIOD"]

PERIOD = 1e-8               # seconds per clock (the waveform's time scale)


class ClockedSimulation:
    """`dut` on Amaranth's simulator, `bench(ctx)` its background testbench."""

    def __init__(self, dut, bench, vcd=None):
        self._sim = Simulator(dut)
        self._sim.add_clock(PERIOD)
        self._sim.add_testbench(bench, background=True)
        self._stack = contextlib.ExitStack()
        if vcd:
            self._stack.enter_context(self._sim.write_vcd(vcd))
        self.clocks = 0             # clocks the simulation has been advanced

    def step(self, clocks):
        """Advance the simulation by `clocks` clocks."""
        self.clocks += clocks
        self._sim.run_until(self.clocks * PERIOD)

    def reset(self):
        """Back to clock 0: every signal and memory at its initial value, the clock and
        the testbench started afresh (the compiled simulation is kept, which is what
        makes this cheaper than a new one)."""
        self._sim.reset()
        self.clocks = 0

    def close(self):
        """Close the waveform; a testbench never started is started once, so Python does
        not warn that it was never awaited."""
        if not self.clocks:
            self.step(1)
        self._stack.close()


class SharedSimulation:
    """A design on the simulator whose testbench is its current owner's `_bench(ctx)`.

    `take(key, make_design, owner, vcd)` gives a released simulation of that key,
    reset, or makes one (`make_design()`); `release()` closes the owner's use and,
    without a waveform, keeps the simulation for the next `take` of its key. The key
    must name everything the design is made from (its class and parameters).

    Attributes
    ----------
    dut : Elaboratable
        The design.
    clocked : ClockedSimulation
        Its simulation; the owner steps it.
    """

    _idle = {}              # key -> [SharedSimulation] released and not yet reset

    def __init__(self, key, dut, vcd):
        self.key, self.dut, self.owner = key, dut, None
        self._keep = vcd is None
        self.clocked = ClockedSimulation(dut, self._serve, vcd)

    @classmethod
    def take(cls, key, make_design, owner, vcd=None):
        """A simulation of `key`'s design whose testbench is `owner._bench`."""
        idle = cls._idle.get(key) if vcd is None else None
        if idle:
            shared = idle.pop()
            shared.clocked.reset()      # the testbench restarts: the new owner's, below
        else:
            shared = cls(key, make_design(), vcd)
        shared.owner = owner
        return shared

    @classmethod
    def idle(cls, key):
        """How many released simulations of `key` wait for an owner."""
        return len(cls._idle.get(key, ()))

    async def _serve(self, ctx):
        await self.owner._bench(ctx)

    def release(self):
        """The owner is done: close its use, keep the simulation if it has no waveform."""
        self.clocked.close()
        if self._keep:
            SharedSimulation._idle.setdefault(self.key, []).append(self)
