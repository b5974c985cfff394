/* Replies framed as Ethernet/IPv4/UDP and sent, as dpdk_bridge/udp.py's
 * udp_frame frames them: DF set, TTL 64, UDP checksum 0 (IPv4 allows it),
 * IPv4 header checksum computed (RFC 1071). Every offset comes from
 * "gb_bridge_tables.h" (gatebook/wire/ethernet.py).
 */
#include <errno.h>
#include <string.h>
#include "bridge_internal.h"

#define GB_TTL 64

/* The RFC 1071 checksum of an IPv4 header whose checksum field is 0. */
static uint16_t gb_ipv4_checksum(const uint8_t *ip)
{
    uint32_t sum = 0;
    for (int w = 0; w < GB_IPV4_SIZE; w += 2)
        sum += gb_be16(ip + w);
    while (sum >> 16)
        sum = (sum & 0xFFFF) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Write the Ethernet, IPv4 and UDP headers of a datagram of len payload
   bytes at f. */
static void gb_udp_headers(uint8_t *f, uint64_t dst_mac, const uint8_t *src_mac6,
                           uint32_t src_ip, uint32_t dst_ip, uint16_t src_port,
                           uint16_t dst_port, uint16_t id, uint32_t len)
{
    uint8_t *ip = f + GB_ETH_SIZE, *u = ip + GB_IPV4_SIZE;
    for (int b = 0; b < 6; b++)
        f[GB_ETH_DST_OFF + b] = (uint8_t)(dst_mac >> (40 - 8 * b));
    memcpy(f + GB_ETH_SRC_OFF, src_mac6, 6);
    gb_put16(f + GB_ETH_ETHERTYPE_OFF, GB_ETHERTYPE_IPV4);
    ip[GB_IPV4_VERSION_IHL_OFF] = GB_IPV4_VERSION << 4 | GB_IPV4_SIZE / 4;
    ip[GB_IPV4_DSCP_ECN_OFF] = 0;
    gb_put16(ip + GB_IPV4_TOTAL_LENGTH_OFF, GB_IPV4_SIZE + GB_UDP_SIZE + len);
    gb_put16(ip + GB_IPV4_IDENTIFICATION_OFF, id);
    gb_put16(ip + GB_IPV4_FLAGS_FRAGMENT_OFF, GB_IPV4_DONT_FRAGMENT);
    ip[GB_IPV4_TTL_OFF] = GB_TTL;
    ip[GB_IPV4_PROTOCOL_OFF] = GB_IPPROTO_UDP;
    gb_put16(ip + GB_IPV4_HEADER_CHECKSUM_OFF, 0);
    gb_put32(ip + GB_IPV4_SRC_OFF, src_ip);
    gb_put32(ip + GB_IPV4_DST_OFF, dst_ip);
    gb_put16(ip + GB_IPV4_HEADER_CHECKSUM_OFF, gb_ipv4_checksum(ip));
    gb_put16(u + GB_UDP_SRC_PORT_OFF, src_port);
    gb_put16(u + GB_UDP_DST_PORT_OFF, dst_port);
    gb_put16(u + GB_UDP_LENGTH_OFF, GB_UDP_SIZE + len);
    gb_put16(u + GB_UDP_CHECKSUM_OFF, 0);
}

/* Frame n datagrams and transmit them; the IP ids count up from ip_id.
   Payload i is desc[i].len bytes at payloads + i * slot; a dst_mac of 0 is
   resolved by gb_mac_resolve from macs. Returns how many the driver took
   (the rest are freed), -ENOBUFS when the pool is empty, -EMSGSIZE when a
   frame does not fit an mbuf. */
int gb_udp_tx(uint16_t port, uint16_t queue, struct rte_mempool *pool,
              const uint8_t *payloads, uint32_t slot, const struct gb_tx_desc *desc,
              uint16_t n, const uint8_t *src_mac6, uint32_t src_ip, uint16_t src_port,
              uint16_t ip_id, const struct gb_mac_table *macs)
{
    struct rte_mbuf *pkts[GB_MAX_BURST];
    if (n > GB_MAX_BURST)
        n = GB_MAX_BURST;
    if (n == 0)
        return 0;
    if (rte_pktmbuf_alloc_bulk(pool, pkts, n) != 0)
        return -ENOBUFS;
    for (uint16_t i = 0; i < n; i++) {
        const struct gb_tx_desc *d = desc + i;
        uint32_t len = d->len < slot ? d->len : slot;
        uint8_t *f = (uint8_t *)rte_pktmbuf_append(pkts[i],
                                                    (uint16_t)(GB_FRAME_HEADERS_SIZE + len));
        uint64_t dst;
        if (f == NULL) {
            rte_pktmbuf_free_bulk(pkts, n);
            return -EMSGSIZE;
        }
        dst = d->dst_mac ? d->dst_mac : gb_mac_resolve(macs, d->dst_ip);
        gb_udp_headers(f, dst, src_mac6, src_ip, d->dst_ip, src_port, d->dst_port,
                       (uint16_t)(ip_id + i), len);
        memcpy(f + GB_FRAME_HEADERS_SIZE, payloads + (size_t)i * slot, len);
    }
    return gb_send_filled(port, queue, pkts, n);
}
