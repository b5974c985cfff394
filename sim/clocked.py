"""An Amaranth simulation that a caller clocks forward a slice at a time.

The in-process lane links (gatebook.sim.hybrid.amaranth_link) and the link endpoint's
port (gatebook.sim.endpoint.amaranth_port) keep one simulation alive across calls: a
background testbench drives the ports, and the caller advances the clock
until what it waits for has happened. With `vcd`, the whole life of the
simulation is one waveform, closed by `close()`.
"""

import contextlib

from amaranth.sim import Simulator

__all__ = ["ClockedSimulation", "PERIOD"]

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
