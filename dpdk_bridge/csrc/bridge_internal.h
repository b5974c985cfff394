/* Helpers the bridge's C files share and Python never sees (cffi does not
 * read this file): the burst limit, big-endian reads and writes, and handing
 * a filled burst to the driver.
 */
#ifndef GB_BRIDGE_INTERNAL_H
#define GB_BRIDGE_INTERNAL_H

#include <stdint.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include "bridge.h"

#define GB_MAX_BURST 1024

static inline uint16_t gb_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static inline uint32_t gb_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t gb_be64(const uint8_t *p)
{
    return (uint64_t)gb_be32(p) << 32 | gb_be32(p + 4);
}

/* Store the low 16 (32) bits of v big-endian at p. */
static inline void gb_put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void gb_put32(uint8_t *p, uint32_t v)
{
    gb_put16(p, v >> 16);
    gb_put16(p + 2, v);
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

#endif
