/* Received frames to order-entry datagram descriptors: Ethernet, IPv4 and UDP
 * checked as dpdk_bridge/udp.py's DpdkUdp does, then the order-entry framing
 * as host/net/ouch_session.split_datagram does. Every offset comes from
 * "gb_bridge_tables.h" (gatebook/wire/ethernet.py and ouch.py).
 */
#include <string.h>
#include "bridge_internal.h"

/* Check one order-entry payload (session header, then the messages it counts)
   exactly as ouch_session.split_datagram does, and fill d. */
static void gb_ouch_frame(const uint8_t *p, uint32_t size, struct gb_rx_desc *d)
{
    uint32_t at = GB_OUCH_HEADER_SIZE;
    uint16_t count, k;
    if (size < GB_OUCH_HEADER_SIZE) {
        d->status = GB_RX_SHORT;
        d->detail1 = size;
        return;
    }
    d->session = gb_be32(p + GB_OUCH_HEADER_SESSION_OFF);
    d->sequence = gb_be64(p + GB_OUCH_HEADER_SEQUENCE_NUMBER_OFF);
    d->count = count = gb_be16(p + GB_OUCH_HEADER_MESSAGE_COUNT_OFF);
    for (k = 0; k < count; k++) {
        uint16_t width;
        if (at >= size) {
            d->status = GB_RX_TOO_FEW; d->detail1 = count; d->detail2 = k;
            return;
        }
        width = gb_ouch_in_size[p[at]];
        if (width == 0) {
            d->status = GB_RX_UNKNOWN_TYPE; d->detail1 = p[at]; d->detail2 = at;
            return;
        }
        if (at + width > size) {
            d->status = GB_RX_TRUNCATED; d->detail1 = p[at]; d->detail2 = at;
            return;
        }
        at += width;
    }
    if (at != size) {
        d->status = GB_RX_TOO_MANY; d->detail1 = count; d->detail2 = size - at;
        return;
    }
    d->status = GB_RX_DATAGRAM;
}

/* Whether a reply can reach ip:port, as dpdk_bridge/udp.py's `answerable`:
   not port 0, not 0.0.0.0 or 255.255.255.255, not multicast or 240/4. */
int gb_source_ok(uint32_t ip, uint16_t port)
{
    return port != 0 && ip != 0 && ip >> 28 < 0xE;
}

/* One frame's descriptor. ARP is handed back to Python, anything not UDP to
   udp_port is NOT_OURS. IPv4 fragments are not reassembled: a later fragment
   is FRAGMENT, the first one FRAGMENTED; a frame cut at the slot is OVERSIZE;
   a datagram from a source no reply can reach is BAD_SOURCE. */
static void gb_udp_split(const uint8_t *f, uint32_t len, uint32_t wire_len, uint32_t slot,
                         uint32_t at, uint16_t udp_port, struct gb_rx_desc *d,
                         struct gb_mac_table *macs)
{
    const uint8_t *ip = f + GB_ETH_SIZE, *u;
    uint32_t ihl, total, udp, length, fragment;
    uint16_t kind, src_port;
    if (len < GB_ETH_SIZE)
        return;
    kind = gb_be16(f + GB_ETH_ETHERTYPE_OFF);
    if (kind == GB_ETHERTYPE_ARP) {
        d->status = GB_RX_ARP;
        return;
    }
    if (kind != GB_ETHERTYPE_IPV4 || len < GB_FRAME_HEADERS_SIZE)
        return;
    ihl = (uint32_t)(ip[GB_IPV4_VERSION_IHL_OFF] & 0x0F) * 4;     /* 32-bit words */
    if (ip[GB_IPV4_VERSION_IHL_OFF] >> 4 != GB_IPV4_VERSION || ihl < GB_IPV4_SIZE
            || ip[GB_IPV4_PROTOCOL_OFF] != GB_IPPROTO_UDP)
        return;
    fragment = gb_be16(ip + GB_IPV4_FLAGS_FRAGMENT_OFF)
               & (GB_IPV4_MORE_FRAGMENTS | GB_IPV4_FRAGMENT_OFFSET);
    if (fragment & GB_IPV4_FRAGMENT_OFFSET) {
        d->status = GB_RX_FRAGMENT;               /* no UDP header to say whose */
        return;
    }
    udp = GB_ETH_SIZE + ihl;
    u = f + udp;
    if (udp + GB_UDP_SIZE > len || gb_be16(u + GB_UDP_DST_PORT_OFF) != udp_port)
        return;
    d->src_ip = gb_be32(ip + GB_IPV4_SRC_OFF);
    src_port = gb_be16(u + GB_UDP_SRC_PORT_OFF);
    if (!gb_source_ok(d->src_ip, src_port)) {
        d->status = GB_RX_BAD_SOURCE;
        return;
    }
    d->src_mac = (uint64_t)gb_be16(f + GB_ETH_SRC_OFF) << 32 | gb_be32(f + GB_ETH_SRC_OFF + 2);
    d->peer = (uint64_t)d->src_ip << 16 | src_port;
    length = gb_be16(u + GB_UDP_LENGTH_OFF);
    if (wire_len > slot) {
        d->status = GB_RX_OVERSIZE; d->detail1 = wire_len; d->detail2 = slot;
        return;
    }
    if (fragment) {
        d->status = GB_RX_FRAGMENTED; d->detail1 = length;
        return;
    }
    total = gb_be16(ip + GB_IPV4_TOTAL_LENGTH_OFF);
    if (total + GB_ETH_SIZE > len || length < GB_UDP_SIZE || udp + length > GB_ETH_SIZE + total) {
        d->status = GB_RX_NOT_OURS;
        return;
    }
    d->offset = at + udp + GB_UDP_SIZE + GB_OUCH_HEADER_SIZE;
    gb_mac_learn(macs, d->src_ip, d->src_mac);
    gb_ouch_frame(u + GB_UDP_SIZE, length - GB_UDP_SIZE, d);
}

/* One descriptor per frame of a burst in buf (frame i at buf + i * slot,
   lens[i] bytes on the wire). kinds[s] (if not NULL) counts each positive
   status s, so the port can report what it refused by kind. */
uint16_t gb_ouch_split(const uint8_t *buf, uint32_t slot, const uint16_t *lens,
                       uint16_t n, uint16_t udp_port, struct gb_rx_desc *out,
                       struct gb_mac_table *macs, uint64_t *kinds)
{
    for (uint16_t i = 0; i < n; i++) {
        struct gb_rx_desc *d = out + i;
        memset(d, 0, sizeof *d);
        d->frame = i;
        d->status = GB_RX_NOT_OURS;
        gb_udp_split(buf + (size_t)i * slot, lens[i] < slot ? lens[i] : slot, lens[i], slot,
                     (uint32_t)((size_t)i * slot), udp_port, d, macs);
        if (kinds != NULL && d->status > 0 && d->status < GB_RX_KINDS)
            kinds[d->status]++;
    }
    return n;
}

/* gb_rx_burst, then gb_ouch_split on what came: one C call per burst. */
uint16_t gb_ouch_rx(uint16_t port, uint16_t queue, uint8_t *buf, uint32_t slot,
                    uint16_t *lens, uint16_t max_pkts, uint16_t udp_port,
                    struct gb_rx_desc *out, struct gb_mac_table *macs, uint64_t *kinds)
{
    uint16_t n = gb_rx_burst(port, queue, buf, slot, lens, max_pkts);
    return gb_ouch_split(buf, slot, lens, n, udp_port, out, macs, kinds);
}
