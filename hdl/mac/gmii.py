"""What the MAC's parts share: the GMII byte, the frame's fixed bytes and sizes, and why a received frame is dropped.

# Ref: IEEE Std 802.3-2018 clause 35 (GMII: TXD/TX_EN/TX_ER, RXD/RX_DV/RX_ER),
#      clause 3.2.1-3.2.2 (preamble 7 x 0x55, SFD 0xD5), 3.2.9 (FCS: CRC-32, sent
#      least significant byte first, complemented), 4.4.2 (minFrameSize 64 bytes,
#      maxUntaggedFrameSize 1518 bytes, interFrameGap 96 bit times = 12 byte times at 1G);
#      RGMII v2.0 (Hewlett-Packard, 2002) for how GMII rides on DDR pins.

The frame sizes come from the wire table `gatebook.wire.ethernet` (the payload MTU and
the padded minimum without FCS); this module adds the 4-byte FCS to them.
"""

from enum import IntEnum

from amaranth.lib import data

from gatebook.wire.ethernet import ETHERNET_HEADER, MIN_FRAME, MTU

__all__ = ["GMII", "PREAMBLE", "SFD", "PREAMBLE_BYTES", "FCS_BYTES", "MIN_FRAME", "MIN_FCS_FRAME",
           "MAX_FCS_FRAME", "IFG_BYTES", "MacDrop", "MAC_DROPS"]

# One GMII byte time: data with its enable (TX_EN / RX_DV) and error (TX_ER / RX_ER).
GMII = data.StructLayout({"data": 8, "en": 1, "er": 1})

PREAMBLE = 0x55
SFD = 0xD5
PREAMBLE_BYTES = 7                          # then the SFD
FCS_BYTES = 4
MIN_FCS_FRAME = MIN_FRAME + FCS_BYTES       # 64: shorter received frames are runts
MAX_FCS_FRAME = ETHERNET_HEADER.size + MTU + FCS_BYTES     # 1518: longer ones are oversized
IFG_BYTES = 12


class MacDrop(IntEnum):
    """Why the receiver dropped a frame (one reason a frame, the first that applies)."""
    FCS       = 0   # the frame check sequence does not match the frame
    RUNT      = 1   # shorter than 64 bytes with its FCS (a collision fragment, or forged)
    OVERSIZE  = 2   # longer than 1518 bytes: cut off there, the rest ignored
    OVERFLOW  = 3   # the buffer to the core's clock was full (the endpoint fell behind)
    PREAMBLE  = 4   # the PHY's receive enable rose on something other than preamble and SFD
    PHY_ERROR = 5   # the PHY signalled a receive error (RX_ER) inside the frame


MAC_DROPS = data.StructLayout({reason.name.lower(): 32 for reason in MacDrop})
