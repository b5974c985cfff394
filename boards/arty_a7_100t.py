"""Digilent Arty A7-100T (Xilinx Artix-7 XC7A100T-1CSG324, 63k LUT6s, 135 RAMB36): the
vendor-toolchain board. Nothing here builds it: `gatebook build --board arty-a7-100t` writes
a Vivado project (Amaranth's Tcl script, constraints and Verilog) to run where Vivado is.

Its Ethernet PHY (TI DP83848J) speaks MII, 10/100 Mb/s with a 4-bit bus at 25 MHz on a
single edge; `gatebook.hdl.mac` is an RGMII 1G MAC (a byte a clock at 125 MHz), so the
Arty carries no MAC and no link endpoint: its top is the lane on random stimulus
(`gatebook.boards.top.BoardTop`, as on the ULX3S), on the 100 MHz oscillator, which is
what the project measures (utilisation and timing in Vivado's reports). A host reaches
a lane over the existing paths: an RGMII board, or `python -m gatebook.sim.cosim`.
"""

__all__ = ["NAME", "DESCRIPTION", "LEDS", "VENDOR", "PROGRAM", "CABLE", "platform"]

NAME = "arty-a7-100t"
DESCRIPTION = "Digilent Arty A7-100T, Xilinx XC7A100T-1CSG324C, MII 10/100 PHY (unused)"
LEDS = 4
VENDOR = "Vivado"               # a project to build elsewhere: no open toolchain runs here
PROGRAM = "openFPGALoader -b arty_a7_100t {bitstream}"  # SRAM; add -f to write the flash
CABLE = "USB: the micro-USB port (FT2232, JTAG and UART) to the host; no Ethernet link"


def platform():
    """amaranth-boards' `ArtyA7_100Platform` with the part Digilent ships (XC7A100T-1CSG324C;
    amaranth-boards names the industrial -1L part)."""
    from amaranth_boards.arty_a7 import ArtyA7_100Platform

    class Platform(ArtyA7_100Platform):
        device = "xc7a100t"
        speed = "1"
    return Platform()
