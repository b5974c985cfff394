"""Ethernet/IPv4/UDP headers in Python, derived from `gatebook.wire.ethernet`'s tables.

# Ref: IEEE Std 802.3 clause 3.2 (Ethernet II), RFC 791 (IPv4, header checksum
#      per RFC 1071), RFC 768 (UDP).

The C framing (dpdk_bridge/csrc/, through `_cgen.frame_defines`) takes every offset
and size from those tables; this is the Python side of the same rule: each header
is a `struct.Struct` made from its table (field widths, order and the protocol's
byte order) and packed by field name, so a table change reaches both or neither.
"""

import struct

from gatebook.wire import ethernet

from ._cgen import field_offsets

__all__ = ["Header", "ETHERNET_HEADER", "IPV4_HEADER", "UDP_HEADER", "FRAME_HEADERS_SIZE",
           "ipv4_checksum", "udp_frame"]


class Header:
    """One header table as a `struct.Struct`, packed by field name.

    Parameters
    ----------
    message : gatebook.wire.layout.Message
        The header's table.
    protocol : gatebook.wire.layout.Protocol
        Its protocol, for the byte order.
    as_bytes : tuple of str
        Fields that stay byte strings (addresses, as MAC bytes and
        `socket.inet_aton` give them); every other field is an integer.

    Attributes
    ----------
    names : tuple of str
        The fields in wire order.
    offsets : dict
        Each field's byte offset in the header.
    size : int
        The header's bytes.
    """

    _INTEGER = {1: "B", 2: "H", 4: "I", 8: "Q"}
    _ORDER = {"big": ">", "little": "<"}

    def __init__(self, message, protocol, as_bytes=()):
        self.names = message.field_names
        self.offsets = field_offsets(message)
        self.size = message.size
        self.struct = struct.Struct(self._ORDER[protocol.byte_order] + "".join(
            f"{field.width}s" if field.name in as_bytes else self._INTEGER[field.width]
            for field in message.fields))
        assert self.struct.size == self.size, message.name

    def pack(self, **fields):
        """The header's bytes; every field named once, none extra."""
        if fields.keys() != set(self.names):
            raise TypeError(f"fields {sorted(fields)}; the header has {list(self.names)}")
        return self.struct.pack(*(fields[name] for name in self.names))

    def unpack_from(self, buffer, offset=0):
        """{field name: value} of the header at `offset` in `buffer`."""
        return dict(zip(self.names, self.struct.unpack_from(buffer, offset)))


ETHERNET_HEADER = Header(ethernet.ETHERNET_HEADER, ethernet.ETHERNET, as_bytes=("dst", "src"))
IPV4_HEADER = Header(ethernet.IPV4_HEADER, ethernet.IPV4, as_bytes=("src", "dst"))
UDP_HEADER = Header(ethernet.UDP_HEADER, ethernet.UDP)
FRAME_HEADERS_SIZE = ETHERNET_HEADER.size + IPV4_HEADER.size + UDP_HEADER.size
"""Bytes in front of a UDP payload in a frame (IPv4 without options)."""

_VERSION_IHL = ethernet.IPV4_VERSION << 4 | IPV4_HEADER.size // 4     # IPv4, no options
_TTL = 64


def ipv4_checksum(header):
    """RFC 1071's checksum of an IPv4 header (whose checksum field is 0)."""
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp_frame(dst_mac, src_mac, src_ip, dst_ip, src_port, dst_port, payload, ip_id=0):
    """An Ethernet/IPv4/UDP frame (MACs and IPs as bytes; UDP checksum 0, which
    IPv4 allows; IPv4 header checksum computed; Don't Fragment set)."""
    datagram = UDP_HEADER.size + len(payload)
    header = IPV4_HEADER.pack(
        version_ihl=_VERSION_IHL, dscp_ecn=0, total_length=IPV4_HEADER.size + datagram,
        identification=ip_id, flags_fragment=ethernet.IPV4_DONT_FRAGMENT, ttl=_TTL,
        protocol=ethernet.IPPROTO_UDP, header_checksum=0, src=src_ip, dst=dst_ip)
    at = IPV4_HEADER.offsets["header_checksum"]
    header = header[:at] + ipv4_checksum(header).to_bytes(2, "big") + header[at + 2:]
    return (ETHERNET_HEADER.pack(dst=dst_mac, src=src_mac, ethertype=ethernet.ETHERTYPE_IPV4)
            + header
            + UDP_HEADER.pack(src_port=src_port, dst_port=dst_port, length=datagram, checksum=0)
            + payload)
