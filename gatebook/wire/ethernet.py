"""The Ethernet II frame around the host <-> pipeline link's frames.

# Ref: IEEE Std 802.3-2018 clause 3.2 (MAC frame: destination, source,
#      length/type; minFrameSize 64 bytes with the 4-byte FCS, clause 4.4.2).

Big-endian, as on the wire. The MAC adds the preamble and the frame check
sequence and pads a frame shorter than MIN_FRAME, so a receiver reads a
frame's own `count` of records and ignores what follows them in a short one.
"""

from .layout import Field, Message, Protocol

__all__ = ["ETHERNET_HEADER", "ETHERNET", "MIN_FRAME", "MTU"]

ETHERNET_HEADER = Message("ethernet_header", None, (
    Field("dst",       6, doc="destination MAC, first byte on the wire first"),
    Field("src",       6, doc="source MAC"),
    Field("ethertype", 2, doc="EtherType"),
))
ETHERNET = Protocol("ethernet-ii", "big", (ETHERNET_HEADER,))
MIN_FRAME = 64 - 4          # minFrameSize less the FCS: shorter frames are padded by the MAC
MTU = 1500                  # the largest payload (after the Ethernet header) of a frame
