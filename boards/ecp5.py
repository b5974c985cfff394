"""ECP5 clocking and pin delays for the Ethernet top, which `amaranth.lib.io` does not offer.

# Ref: Lattice FPGA-TN-02200 "ECP5 and ECP5-5G sysCLOCK PLL/DLL Design and User Guide"
#      (EHXPLLL: PFD 3.125-400 MHz, VCO 400-800 MHz, phase in VCO cycles and eighths);
#      Lattice FPGA-TN-02035 "ECP5 and ECP5-5G High-Speed I/O Interface" (DELAYG, about
#      25 ps a tap, up to 127 taps, between a pad and its IDDRX1F); Project Trellis'
#      `ecppll` (the same divider search and phase arithmetic: the tests compare them).

- `pll_parameters(clkin_mhz, clkout_mhz, phase)`: the EHXPLLL dividers and phases for a
  primary output and a phase-shifted secondary one at the same frequency;
- `Pll`: that EHXPLLL, with its lock;
- `DelayedDdrInput`: input pins through a fixed DELAYG into an IDDRX1F, the shape of an
  `amaranth.lib.io.DDRBuffer`'s `i`, for RGMII receive pins whose PHY adds no delay.
"""

from dataclasses import dataclass

from amaranth.hdl import ClockSignal, Const, Elaboratable, Instance, Module, Signal
from amaranth.lib import data, io

__all__ = ["PllParameters", "pll_parameters", "Pll", "DelayedDdrInput", "DELAY_TAP_NS",
           "delay_taps"]

_PFD_MHZ = (3.125, 400.0)
_VCO_MHZ = (400.0, 800.0)
DELAY_TAP_NS = 0.025          # one DELAYG tap (TN-02035's typical figure; LiteEth uses it too)
_MAX_TAPS = 127


@dataclass(frozen=True)
class PllParameters:
    """An EHXPLLL configuration: CLKOP at `clkout_mhz`, CLKOS the same shifted by `phase`.

    Attributes
    ----------
    clkin_mhz, clkout_mhz : float
        Input and (both) output frequencies.
    refclk_div, feedback_div, output_div : int
        CLKI_DIV, CLKFB_DIV (feedback from CLKOP) and CLKOP_DIV = CLKOS_DIV.
    primary_cphase : int
        CLKOP's coarse phase (half an output period, as Lattice's tools set it).
    secondary_cphase, secondary_fphase : int
        CLKOS's coarse phase (VCO cycles, CLKOP's included) and fine phase (eighths).
    """

    clkin_mhz: float
    clkout_mhz: float
    refclk_div: int
    feedback_div: int
    output_div: int
    primary_cphase: int
    secondary_cphase: int
    secondary_fphase: int

    @property
    def vco_mhz(self):
        """The VCO's frequency."""
        return self.clkin_mhz / self.refclk_div * self.feedback_div * self.output_div


def pll_parameters(clkin_mhz, clkout_mhz, phase=0):
    """The EHXPLLL dividers for `clkout_mhz` from `clkin_mhz`, and CLKOS at `phase` degrees.

    The search is `ecppll`'s: the smallest error, then the VCO nearest 600 MHz.

    Raises
    ------
    ValueError
        When no divider set gives `clkout_mhz` exactly.
    """
    best, best_key = None, None
    for refclk_div in range(1, 129):
        pfd = clkin_mhz / refclk_div
        if not _PFD_MHZ[0] <= pfd <= _PFD_MHZ[1]:
            continue
        for feedback_div in range(1, 81):
            for output_div in range(1, 129):
                vco = pfd * feedback_div * output_div
                if not _VCO_MHZ[0] <= vco <= _VCO_MHZ[1]:
                    continue
                key = (abs(vco / output_div - clkout_mhz), abs(vco - 600))
                if best_key is None or key < best_key:
                    best, best_key = (refclk_div, feedback_div, output_div), key
    if best is None or best_key[0] > 1e-6:
        raise ValueError(f"no EHXPLLL setting makes {clkout_mhz} MHz from {clkin_mhz} MHz")
    refclk_div, feedback_div, output_div = best
    primary_cphase = output_div // 2          # CLKOP half a period on, as Lattice's tools do
    eighths = round(phase / 360 * output_div * 8)
    return PllParameters(clkin_mhz, clkout_mhz, refclk_div, feedback_div, output_div,
                         primary_cphase, primary_cphase + eighths // 8, eighths % 8)


class Pll(Elaboratable):
    """An EHXPLLL: `clkop` at the parameters' frequency, `clkos` the same shifted, `locked`.

    Parameters
    ----------
    clkin : Signal
        The reference clock (a board oscillator's input buffer).
    parameters : PllParameters

    Attributes
    ----------
    clkop, clkos, locked : Signal
        The primary output, the secondary (phase-shifted) output, the lock.
    """

    def __init__(self, clkin, parameters):
        self.clkin, self.parameters = clkin, parameters
        self.clkop, self.clkos = Signal(name="clkop"), Signal(name="clkos")
        self.locked = Signal(name="locked")

    def elaborate(self, platform):
        m = Module()
        p = self.parameters
        mhz = {"CLKI": p.clkin_mhz, "CLKOP": p.clkout_mhz, "CLKOS": p.clkout_mhz}
        m.submodules.ehxplll = Instance(
            "EHXPLLL",
            # nextpnr derives the outputs' constraints from these (and checks the VCO).
            **{f"a_FREQUENCY_PIN_{pin}": f"{value:g}" for pin, value in mhz.items()},
            a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1",
            a_MFG_GMCREF_SEL="2",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_OUTDIVIDER_MUXB="DIVB",
            p_OUTDIVIDER_MUXC="DIVC", p_OUTDIVIDER_MUXD="DIVD",
            p_CLKI_DIV=p.refclk_div, p_CLKFB_DIV=p.feedback_div, p_FEEDBK_PATH="CLKOP",
            p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=p.output_div,
            p_CLKOP_CPHASE=p.primary_cphase, p_CLKOP_FPHASE=0,
            p_CLKOS_ENABLE="ENABLED", p_CLKOS_DIV=p.output_div,
            p_CLKOS_CPHASE=p.secondary_cphase, p_CLKOS_FPHASE=p.secondary_fphase,
            i_RST=Const(0), i_STDBY=Const(0), i_CLKI=self.clkin, i_CLKFB=self.clkop,
            i_PHASESEL0=Const(0), i_PHASESEL1=Const(0), i_PHASEDIR=Const(1),
            i_PHASESTEP=Const(1), i_PHASELOADREG=Const(1), i_PLLWAKESYNC=Const(0),
            i_ENCLKOP=Const(0),
            o_CLKOP=self.clkop, o_CLKOS=self.clkos, o_LOCK=self.locked)
        return m


def delay_taps(delay_ns):
    """DELAYG taps for `delay_ns` (rounded to the nearest tap)."""
    taps = round(delay_ns / DELAY_TAP_NS)
    if not 0 <= taps <= _MAX_TAPS:
        raise ValueError(f"{delay_ns} ns is {taps} DELAYG taps; an ECP5 pin has 0-{_MAX_TAPS}")
    return taps


class DelayedDdrInput(Elaboratable):
    """Input pins delayed by a fixed DELAYG, then sampled on both edges by an IDDRX1F.

    What `io.DDRBuffer("i", port, i_domain=domain)` does, with `delay_ns` between the pad
    and the flip-flops: RGMII's receive data must reach them about 2 ns after RXC's edge,
    and a PHY that does not delay RXC itself (no RGMII-ID) leaves that to the FPGA.

    Parameters
    ----------
    port : amaranth.lib.io.PortLike
        The pins (from `platform.request(..., dir="-")`).
    domain : str
        The clock domain of RXC.
    delay_ns : float
        The delay before the flip-flops.

    Attributes
    ----------
    i : Signal(ArrayLayout(len(port), 2))
        `[0]`: the pins at a rising edge; `[1]`: at the falling edge after it.
    """

    def __init__(self, port, domain, delay_ns):
        self.port, self.domain, self.taps = port, domain, delay_taps(delay_ns)
        self.i = Signal(data.ArrayLayout(len(port), 2))

    def elaborate(self, platform):
        m = Module()
        m.submodules.pad = pad = io.Buffer("i", self.port)
        for bit in range(len(self.port)):
            delayed = Signal(name=f"delayed{bit}")
            m.submodules[f"delay{bit}"] = Instance(
                "DELAYG", p_DEL_MODE="USER_DEFINED", p_DEL_VALUE=self.taps,
                i_A=pad.i[bit], o_Z=delayed)
            m.submodules[f"iddr{bit}"] = Instance(
                "IDDRX1F", i_SCLK=ClockSignal(self.domain), i_RST=Const(0), i_D=delayed,
                o_Q0=self.i[0][bit], o_Q1=self.i[1][bit])
        return m
