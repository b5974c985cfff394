"""The Ethernet II frame, and the IPv4 and UDP headers that order entry rides in.

# Ref: IEEE Std 802.3-2018 clause 3.2 (MAC frame: destination, source,
#      length/type; minFrameSize 64 bytes with the 4-byte FCS, clause 4.4.2);
#      RFC 791 section 3.1 (IPv4 header); RFC 768 (UDP header);
#      IANA EtherType and protocol-number registries.

Big-endian, as on the wire. The MAC adds the preamble and the frame check
sequence and pads a frame shorter than MIN_FRAME, so a receiver reads a
frame's own `count` of records and ignores what follows them in a short one.

IPV4_HEADER is the 20-byte header without options; its first byte holds the
version (high nibble) and the header length in 32-bit words (low nibble), and
`flags_fragment` the flags (top 3 bits) and fragment offset (low 13 bits), so
every field is whole bytes. The DPDK bridge's C framing (dpdk_bridge/_cgen.py)
takes its offsets from these tables.
"""

from .layout import Field, Message, Protocol

__all__ = ["ETHERNET_HEADER", "ETHERNET", "MIN_FRAME", "MTU",
           "IPV4_HEADER", "IPV4", "UDP_HEADER", "UDP",
           "ETHERTYPE_IPV4", "ETHERTYPE_ARP", "IPV4_VERSION", "IPPROTO_UDP",
           "IPV4_DONT_FRAGMENT", "IPV4_MORE_FRAGMENTS", "IPV4_FRAGMENT_OFFSET"]

ETHERNET_HEADER = Message("ethernet_header", None, (
    Field("dst",       6, doc="destination MAC, first byte on the wire first"),
    Field("src",       6, doc="source MAC"),
    Field("ethertype", 2, doc="EtherType"),
))
ETHERNET = Protocol("ethernet-ii", "big", (ETHERNET_HEADER,))
MIN_FRAME = 64 - 4          # minFrameSize less the FCS: shorter frames are padded by the MAC
MTU = 1500                  # the largest payload (after the Ethernet header) of a frame

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_ARP  = 0x0806

IPV4_HEADER = Message("ipv4_header", None, (
    Field("version_ihl",     1, doc="version << 4 | header length in 32-bit words"),
    Field("dscp_ecn",        1, doc="differentiated services and ECN"),
    Field("total_length",    2, doc="bytes of header and data"),
    Field("identification",  2, doc="groups a datagram's fragments"),
    Field("flags_fragment",  2, doc="flags (DF 0x4000, MF 0x2000) | fragment offset in 8-byte units"),
    Field("ttl",             1, doc="time to live"),
    Field("protocol",        1, doc="IANA protocol number of the payload"),
    Field("header_checksum", 2, doc="RFC 1071 checksum of the header"),
    Field("src",             4, doc="source address"),
    Field("dst",             4, doc="destination address"),
))
IPV4 = Protocol("ipv4", "big", (IPV4_HEADER,))
IPV4_VERSION         = 4
IPV4_DONT_FRAGMENT   = 0x4000       # flags_fragment: DF
IPV4_MORE_FRAGMENTS  = 0x2000       # flags_fragment: MF
IPV4_FRAGMENT_OFFSET = 0x1FFF       # flags_fragment: the offset's bits
IPPROTO_UDP          = 17

UDP_HEADER = Message("udp_header", None, (
    Field("src_port", 2, doc="source port"),
    Field("dst_port", 2, doc="destination port"),
    Field("length",   2, doc="bytes of header and data"),
    Field("checksum", 2, doc="0: none (IPv4 allows it)"),
))
UDP = Protocol("udp", "big", (UDP_HEADER,))
