/* EAL errors and log capture, port set-up and state, and raw bursts copied
 * into and out of one caller buffer of fixed-stride slots.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include "bridge_internal.h"

int gb_errno(void) { return rte_errno; }

/* Capture DPDK's log lines around one call, so an exception can carry the
   reason DPDK printed (EAL argument errors, driver probe failures). */
static char  *gb_log_buf;
static size_t gb_log_len;
static FILE  *gb_log_fp;

int gb_log_begin(void)
{
    gb_log_fp = open_memstream(&gb_log_buf, &gb_log_len);
    if (gb_log_fp == NULL)
        return -errno;
    return rte_openlog_stream(gb_log_fp);
}

size_t gb_log_end(char *out, size_t cap)
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
int gb_port_setup(uint16_t port, uint16_t rx_queues, uint16_t tx_queues,
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

int gb_port_detach(uint16_t port)
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

int gb_stats_get(uint16_t port, struct gb_stats *out)
{
    struct rte_eth_stats s;
    int ret = rte_eth_stats_get(port, &s);
    if (ret < 0)
        return ret;
    GB_STATS_FROM_RTE(out, s);          /* every field of _cgen.STATS, by name */
    return 0;
}

int gb_link_get(uint16_t port, struct gb_link *out)
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

int gb_mac_get(uint16_t port, uint8_t *out6)
{
    struct rte_ether_addr mac;
    int ret = rte_eth_macaddr_get(port, &mac);
    if (ret < 0)
        return ret;
    memcpy(out6, mac.addr_bytes, sizeof mac.addr_bytes);
    return 0;
}

/* Receive up to max_pkts packets; packet i is copied to buf + i * slot and its
   full length stored in lens[i]. A packet longer than the slot is cut to the
   slot (its length still says how long it was), so callers detect it. */
uint16_t gb_rx_burst(uint16_t port, uint16_t queue, uint8_t *buf,
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

/* Transmit n_pkts packets taken from buf + i * slot, lens[i] bytes each.
   Returns how many the driver accepted (the rest are freed, not retried), or
   -ENOBUFS when the pool is empty, -EMSGSIZE when a packet exceeds an mbuf. */
int gb_tx_burst(uint16_t port, uint16_t queue, struct rte_mempool *pool,
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
