"""The C side of the DPDK bridge: cffi declarations and the helper source.

# Ref: DPDK 22.11 API, rte_eal.h, rte_ethdev.h, rte_mbuf.h, rte_mempool.h,
#      rte_dev.h, rte_errno.h (Debian libdpdk-dev).

Only functions with real symbols are declared directly. Everything DPDK
defines `static inline` (the burst calls, mbuf alloc/read, `rte_errno`) goes
through a `gb_*` helper below, and so does everything taking a DPDK struct, so
cffi never needs DPDK's struct layouts. The burst helpers copy a whole burst
into or out of one caller buffer of fixed-stride slots: one Python call per
burst, never one Python object per packet.
"""

import re

from ._cgen import C_DECLARATIONS, C_TABLES

__all__ = ["CDEF", "SOURCE", "MODULE_NAME"]

MODULE_NAME = "_gatebook_dpdk"

CDEF = """
struct rte_mempool;

struct gb_stats {
    uint64_t ipackets, opackets, ibytes, obytes;
    uint64_t imissed, ierrors, oerrors, rx_nombuf;
};

struct gb_link {
    uint32_t speed_mbps;
    int      full_duplex;
    int      up;
    int      autoneg;
};

int  rte_eal_init(int argc, char **argv);
int  rte_eal_cleanup(void);
const char *rte_eal_get_runtime_dir(void);
const char *rte_strerror(int errnum);
int  gb_errno(void);
int  gb_log_begin(void);
size_t gb_log_end(char *out, size_t cap);

struct rte_mempool *rte_pktmbuf_pool_create(const char *name, unsigned int n,
        unsigned int cache_size, uint16_t priv_size, uint16_t data_room_size,
        int socket_id);
void rte_mempool_free(struct rte_mempool *mp);
unsigned int rte_mempool_avail_count(const struct rte_mempool *mp);
unsigned int rte_mempool_in_use_count(const struct rte_mempool *mp);

int  rte_dev_probe(const char *devargs);
int  rte_eth_dev_get_port_by_name(const char *name, uint16_t *port_id);
int  rte_eth_dev_get_name_by_port(uint16_t port_id, char *name);
uint16_t rte_eth_dev_count_avail(void);
int  rte_eth_dev_socket_id(uint16_t port_id);
int  rte_eth_dev_start(uint16_t port_id);
int  rte_eth_dev_stop(uint16_t port_id);
int  rte_eth_promiscuous_enable(uint16_t port_id);
int  rte_eth_stats_reset(uint16_t port_id);

int  gb_port_setup(uint16_t port, uint16_t rx_queues, uint16_t tx_queues,
                   uint16_t rx_desc, uint16_t tx_desc, struct rte_mempool *pool,
                   int *failed_step);
int  gb_port_detach(uint16_t port);
int  gb_stats_get(uint16_t port, struct gb_stats *out);
int  gb_link_get(uint16_t port, struct gb_link *out);
int  gb_mac_get(uint16_t port, uint8_t *out6);
uint16_t gb_rx_burst(uint16_t port, uint16_t queue, uint8_t *buf, uint32_t slot,
                     uint16_t *lens, uint16_t max_pkts);
int  gb_tx_burst(uint16_t port, uint16_t queue, struct rte_mempool *pool,
                 const uint8_t *buf, uint32_t slot, const uint16_t *lens,
                 uint16_t n_pkts);
struct gb_mac_table;
struct gb_mac_table *gb_mac_table_new(void);
void gb_mac_table_free(struct gb_mac_table *t);
void gb_mac_learn(struct gb_mac_table *t, uint32_t ip, uint64_t mac);
uint64_t gb_mac_lookup(const struct gb_mac_table *t, uint32_t ip);
uint64_t gb_mac_resolve(const struct gb_mac_table *t, uint32_t ip);
uint16_t gb_ouch_rx(uint16_t port, uint16_t queue, uint8_t *buf, uint32_t slot,
                    uint16_t *lens, uint16_t max_pkts, uint16_t udp_port,
                    struct gb_rx_desc *out, struct gb_mac_table *macs, uint64_t *kinds);
int  gb_udp_tx(uint16_t port, uint16_t queue, struct rte_mempool *pool,
               const uint8_t *payloads, uint32_t slot, const struct gb_tx_desc *desc,
               uint16_t n, const uint8_t *src_mac6, uint32_t src_ip, uint16_t src_port,
               uint16_t ip_id, const struct gb_mac_table *macs);
uint16_t gb_ouch_split(const uint8_t *buf, uint32_t slot, const uint16_t *lens,
                       uint16_t n, uint16_t udp_port, struct gb_rx_desc *out,
                       struct gb_mac_table *macs, uint64_t *kinds);
int gb_source_ok(uint32_t ip, uint16_t port);
""" + re.sub(r"^(#define \w+) .*$", r"\1 ...", C_DECLARATIONS, flags=re.M)

SOURCE = r"""
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <rte_log.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_dev.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#define GB_MAX_BURST 1024
""" + C_DECLARATIONS + C_TABLES + r"""

struct gb_stats {
    uint64_t ipackets, opackets, ibytes, obytes;
    uint64_t imissed, ierrors, oerrors, rx_nombuf;
};

struct gb_link {
    uint32_t speed_mbps;
    int      full_duplex;
    int      up;
    int      autoneg;
};

static int gb_errno(void) { return rte_errno; }

/* Capture DPDK's log lines around one call, so an exception can carry the
   reason DPDK printed (EAL argument errors, driver probe failures). */
static char  *gb_log_buf;
static size_t gb_log_len;
static FILE  *gb_log_fp;

static int gb_log_begin(void)
{
    gb_log_fp = open_memstream(&gb_log_buf, &gb_log_len);
    if (gb_log_fp == NULL)
        return -errno;
    return rte_openlog_stream(gb_log_fp);
}

static size_t gb_log_end(char *out, size_t cap)
{
    size_t n = 0;
    if (gb_log_fp == NULL)
        return 0;
    rte_openlog_stream(NULL);
    fclose(gb_log_fp);
    gb_log_fp = NULL;
    if (gb_log_buf != NULL) {
        n = gb_log_len < cap ? gb_log_len : cap;
        memcpy(out, gb_log_buf, n);
        free(gb_log_buf);
        gb_log_buf = NULL;
    }
    return n;
}

/* Configure with default settings, set up the queues and enable promiscuous
   mode. On failure returns the negative errno and stores which step failed
   (1 configure, 2 rx queue, 3 tx queue) so Python can name it. */
static int gb_port_setup(uint16_t port, uint16_t rx_queues, uint16_t tx_queues,
                         uint16_t rx_desc, uint16_t tx_desc,
                         struct rte_mempool *pool, int *failed_step)
{
    struct rte_eth_conf conf;
    int socket = rte_eth_dev_socket_id(port);
    int ret;
    memset(&conf, 0, sizeof conf);
    if (socket < 0)
        socket = (int)SOCKET_ID_ANY;
    *failed_step = 1;
    ret = rte_eth_dev_configure(port, rx_queues, tx_queues, &conf);
    if (ret < 0)
        return ret;
    *failed_step = 2;
    for (uint16_t q = 0; q < rx_queues; q++) {
        ret = rte_eth_rx_queue_setup(port, q, rx_desc, socket, NULL, pool);
        if (ret < 0)
            return ret;
    }
    *failed_step = 3;
    for (uint16_t q = 0; q < tx_queues; q++) {
        ret = rte_eth_tx_queue_setup(port, q, tx_desc, socket, NULL);
        if (ret < 0)
            return ret;
    }
    *failed_step = 0;
    rte_eth_promiscuous_enable(port);   /* not every vdev supports it; harmless */
    return 0;
}

static int gb_port_detach(uint16_t port)
{
    struct rte_eth_dev_info info;
    int ret = rte_eth_dev_info_get(port, &info);
    if (ret < 0)
        return ret;
    rte_eth_dev_stop(port);
    ret = rte_eth_dev_close(port);
    if (ret < 0)
        return ret;
    if (info.device != NULL)
        return rte_dev_remove(info.device);
    return 0;
}

static int gb_stats_get(uint16_t port, struct gb_stats *out)
{
    struct rte_eth_stats s;
    int ret = rte_eth_stats_get(port, &s);
    if (ret < 0)
        return ret;
    out->ipackets = s.ipackets;  out->opackets = s.opackets;
    out->ibytes = s.ibytes;      out->obytes = s.obytes;
    out->imissed = s.imissed;    out->ierrors = s.ierrors;
    out->oerrors = s.oerrors;    out->rx_nombuf = s.rx_nombuf;
    return 0;
}

static int gb_link_get(uint16_t port, struct gb_link *out)
{
    struct rte_eth_link link;
    int ret;
    memset(&link, 0, sizeof link);
    ret = rte_eth_link_get_nowait(port, &link);
    if (ret < 0)
        return ret;
    out->speed_mbps = link.link_speed;
    out->full_duplex = link.link_duplex == RTE_ETH_LINK_FULL_DUPLEX;
    out->up = link.link_status == RTE_ETH_LINK_UP;
    out->autoneg = link.link_autoneg == RTE_ETH_LINK_AUTONEG;
    return 0;
}

static int gb_mac_get(uint16_t port, uint8_t *out6)
{
    struct rte_ether_addr mac;
    int ret = rte_eth_macaddr_get(port, &mac);
    if (ret < 0)
        return ret;
    memcpy(out6, mac.addr_bytes, 6);
    return 0;
}

/* Receive up to max_pkts packets; packet i is copied to buf + i * slot and its
   full length stored in lens[i]. A packet longer than the slot is cut to the
   slot (its length still says how long it was), so callers detect it. */
static uint16_t gb_rx_burst(uint16_t port, uint16_t queue, uint8_t *buf,
                            uint32_t slot, uint16_t *lens, uint16_t max_pkts)
{
    struct rte_mbuf *pkts[GB_MAX_BURST];
    uint16_t n;
    if (max_pkts > GB_MAX_BURST)
        max_pkts = GB_MAX_BURST;
    n = rte_eth_rx_burst(port, queue, pkts, max_pkts);
    for (uint16_t i = 0; i < n; i++) {
        struct rte_mbuf *m = pkts[i];
        uint32_t len = rte_pktmbuf_pkt_len(m);
        uint32_t take = len < slot ? len : slot;
        uint8_t *dst = buf + (size_t)i * slot;
        const void *src = rte_pktmbuf_read(m, 0, take, dst);
        if (src != NULL && src != dst)
            memcpy(dst, src, take);
        lens[i] = (uint16_t)(len > 0xFFFF ? 0xFFFF : len);
        rte_pktmbuf_free(m);
    }
    return n;
}

/* Hand filled mbufs to the driver; free what it did not take (no retry).
   Returns how many it took. */
static inline int gb_send_filled(uint16_t port, uint16_t queue, struct rte_mbuf **pkts,
                                 uint16_t n)
{
    uint16_t sent = rte_eth_tx_burst(port, queue, pkts, n);
    if (sent < n)
        rte_pktmbuf_free_bulk(pkts + sent, n - sent);
    return sent;
}

/* Transmit n_pkts packets taken from buf + i * slot, lens[i] bytes each.
   Returns how many the driver accepted (the rest are freed, not retried), or
   -ENOBUFS when the pool is empty, -EMSGSIZE when a packet exceeds an mbuf. */
static int gb_tx_burst(uint16_t port, uint16_t queue, struct rte_mempool *pool,
                       const uint8_t *buf, uint32_t slot, const uint16_t *lens,
                       uint16_t n_pkts)
{
    struct rte_mbuf *pkts[GB_MAX_BURST];
    if (n_pkts > GB_MAX_BURST)
        n_pkts = GB_MAX_BURST;
    if (n_pkts == 0)
        return 0;
    if (rte_pktmbuf_alloc_bulk(pool, pkts, n_pkts) != 0)
        return -ENOBUFS;
    for (uint16_t i = 0; i < n_pkts; i++) {
        uint16_t len = lens[i] < slot ? lens[i] : (uint16_t)slot;
        char *dst = rte_pktmbuf_append(pkts[i], len);
        if (dst == NULL) {              /* longer than the mbuf's data room */
            rte_pktmbuf_free_bulk(pkts, n_pkts);
            return -EMSGSIZE;
        }
        memcpy(dst, buf + (size_t)i * slot, len);
    }
    return gb_send_filled(port, queue, pkts, n_pkts);
}

/* Senders' MACs by IPv4 address, learned from received frames (gb_ouch_split,
   and ARP and the slow path through gb_mac_learn) and used by gb_udp_tx.
   Open addressing over a fixed table; an entry that finds no free slot in
   its probe window takes the first one's place, so a sender evicted by many
   others is sent to by broadcast until it is heard from again. */
#define GB_MAC_SLOTS 4096                     /* a power of two */
#define GB_MAC_PROBE 16
struct gb_mac_table {
    uint32_t ip[GB_MAC_SLOTS];
    uint64_t mac[GB_MAC_SLOTS];               /* 0: a free slot */
};

static struct gb_mac_table *gb_mac_table_new(void)
{
    return calloc(1, sizeof(struct gb_mac_table));
}

static void gb_mac_table_free(struct gb_mac_table *t) { free(t); }

static inline uint32_t gb_mac_slot(uint32_t ip)
{
    return (uint32_t)(ip * 2654435761u) >> 20 & (GB_MAC_SLOTS - 1);
}

static void gb_mac_learn(struct gb_mac_table *t, uint32_t ip, uint64_t mac)
{
    uint32_t at = gb_mac_slot(ip);
    if (t == NULL || mac == 0)
        return;
    for (int k = 0; k < GB_MAC_PROBE; k++) {
        uint32_t i = (at + k) & (GB_MAC_SLOTS - 1);
        if (t->mac[i] == 0 || t->ip[i] == ip) {
            t->ip[i] = ip;
            t->mac[i] = mac;
            return;
        }
    }
    t->ip[at] = ip;
    t->mac[at] = mac;
}

/* The MAC last heard from ip, or 0. */
static uint64_t gb_mac_lookup(const struct gb_mac_table *t, uint32_t ip)
{
    uint32_t at = gb_mac_slot(ip);
    if (t == NULL)
        return 0;
    for (int k = 0; k < GB_MAC_PROBE; k++) {
        uint32_t i = (at + k) & (GB_MAC_SLOTS - 1);
        if (t->mac[i] == 0)
            return 0;
        if (t->ip[i] == ip)
            return t->mac[i];
    }
    return 0;
}

/* Where a frame to ip goes: 01:00:5e and the group's low 23 bits for
   multicast (RFC 1112 section 6.4), the learned MAC, else broadcast. */
static uint64_t gb_mac_resolve(const struct gb_mac_table *t, uint32_t ip)
{
    uint64_t mac;
    if (ip >> 28 == 0xE)
        return 0x01005E000000ull | (ip & 0x7FFFFF);
    mac = gb_mac_lookup(t, ip);
    return mac ? mac : 0xFFFFFFFFFFFFull;
}

static inline uint16_t gb_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t gb_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t gb_be64(const uint8_t *p)
{
    return (uint64_t)gb_be32(p) << 32 | gb_be32(p + 4);
}

/* Check one order-entry payload (session header, then the messages it counts)
   exactly as host/ouch_session.split_datagram does, and fill d. */
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
static int gb_source_ok(uint32_t ip, uint16_t port)
{
    return port != 0 && ip != 0 && ip >> 28 < 0xE;
}

/* One descriptor per frame of a received burst: Ethernet, IPv4 and UDP checked
   as dpdk_bridge/udp.py's DpdkUdp does (ARP handed back to Python, anything
   not UDP to udp_port marked NOT_OURS), then the order-entry framing. IPv4
   fragments are not reassembled: a later fragment is FRAGMENT, the first one
   FRAGMENTED; a frame cut at the slot is OVERSIZE; a datagram from a source no
   reply can reach is BAD_SOURCE. kinds[s] (if not NULL) counts each positive
   status s, so the port can report what it refused by kind. */
static int  gb_udp_tx(uint16_t port, uint16_t queue, struct rte_mempool *pool,
               const uint8_t *payloads, uint32_t slot, const struct gb_tx_desc *desc,
               uint16_t n, const uint8_t *src_mac6, uint32_t src_ip, uint16_t src_port,
               uint16_t ip_id, const struct gb_mac_table *macs);
static void gb_udp_split(const uint8_t *f, uint32_t len, uint32_t wire_len, uint32_t slot,
                         uint32_t at, uint16_t udp_port, struct gb_rx_desc *d,
                         struct gb_mac_table *macs)
{
    uint32_t ihl, total, udp, length, fragment;
    uint16_t kind;
    if (len < 14)
        return;
    kind = gb_be16(f + 12);
    if (kind == 0x0806) {
        d->status = GB_RX_ARP;
        return;
    }
    if (kind != 0x0800 || len < 42)
        return;
    ihl = (uint32_t)(f[14] & 0x0F) * 4;
    if (f[14] >> 4 != 4 || ihl < 20 || f[23] != 17)
        return;
    fragment = gb_be16(f + 20) & 0x3FFF;          /* more-fragments flag, offset */
    if (fragment & 0x1FFF) {
        d->status = GB_RX_FRAGMENT;               /* no UDP header to say whose */
        return;
    }
    udp = 14 + ihl;
    if (udp + 8 > len || gb_be16(f + udp + 2) != udp_port)
        return;
    d->src_ip = gb_be32(f + 26);
    if (!gb_source_ok(d->src_ip, gb_be16(f + udp))) {
        d->status = GB_RX_BAD_SOURCE;
        return;
    }
    d->src_mac = (uint64_t)gb_be16(f + 6) << 32 | gb_be32(f + 8);
    d->peer = (uint64_t)d->src_ip << 16 | gb_be16(f + udp);
    length = gb_be16(f + udp + 4);
    if (wire_len > slot) {
        d->status = GB_RX_OVERSIZE; d->detail1 = wire_len; d->detail2 = slot;
        return;
    }
    if (fragment) {
        d->status = GB_RX_FRAGMENTED; d->detail1 = length;
        return;
    }
    total = gb_be16(f + 16);
    if (total + 14 > len || length < 8 || udp + length > 14 + total) {
        d->status = GB_RX_NOT_OURS;
        return;
    }
    d->offset = at + udp + 8 + GB_OUCH_HEADER_SIZE;
    gb_mac_learn(macs, d->src_ip, d->src_mac);
    gb_ouch_frame(f + udp + 8, length - 8, d);
}

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
static uint16_t gb_ouch_rx(uint16_t port, uint16_t queue, uint8_t *buf, uint32_t slot,
                           uint16_t *lens, uint16_t max_pkts, uint16_t udp_port,
                           struct gb_rx_desc *out, struct gb_mac_table *macs, uint64_t *kinds)
{
    uint16_t n = gb_rx_burst(port, queue, buf, slot, lens, max_pkts);
    return gb_ouch_split(buf, slot, lens, n, udp_port, out, macs, kinds);
}

/* Frame n datagrams as Ethernet/IPv4/UDP (as dpdk_bridge/udp.py's udp_frame:
   DF set, TTL 64, UDP checksum 0, IPv4 header checksum computed; the IP ids
   count up from ip_id) and transmit them. Payload i is desc[i].len bytes at
   payloads + i * slot; a dst_mac of 0 is resolved by gb_mac_resolve from
   macs. Returns how many the driver took (the rest are freed), -ENOBUFS
   when the pool is empty, -EMSGSIZE when a frame does not fit an mbuf. */
static int gb_udp_tx(uint16_t port, uint16_t queue, struct rte_mempool *pool,
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
        uint8_t *f = (uint8_t *)rte_pktmbuf_append(pkts[i], (uint16_t)(42 + len));
        uint32_t sum = 0;
        if (f == NULL) {
            rte_pktmbuf_free_bulk(pkts, n);
            return -EMSGSIZE;
        }
        uint64_t dst = d->dst_mac ? d->dst_mac : gb_mac_resolve(macs, d->dst_ip);
        for (int b = 0; b < 6; b++)
            f[b] = (uint8_t)(dst >> (40 - 8 * b));
        memcpy(f + 6, src_mac6, 6);
        f[12] = 0x08; f[13] = 0x00;
        uint8_t *ip = f + 14;
        uint16_t total = (uint16_t)(28 + len), id = (uint16_t)(ip_id + i);
        ip[0] = 0x45; ip[1] = 0;
        ip[2] = total >> 8; ip[3] = total & 0xFF;
        ip[4] = id >> 8; ip[5] = id & 0xFF;
        ip[6] = 0x40; ip[7] = 0;
        ip[8] = 64; ip[9] = 17; ip[10] = 0; ip[11] = 0;
        ip[12] = src_ip >> 24; ip[13] = src_ip >> 16; ip[14] = src_ip >> 8; ip[15] = src_ip;
        ip[16] = d->dst_ip >> 24; ip[17] = d->dst_ip >> 16; ip[18] = d->dst_ip >> 8;
        ip[19] = d->dst_ip;
        for (int w = 0; w < 20; w += 2)
            sum += (uint32_t)ip[w] << 8 | ip[w + 1];
        while (sum >> 16)
            sum = (sum & 0xFFFF) + (sum >> 16);
        sum = ~sum & 0xFFFF;
        ip[10] = sum >> 8; ip[11] = sum & 0xFF;
        uint8_t *u = f + 34;
        u[0] = src_port >> 8; u[1] = src_port & 0xFF;
        u[2] = d->dst_port >> 8; u[3] = d->dst_port & 0xFF;
        u[4] = (8 + len) >> 8; u[5] = (8 + len) & 0xFF;
        u[6] = 0; u[7] = 0;
        memcpy(f + 42, payloads + (size_t)i * slot, len);
    }
    return gb_send_filled(port, queue, pkts, n);
}
"""
