"""LambdaConcept ECPIX-5 with the LFE5UM5G-85F (ECP5-5G, 84k LUT4s, 208 DP16KD BRAMs) and a
1G Ethernet PHY on RGMII (amaranth-boards' `eth_rgmii`).

The board a deployer cables to the host's NIC: its top (`gatebook.boards.ethernet_top`) is
the MAC, the link endpoint and the lane (`gatebook.hdl.mac.endpoint.MacEndpoint`) on the
PHY's pins, the core at 125 MHz from a PLL on the 100 MHz oscillator. RGMII delays as
LiteX's ECPIX-5 target sets them: the PHY delays RXC itself (LiteX: rx_delay=0), the FPGA
delays TXC (the PLL's 90-degree output). The four RGB LEDs' first eight colours are also
offered as "led" 0-7, so the lane-only top (`BoardTop`) builds here too.
Program over the board's own USB (its FT2232): `openFPGALoader -b ecpix5 top.bit`.
"""

__all__ = ["NAME", "DESCRIPTION", "CAPACITY", "LEDS", "ETHERNET", "RGMII_CTL", "RESET",
           "TX_CLOCK_PHASE", "RX_DELAY_NS", "PROGRAM", "CABLE", "platform", "top"]

NAME = "ecpix5-85"
DESCRIPTION = "LambdaConcept ECPIX-5, Lattice ECP5-5G LFE5UM5G-85F-8BG554, RGMII 1G PHY"
# The device's cells, as nextpnr counts them (for a synthesis-only build's fit).
CAPACITY = {"TRELLIS_COMB": 83_640, "TRELLIS_FF": 83_640, "DP16KD": 208, "MULT18X18D": 156}
LEDS = 8
ETHERNET = "eth_rgmii"          # the resource with the PHY's RGMII pins
RGMII_CTL = ("rx_ctrl", "tx_ctrl")      # its RX_CTL and TX_CTL, as amaranth-boards names them
RESET = "rst"                   # the reset button
TX_CLOCK_PHASE = 90             # TXC 2 ns after TXD: the FPGA adds RGMII's transmit delay
RX_DELAY_NS = 0.0               # the PHY adds RGMII's receive delay (RGMII-ID)
PROGRAM = "openFPGALoader -b ecpix5 {bitstream}"          # SRAM; add -f to write the flash
CABLE = ("USB: the micro-USB port (FT2232, JTAG and UART) to the host; Ethernet: the RJ45 to "
         "the host's NIC, direct, 1000BASE-T")
_LED_PINS = ("T23", "R21", "T22", "U21", "W21", "T24", "K21", "K24")   # RGB LEDs 0-2, r g b


def platform():
    """amaranth-boards' `ECPIX585Platform` with "led" 0-7 on the RGB LEDs (needs amaranth-boards)."""
    from amaranth.build import Attrs, PinsN, Resource
    from amaranth_boards.ecpix5 import ECPIX585Platform

    class Platform(ECPIX585Platform):
        resources = ECPIX585Platform.resources + [
            Resource("led", k, PinsN(pin, dir="o"), Attrs(IO_TYPE="LVCMOS33"))
            for k, pin in enumerate(_LED_PINS)]
    return Platform()


def top(board, depth):
    """The board's top for `gatebook build`: the MAC, link endpoint and lane on its PHY."""
    from gatebook.boards.ethernet_top import EthernetBoardTop
    return EthernetBoardTop(board, depth)
