"""`MacEndpoint` between simulated RGMII pins: the Verilog top of the MAC's cocotb bench.

# Ref: gatebook/hdl/mac/pads.py (the pins' double data rate flip-flops), RGMII v2.0.

Plain Verilog ports, named as on a board: `rgmii_rx_clk`, `rgmii_rxd`, `rgmii_rx_ctl` from
the PHY, `rgmii_txc`, `rgmii_txd`, `rgmii_tx_ctl` to it; `clk` and `rst` are the core's
125 MHz clock and reset. RGMII wants TXC to reach the PHY about 2 ns after the data
changes: on a board the PHY's internal delay does it (RGMII-ID) or a PLL output at 90
degrees; here `tx_clk90` is that clock, driven by the bench 2 ns after `clk`, and TXC is
it through a `DdrOutput` of (1, 0), so cocotbext-eth's sink samples mid-bit.
"""

from amaranth.hdl import ClockDomain, Const, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from gatebook.hdl.mac.endpoint import UNIT_COUNTERS, MacEndpoint
from gatebook.hdl.mac.pads import DdrInput, DdrOutput

__all__ = ["MacBenchTop", "TOPLEVEL"]

TOPLEVEL = "mac_top"


class MacBenchTop(wiring.Component):
    """`MacEndpoint(depth, mac)` with its RGMII pairs on simulated pins.

    Parameters
    ----------
    depth : int
        The lane's window depth.
    mac : str
        The endpoint's MAC address.
    buffer : int
        The MAC's receive buffer, bytes.
    """

    def __init__(self, depth, mac, *, buffer=2048):
        self.unit = MacEndpoint(depth, mac, buffer=buffer)
        super().__init__({
            "rgmii_rx_clk": In(1),
            "rgmii_rxd":    In(4),
            "rgmii_rx_ctl": In(1),
            "tx_clk90":     In(1),
            "rgmii_txc":    Out(1),
            "rgmii_txd":    Out(4),
            "rgmii_tx_ctl": Out(1),
            **UNIT_COUNTERS,            # the unit's counters, passed through as they are
        })

    def elaborate(self, platform):
        m = Module()
        m.domains.rx = rx = ClockDomain("rx")
        m.domains.tx90 = tx90 = ClockDomain("tx90", reset_less=True)
        m.d.comb += [rx.clk.eq(self.rgmii_rx_clk), tx90.clk.eq(self.tx_clk90)]
        m.submodules.unit = unit = self.unit
        m.submodules.rxd = rxd = DdrInput(self.rgmii_rxd, "rx")
        m.submodules.rx_ctl = rx_ctl = DdrInput(self.rgmii_rx_ctl, "rx")
        m.submodules.txd = txd = DdrOutput(4, "sync")
        m.submodules.tx_ctl = tx_ctl = DdrOutput(1, "sync")
        m.submodules.txc = txc = DdrOutput(1, "tx90")
        m.d.comb += [
            unit.rxd.eq(rxd.i),
            unit.rx_ctl.eq(rx_ctl.i),
            txd.o.eq(unit.txd),
            tx_ctl.o.eq(unit.tx_ctl),
            txc.o.eq(Const(0b01, 2)),               # [0] = 1 while high, [1] = 0 while low
            self.rgmii_txd.eq(txd.pin),
            self.rgmii_tx_ctl.eq(tx_ctl.pin),
            self.rgmii_txc.eq(txc.pin),
        ]
        for name in UNIT_COUNTERS:
            m.d.comb += getattr(self, name).eq(getattr(unit, name))
        return m
