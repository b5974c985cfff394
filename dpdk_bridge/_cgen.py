"""C declarations for the bridge's helpers, derived from the wire tables.

# Ref: gatebook/wire/ouch.py (the order-entry tables), gatebook/wire/ethernet.py
#      (Ethernet, IPv4 and UDP headers); STYLE.md principle 1.

The ingress helper `gb_ouch_rx` splits a received burst into order-entry
datagrams in C. It needs the session header's field offsets and each inbound
message's type code and size; this module writes them as `#define`s and a
size-by-type-code array from `gatebook.wire.ouch`, so nothing in C is typed
by hand. The same `#define`s go into the cffi declarations, so Python reads
them back as `lib.GB_OUCH_...` and a test checks them against the tables.

`RX_DESC` is the layout of the per-frame descriptor the helper writes: one
table gives the C struct (`struct gb_rx_desc`) and the Python `struct.Struct`
that reads a whole burst of descriptors with `iter_unpack`. `TX_DESC` does
the same for `gb_udp_tx`, which frames and sends a burst of replies.

The Ethernet/IPv4/UDP framing the helpers read and write takes every offset
and size from `gatebook.wire.ethernet` (`frame_defines`), and `STATS` and
`LINK` give the two small structs the port reads its counters and link state
through (`struct gb_stats`, `struct gb_link`), written once for C and cffi.
`bridge_header` is the whole generated header the C in dpdk_bridge/csrc/
includes as "gb_bridge_tables.h".
"""

import struct

from gatebook.wire import ethernet, ouch
from gatebook.wire.layout import ALPHA

__all__ = ["RX_DESC", "RX_DESC_STRUCT", "TX_DESC", "TX_DESC_STRUCT", "RX_STATUS", "RX_KINDS",
           "STATS", "LINK", "FRAME_HEADERS", "ouch_defines", "rx_desc_struct_c", "frame_defines",
           "port_structs_c", "field_offsets", "bridge_declarations", "bridge_header", "C_DECLARATIONS", "C_TABLES",
           "BRIDGE_HEADER_NAME"]

# (name, bytes, signed, meaning); widest first, so C adds no padding.
RX_DESC = (
    ("sequence", 8, False, "session header: sequence number of the first message"),
    ("src_mac",  8, False, "sender's MAC, 6 bytes as a big-endian integer"),
    ("peer",     8, False, "sender's IPv4 address << 16 | UDP port"),
    ("session",  4, False, "session header: session id"),
    ("src_ip",   4, False, "sender's IPv4 address as an integer"),
    ("offset",   4, False, "first message's offset in the burst buffer"),
    ("status",   4, True,  "RX_STATUS: datagram, ARP frame, not ours, or why it is refused"),
    ("detail1",  4, False, "refusals: size, type byte or message count"),
    ("detail2",  4, False, "refusals: offset, messages held or bytes left over"),
    ("count",    2, False, "session header: message count"),
    ("frame",    2, False, "frame index in the burst"),
    ("pad",      4, False, ""),
)

# One datagram for `gb_udp_tx` to frame and send; payload i sits in slot i.
TX_DESC = (
    ("dst_mac",  8, False, "destination MAC, 6 bytes as a big-endian integer; 0: resolve"),
    ("dst_ip",   4, False, "destination IPv4 address as an integer"),
    ("dst_port", 2, False, "destination UDP port"),
    ("len",      2, False, "payload bytes"),
)

# A port's counters, named as DPDK's `struct rte_eth_stats` names them (the C
# copies each field of that name), read by dpdk_bridge/port.py's `stats`.
STATS = tuple((name, 8, False, meaning) for name, meaning in (
    ("ipackets",  "packets received"),
    ("opackets",  "packets sent"),
    ("ibytes",    "bytes received"),
    ("obytes",    "bytes sent"),
    ("imissed",   "packets the hardware dropped for want of a descriptor"),
    ("ierrors",   "erroneous packets received"),
    ("oerrors",   "packets that failed to send"),
    ("rx_nombuf", "receive mbuf allocation failures"),
))

# A port's link state, as `gb_link_get` reads it from `struct rte_eth_link`.
LINK = (
    ("speed_mbps",  4, False, "link speed in Mb/s"),
    ("full_duplex", 4, True,  "1: full duplex"),
    ("up",          4, True,  "1: link up"),
    ("autoneg",     4, True,  "1: autonegotiated"),
)

# The headers of a UDP datagram in an Ethernet frame, outermost first: (C
# prefix, table). IPv4 without options.
FRAME_HEADERS = (
    ("GB_ETH",  ethernet.ETHERNET_HEADER),
    ("GB_IPV4", ethernet.IPV4_HEADER),
    ("GB_UDP",  ethernet.UDP_HEADER),
)

# What a descriptor's status says about its frame.
RX_STATUS = {
    "DATAGRAM":     0,   # an exact order-entry datagram for our port
    "ARP":          1,   # an ARP frame: Python answers it
    "NOT_OURS":     2,   # not IPv4/UDP to our port, or its lengths do not add up
    # Refused by the port itself, counted by kind there (the sender has no
    # address to answer, or no UDP header says whose it is):
    "FRAGMENT":     3,   # a later IPv4 fragment (offset > 0)
    "BAD_SOURCE":   4,   # to our port from a source no reply can reach (udp.answerable)
    # Refused by the gateway, which knows the sender and may answer:
    "SHORT":       -1,   # detail1 = datagram size
    "UNKNOWN_TYPE": -2,  # detail1 = type byte, detail2 = offset
    "TRUNCATED":   -3,   # detail1 = type byte, detail2 = offset
    "TOO_FEW":     -4,   # detail1 = count in the header, detail2 = messages held
    "TOO_MANY":    -5,   # detail1 = count in the header, detail2 = bytes left over
    "FRAGMENTED":  -6,   # first IPv4 fragment; detail1 = the whole datagram's UDP length
    "OVERSIZE":    -7,   # frame longer than the slot; detail1 = its length, detail2 = slot
}
# The port counts each positive status in an array of this many counters.
RX_KINDS = max(RX_STATUS.values()) + 1

_C_INT = {(1, False): "uint8_t", (2, False): "uint16_t", (4, False): "uint32_t",
          (8, False): "uint64_t", (4, True): "int32_t"}
_PY_INT = {(1, False): "B", (2, False): "H", (4, False): "I", (8, False): "Q", (4, True): "i"}

def _py_struct(table):
    return struct.Struct("=" + "".join(_PY_INT[width, signed] for _, width, signed, _ in table))


RX_DESC_STRUCT = _py_struct(RX_DESC)
TX_DESC_STRUCT = _py_struct(TX_DESC)


def field_offsets(message):
    """{field name: byte offset} of `message` (after its type byte, if it has one)."""
    offsets, at = {}, int(message.code is not None)
    for field in message.fields:
        offsets[field.name] = at
        at += field.width
    return offsets


def _symbol(*parts):
    return "_".join(["GB_OUCH", *parts]).upper()


def ouch_defines():
    """`#define` lines: the session header's and each order-entry message's code,
    size, and per-field offset and width, from `gatebook.wire.ouch`."""
    lines = []
    for message in (ouch.SESSION_HEADER, *ouch.INBOUND.messages, *ouch.OUTBOUND.messages):
        stem = "header" if message is ouch.SESSION_HEADER else message.name
        if message in ouch.OUTBOUND.messages:
            stem = f"out_{stem}"
        if message.code is not None:
            lines.append(f"#define {_symbol(stem, 'code')} {message.code}")
        lines.append(f"#define {_symbol(stem, 'size')} {message.size}")
        offsets = field_offsets(message)
        for field in message.fields:
            lines.append(f"#define {_symbol(stem, field.name, 'off')} {offsets[field.name]}")
            lines.append(f"#define {_symbol(stem, field.name, 'width')} {field.width}")
    return "\n".join(lines) + "\n"


def _inbound_sizes_c():
    sizes = ["0"] * 256
    for message in ouch.INBOUND.messages:
        sizes[message.code] = _symbol(message.name, "size")
    rows = [", ".join(sizes[at:at + 16]) for at in range(0, 256, 16)]
    return ("/* bytes of each inbound message by its type byte; 0: no such message */\n"
            "static const uint16_t gb_ouch_in_size[256] = {\n    "
            + ",\n    ".join(rows) + "\n};\n")


def _struct_c(name, table):
    body = "".join(f"    {_C_INT[width, signed]:9s} {field};\n"
                   for field, width, signed, _ in table)
    return f"struct {name} {{\n{body}}};\n"


def rx_desc_struct_c():
    """`struct gb_rx_desc`, `struct gb_tx_desc` and the status constants, from
    RX_DESC, TX_DESC and RX_STATUS."""
    statuses = "".join(f"#define GB_RX_{name} {value}\n" for name, value in RX_STATUS.items())
    statuses += f"#define GB_RX_KINDS {RX_KINDS}\n"
    return _struct_c("gb_rx_desc", RX_DESC) + _struct_c("gb_tx_desc", TX_DESC) + statuses


def port_structs_c():
    """`struct gb_stats` and `struct gb_link` from STATS and LINK, and
    `GB_STATS_FROM_RTE(out, s)`, which copies each STATS field from a
    `struct rte_eth_stats` (C only: cffi cannot read a macro with arguments)."""
    copy = " ".join(f"(out)->{name} = (s).{name};" for name, *_ in STATS)
    return (_struct_c("gb_stats", STATS) + _struct_c("gb_link", LINK),
            f"#define GB_STATS_FROM_RTE(out, s) do {{ {copy} }} while (0)\n")


def frame_defines():
    """`#define` lines: each Ethernet, IPv4 and UDP header field's offset in its
    header and each header's size, the whole Ethernet/IPv4/UDP header's size,
    and the EtherTypes, version, flags and protocol number the C compares,
    from `gatebook.wire.ethernet`."""
    lines = []
    for prefix, header in FRAME_HEADERS:
        offsets = field_offsets(header)
        lines.append(f"#define {prefix}_SIZE {header.size}")
        lines += [f"#define {prefix}_{name.upper()}_OFF {offset}"
                  for name, offset in offsets.items()]
    lines.append(f"#define GB_FRAME_HEADERS_SIZE "
                 f"{sum(header.size for _, header in FRAME_HEADERS)}")
    for name in ("ETHERTYPE_IPV4", "ETHERTYPE_ARP", "IPV4_DONT_FRAGMENT",
                 "IPV4_MORE_FRAGMENTS", "IPV4_FRAGMENT_OFFSET"):     # bit patterns: hex
        lines.append(f"#define GB_{name} {getattr(ethernet, name):#06x}")
    for name in ("IPV4_VERSION", "IPPROTO_UDP"):                      # numbers: decimal
        lines.append(f"#define GB_{name} {getattr(ethernet, name)}")
    return "\n".join(lines) + "\n"


def _check_tables():
    # The C reader assumes what the tables say today; say so loudly if they change.
    header = ouch.SESSION_HEADER
    assert header.field_names == ("session", "sequence_number", "message_count"), header
    assert all(field.kind != ALPHA for field in header.fields)
    assert ouch.INBOUND.byte_order == "big"
    for protocol in (ethernet.ETHERNET, ethernet.IPV4, ethernet.UDP):
        assert protocol.byte_order == "big", protocol
    # gb_udp_split reads the MACs as 2 + 4 bytes and builds the IPv4 header
    # byte by byte; both assume these widths.
    assert [f.width for f in ethernet.ETHERNET_HEADER.fields] == [6, 6, 2]
    assert ethernet.IPV4_HEADER.size == 20 and ethernet.UDP_HEADER.size == 8


_check_tables()

# For both cdef and set_source: integer constants and the descriptor structs.
C_DECLARATIONS = ouch_defines() + rx_desc_struct_c()
# For set_source only.
C_TABLES = _inbound_sizes_c()

# The file name the C in dpdk_bridge/csrc/ includes the generated header by.
BRIDGE_HEADER_NAME = "gb_bridge_tables.h"


def bridge_declarations():
    """What the cffi declarations take from the tables: the structs, and every
    integer `#define` (cffi reads each as `#define NAME ...`)."""
    structs, _ = port_structs_c()
    return structs + C_DECLARATIONS + frame_defines()


def bridge_header():
    """The text of "gb_bridge_tables.h": all the bridge's C takes from the tables."""
    structs, copy = port_structs_c()
    return ("/* Generated by dpdk_bridge/_cgen.py from gatebook/wire; do not edit. */\n"
            "#ifndef GB_BRIDGE_TABLES_H\n#define GB_BRIDGE_TABLES_H\n#include <stdint.h>\n"
            + structs + C_DECLARATIONS + frame_defines() + copy + C_TABLES + "#endif\n")
