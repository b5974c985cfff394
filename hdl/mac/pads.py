"""The RGMII pins' double data rate flip-flops, as plain logic for simulation.

# Ref: Lattice FPGA-TN-02035 "ECP5 and ECP5-5G High-Speed I/O Interface" (IDDRX1F:
#      Q0 is D at the rising edge, Q1 D at the falling edge after it, both out at the
#      next rising edge; ODDRX1F: D0 drives the pin while the clock is high, D1 while
#      it is low); amaranth.lib.io.DDRBuffer (the same pairs, `[0]` and `[1]`).

`amaranth.lib.io.DDRBuffer` has no simulation model, so a simulated design cannot take
its RGMII pins through one. `DdrInput` and `DdrOutput` behave as IDDRX1F and ODDRX1F
do, with flip-flops on both edges of a clock, and have the same pairs as a
`DDRBuffer`'s `i` and `o`: a board top swaps them for `DDRBuffer`s on its pins and the
MAC (`gatebook.hdl.mac.mac.EthernetMac`) does not change.
"""

from amaranth.hdl import ClockDomain, ClockSignal, Elaboratable, Module, Mux, Signal
from amaranth.lib import data

__all__ = ["DdrInput", "DdrOutput"]


def _falling_edge_of(m, domain):
    fall = ClockDomain("fall", clk_edge="neg", local=True, reset_less=True)
    m.domains.fall = fall
    m.d.comb += fall.clk.eq(ClockSignal(domain))


class DdrInput(Elaboratable):
    """A pin sampled on both edges of `domain`'s clock, the pair out at the next rising edge.

    Parameters
    ----------
    pin : Value
        The input pin(s).
    domain : str
        The clock that samples them (RGMII's RXC).

    Attributes
    ----------
    i : Signal(ArrayLayout(len(pin), 2))
        `[0]`: the pin at a rising edge; `[1]`: at the falling edge after it.
    """

    def __init__(self, pin, domain):
        self.pin, self.domain = pin, domain
        self.i = Signal(data.ArrayLayout(len(pin), 2))

    def elaborate(self, platform):
        m = Module()
        _falling_edge_of(m, self.domain)
        rising, falling = Signal(len(self.pin)), Signal(len(self.pin))
        m.d[self.domain] += [rising.eq(self.pin), self.i[0].eq(rising), self.i[1].eq(falling)]
        m.d.fall += falling.eq(self.pin)
        return m


class DdrOutput(Elaboratable):
    """A pair taken at a rising edge of `domain`'s clock and driven on the pin over the next
    cycle: `[0]` while the clock is high, `[1]` while it is low.

    Parameters
    ----------
    width : int
        Pins.
    domain : str
        The clock (RGMII's TXC is this clock, driven out through a `DdrOutput` of (1, 0)).

    Attributes
    ----------
    o : Signal(ArrayLayout(width, 2))
        The pair.
    pin : Signal(width)
        The pins.
    """

    def __init__(self, width, domain):
        self.domain = domain
        self.o = Signal(data.ArrayLayout(width, 2))
        self.pin = Signal(width)

    def elaborate(self, platform):
        m = Module()
        _falling_edge_of(m, self.domain)
        high, low, low_held = (Signal(len(self.pin), name=n) for n in ("high", "low", "low_held"))
        m.d[self.domain] += [high.eq(self.o[0]), low.eq(self.o[1])]
        m.d.fall += low_held.eq(low)
        m.d.comb += self.pin.eq(Mux(ClockSignal(self.domain), high, low_held))
        return m
