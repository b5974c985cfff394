"""Colorlight 5A-75B (v7.0), an LED-panel receiver card with a Lattice ECP5 LFE5U-25F (24k
LUT4s, 56 DP16KD BRAMs) and two 1G Ethernet PHYs on RGMII: the cheapest ECP5 board with
Ethernet people buy for this.

Its top (`gatebook.boards.ethernet_top`) is the MAC, the link endpoint and the lane on the
first PHY (amaranth-boards' `eth_rgmii` 0), clocked by that PHY's 125 MHz receive clock.
One LED (frames received) and one button (reset). The 25F holds a small lane only.
"""

__all__ = ["NAME", "DESCRIPTION", "LEDS", "ETHERNET", "RGMII_CTL", "RESET", "platform", "top"]

NAME = "colorlight-5a75b"
DESCRIPTION = "Colorlight 5A-75B v7.0, Lattice ECP5 LFE5U-25F-6BG256C, two RGMII 1G PHYs"
LEDS = 1
ETHERNET = "eth_rgmii"
RGMII_CTL = ("rx_ctl", "tx_ctl")
RESET = "button"


def platform():
    """A fresh `amaranth_boards.colorlight_5a75b_r7_0.Colorlight_5A75B_R70Platform`."""
    from amaranth_boards.colorlight_5a75b_r7_0 import Colorlight_5A75B_R70Platform
    return Colorlight_5A75B_R70Platform()


def top(board, depth):
    """The board's top for `gatebook build`: the MAC, link endpoint and lane on its first PHY."""
    from gatebook.boards.ethernet_top import EthernetBoardTop
    return EthernetBoardTop(board, depth)
