"""Counters counted in one clock domain and read in another.

# Ref: C. E. Cummings, "Simulation and Synthesis Techniques for Asynchronous FIFO
#      Design", SNUG 2002, section 5 (Gray-code pointers through two flip-flops).

Each counter is kept in binary and in Gray code in the counting domain; only the
registered Gray value crosses (two flip-flops, `FFSynchronizer`), so a read taken
mid-increment is the old value or the new one, never a mix of bits. The reading
domain turns it back into binary.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["CounterCrossing"]


def _gray(value):
    return value ^ (value >> 1)


class CounterCrossing(wiring.Component):
    """Pulse counters in `from_domain`, their totals in `to_domain`.

    Parameters
    ----------
    pulses : data.StructLayout
        One 1-bit field per counter.
    width : int
        Bits of each total.
    from_domain, to_domain : str
        Where the pulses arrive; where the totals are read.

    Attributes
    ----------
    pulse : In(pulses)
        Counts one for each field high this clock (of `from_domain`).
    total : Out(StructLayout({name: width}))
        The totals, two or three clocks of `to_domain` behind.
    """

    def __init__(self, pulses, width=32, *, from_domain, to_domain="sync"):
        self.width = width
        self.names = list(pulses.members)
        self.from_domain, self.to_domain = from_domain, to_domain
        totals = data.StructLayout({name: width for name in self.names})
        super().__init__({"pulse": In(pulses), "total": Out(totals)})

    def elaborate(self, platform):
        m = Module()
        for name in self.names:
            binary = Signal(self.width, name=f"{name}_binary")
            gray = Signal(self.width, name=f"{name}_gray")
            crossed = Signal(self.width, name=f"{name}_crossed")
            # The pulse registered first: it comes from the frame checks (the FCS
            # compare), which must not share a clock with the counter's carry chain.
            pulse = Signal(name=f"{name}_pulse")
            m.d[self.from_domain] += pulse.eq(getattr(self.pulse, name))
            following = (binary + pulse)[:self.width]
            m.d[self.from_domain] += [binary.eq(following), gray.eq(_gray(following))]
            m.submodules[f"{name}_sync"] = FFSynchronizer(gray, crossed, o_domain=self.to_domain)
            # Gray to binary: bit k is the XOR of the Gray bits from k up.
            decoded = Signal(self.width, name=f"{name}_decoded")
            m.d.comb += decoded[-1].eq(crossed[-1])
            for k in range(self.width - 1):
                m.d.comb += decoded[k].eq(crossed[k] ^ decoded[k + 1])
            m.d[self.to_domain] += getattr(self.total, name).eq(decoded)
        return m
