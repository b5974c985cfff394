"""Colorlight 5A-75B (v7.0), an LED-panel receiver card with a Lattice ECP5 LFE5U-25F (24k
LUT4s, 56 DP16KD BRAMs) and two 1G Ethernet PHYs on RGMII: the cheapest ECP5 board with
Ethernet people buy for this.

Its top (`gatebook.boards.ethernet_top`) is the MAC, the link endpoint and the lane on the
first PHY (amaranth-boards' `eth_rgmii` 0), the core at 125 MHz from a PLL on the 25 MHz
oscillator. RGMII delays as LiteX's Colorlight 5A-75X target sets them: the PHY delays TXC
itself (LiteX: tx_delay=0), the FPGA delays the receive pins by 2 ns (DELAYG). One LED
(frames received) and one button (reset). The 25F holds a small lane only.
The board has no USB: program it through a 3.3 V JTAG adapter on its JTAG pads.
"""

__all__ = ["NAME", "DESCRIPTION", "CAPACITY", "LEDS", "ETHERNET", "RGMII_CTL", "RESET",
           "TX_CLOCK_PHASE", "RX_DELAY_NS", "PROGRAM", "CABLE", "platform", "top"]

NAME = "colorlight-5a75b"
DESCRIPTION = "Colorlight 5A-75B v7.0, Lattice ECP5 LFE5U-25F-6BG256C, two RGMII 1G PHYs"
# The device's cells, as nextpnr counts them (for a synthesis-only build's fit).
CAPACITY = {"TRELLIS_COMB": 24_288, "TRELLIS_FF": 24_288, "DP16KD": 56, "MULT18X18D": 28}
LEDS = 1
ETHERNET = "eth_rgmii"
RGMII_CTL = ("rx_ctl", "tx_ctl")
RESET = "button"
TX_CLOCK_PHASE = 0              # the PHY adds RGMII's transmit delay (RGMII-TXID)
RX_DELAY_NS = 2.0               # the FPGA adds RGMII's receive delay: DELAYG, 80 taps
# -c names the JTAG adapter: ft232 here; ft2232, dirtyJtag, ... (openFPGALoader --list-cables)
PROGRAM = "openFPGALoader -c ft232 {bitstream}"
CABLE = ("JTAG: a 3.3 V adapter (an FT232H breakout, say) on the board's TCK, TMS, TDI, TDO "
         "and GND pads (the chubby75 project maps them per revision); power: 5 V on the screw "
         "terminal; Ethernet: PHY 0's RJ45 to the host's NIC, direct, 1000BASE-T")


def platform():
    """A fresh `amaranth_boards.colorlight_5a75b_r7_0.Colorlight_5A75B_R70Platform`."""
    from amaranth_boards.colorlight_5a75b_r7_0 import Colorlight_5A75B_R70Platform
    return Colorlight_5A75B_R70Platform()


def top(board, depth):
    """The board's top for `gatebook build`: the MAC, link endpoint and lane on its first PHY."""
    from gatebook.boards.ethernet_top import EthernetBoardTop
    return EthernetBoardTop(board, depth)
