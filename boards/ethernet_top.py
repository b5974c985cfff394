"""The unit a board carries on its Ethernet PHY: MAC, link endpoint and lane on RGMII pins.

# Ref: docs/hardware.md ("The Ethernet MAC"); RGMII v2.0; Lattice FPGA-TN-02035 (IDDRX1F,
#      ODDRX1F).

`EthernetBoardTop(board, depth)` puts `gatebook.hdl.mac.endpoint.MacEndpoint(depth, mac)` on
the board's RGMII resource (`board.ETHERNET`, its control pins' names in `board.RGMII_CTL`,
as amaranth-boards spells them differently per board). Every RGMII data and control pin goes
through an `amaranth.lib.io.DDRBuffer` (on an ECP5, an IDDRX1F or ODDRX1F), TXC through an
ODDRX1F driven (1, 0). No PLL: the whole design runs on the PHY's receive clock, 125 MHz
once the link is up at 1 Gb/s, so the MAC's receive and core domains are one clock; the
PHY must add RGMII's 2 ns TX clock delay itself (RGMII-ID), as the data and TXC leave
the FPGA edge-aligned. The board's reset button (`board.RESET`) resets the design. LEDs, as
many as the board has: 0 frames received, 1 frames sent (each toggles per frame), 2 any
frame the MAC dropped, 3 any frame the endpoint dropped.
"""

from amaranth.hdl import ClockDomain, ClockSignal, Const, Elaboratable, Module, Value
from amaranth.lib import io
from amaranth.lib.cdc import ResetSynchronizer

from gatebook.hdl.mac.endpoint import MacEndpoint

__all__ = ["EthernetBoardTop", "BOARD_MAC"]

BOARD_MAC = "02:00:00:00:e0:01"     # locally administered; the host's --link-peer
PHY_CLOCK = 125e6


class EthernetBoardTop(Elaboratable):
    """`MacEndpoint(depth, mac)` on a board's RGMII PHY, clocked by the PHY's receive clock.

    Parameters
    ----------
    board : module
        A `gatebook.boards` board module with `ETHERNET` (its RGMII resource), `RGMII_CTL`
        (the names of its receive and transmit control pins), `RESET` (the reset button's
        resource) and `LEDS`.
    depth : int
        The lane's window depth.
    mac : str
        The endpoint's MAC address.
    """

    def __init__(self, board, depth, mac=BOARD_MAC):
        self.board, self.depth, self.mac = board, depth, mac

    def elaborate(self, platform):
        m = Module()
        eth = platform.request(self.board.ETHERNET, 0, dir="-")

        m.submodules.rx_clk = rx_clk = io.Buffer("i", eth.rx_clk)
        platform.add_clock_constraint(rx_clk.i, PHY_CLOCK)
        m.domains.sync = ClockDomain("sync")
        m.domains.rx = ClockDomain("rx")
        m.d.comb += [ClockSignal("sync").eq(rx_clk.i), ClockSignal("rx").eq(rx_clk.i)]
        m.submodules.button = button = io.Buffer("i", platform.request(self.board.RESET, 0,
                                                                        dir="-"))
        m.submodules.reset = ResetSynchronizer(button.i, domain="sync")

        m.submodules.unit = unit = MacEndpoint(self.depth, self.mac)
        m.submodules.rxd = rxd = io.DDRBuffer("i", eth.rx_data, i_domain="rx")
        rx_ctl_pin, tx_ctl_pin = (getattr(eth, name) for name in self.board.RGMII_CTL)
        m.submodules.rx_ctl = rx_ctl = io.DDRBuffer("i", rx_ctl_pin, i_domain="rx")
        m.submodules.txd = txd = io.DDRBuffer("o", eth.tx_data, o_domain="sync")
        m.submodules.tx_ctl = tx_ctl = io.DDRBuffer("o", tx_ctl_pin, o_domain="sync")
        m.submodules.txc = txc = io.DDRBuffer("o", eth.tx_clk, o_domain="sync")
        m.submodules.phy_reset = phy_reset = io.Buffer("o", eth.rst)
        m.d.comb += [
            Value.cast(unit.rxd).eq(Value.cast(rxd.i)),
            Value.cast(unit.rx_ctl).eq(Value.cast(rx_ctl.i)),
            Value.cast(txd.o).eq(Value.cast(unit.txd)),
            Value.cast(tx_ctl.o).eq(Value.cast(unit.tx_ctl)),
            Value.cast(txc.o).eq(Const(0b01, 2)),      # high for the rising half, low for the falling
            phy_reset.o.eq(0),                          # the PHY out of reset
        ]
        lights = [unit.rx_frames[0], unit.tx_frames[0], Value.cast(unit.mac_drops).any(),
                  Value.cast(unit.drops).any()]
        for k, light in enumerate(lights[:self.board.LEDS]):
            m.submodules[f"led_{k}"] = led = io.Buffer("o", platform.request("led", k, dir="-"))
            m.d.comb += led.o.eq(light)
        return m
