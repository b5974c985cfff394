"""Radiona ULX3S with the LFE5U-85F (ECP5, 84k LUT4s, 208 DP16KD BRAMs, 25 MHz oscillator).

The largest ULX3S: a depth-16 lane is about 8.7k flip-flops of window plus a
comparator per entry, which fits with room for the stimulus and later a host link.
"""

__all__ = ["NAME", "DESCRIPTION", "CAPACITY", "LEDS", "PROGRAM", "CABLE", "platform"]

NAME = "ulx3s-85f"
DESCRIPTION = "Radiona ULX3S, Lattice ECP5 LFE5U-85F-6BG381C, 25 MHz clock"
# The device's cells, as nextpnr counts them (for a synthesis-only build's fit).
CAPACITY = {"TRELLIS_COMB": 83_640, "TRELLIS_FF": 83_640, "DP16KD": 208, "MULT18X18D": 156}
LEDS = 8                     # resources "led" 0..7
PROGRAM = "openFPGALoader -b ulx3s {bitstream}"       # SRAM; add -f to write the flash
CABLE = "USB: the US1 port (FT231X) to the host; no Ethernet (a random-stimulus lane only)"


def platform():
    """A fresh `amaranth_boards.ulx3s.ULX3S_85F_Platform` (needs the `boards` extra)."""
    from amaranth_boards.ulx3s import ULX3S_85F_Platform
    return ULX3S_85F_Platform()
