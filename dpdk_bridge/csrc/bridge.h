/* The DPDK bridge's C interface: every function Python calls through cffi.
 *
 * Ref: DPDK 22.11 API, rte_eal.h, rte_ethdev.h, rte_mbuf.h, rte_mempool.h,
 *      rte_dev.h, rte_errno.h (Debian libdpdk-dev).
 *
 * dpdk_bridge/_csrc.py hands this file to cffi's cdef with its preprocessor
 * lines dropped, so keep it to plain declarations cffi can parse: no macros,
 * no inline bodies, no attributes. The structs and constants it uses come
 * from the generated "gb_bridge_tables.h" (dpdk_bridge/_cgen.py), which cffi
 * gets from the tables directly.
 *
 * Only functions with real symbols are called directly. Everything DPDK
 * defines `static inline` (the burst calls, mbuf alloc/read, `rte_errno`)
 * goes through a `gb_*` helper, and so does everything taking a DPDK struct,
 * so cffi never needs DPDK's struct layouts. The burst helpers copy a whole
 * burst into or out of one caller buffer of fixed-stride slots: one Python
 * call per burst, never one Python object per packet.
 */
#ifndef GB_BRIDGE_H
#define GB_BRIDGE_H

#include <stddef.h>
#include <stdint.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mempool.h>
#include "gb_bridge_tables.h"

struct rte_mempool;
struct gb_mac_table;

/* DPDK's own functions that Python calls directly. Redeclared here (after
   DPDK's headers) so the compiler checks what cffi reads against DPDK. */
int  rte_eal_init(int argc, char **argv);
int  rte_eal_cleanup(void);
const char *rte_eal_get_runtime_dir(void);
const char *rte_strerror(int errnum);
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

/* eal_port.c: EAL errors and log capture, port set-up, state, raw bursts. */
int  gb_errno(void);
int  gb_log_begin(void);
size_t gb_log_end(char *out, size_t cap);
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

/* mac_table.c: senders' MACs by IPv4 address. */
struct gb_mac_table *gb_mac_table_new(void);
void gb_mac_table_free(struct gb_mac_table *t);
void gb_mac_learn(struct gb_mac_table *t, uint32_t ip, uint64_t mac);
uint64_t gb_mac_lookup(const struct gb_mac_table *t, uint32_t ip);
uint64_t gb_mac_resolve(const struct gb_mac_table *t, uint32_t ip);

/* udp_rx.c: received frames to order-entry datagram descriptors. */
int  gb_source_ok(uint32_t ip, uint16_t port);
uint16_t gb_ouch_split(const uint8_t *buf, uint32_t slot, const uint16_t *lens,
                       uint16_t n, uint16_t udp_port, struct gb_rx_desc *out,
                       struct gb_mac_table *macs, uint64_t *kinds);
uint16_t gb_ouch_rx(uint16_t port, uint16_t queue, uint8_t *buf, uint32_t slot,
                    uint16_t *lens, uint16_t max_pkts, uint16_t udp_port,
                    struct gb_rx_desc *out, struct gb_mac_table *macs, uint64_t *kinds);

/* udp_tx.c: replies framed as Ethernet/IPv4/UDP and sent. */
int  gb_udp_tx(uint16_t port, uint16_t queue, struct rte_mempool *pool,
               const uint8_t *payloads, uint32_t slot, const struct gb_tx_desc *desc,
               uint16_t n, const uint8_t *src_mac6, uint32_t src_ip, uint16_t src_port,
               uint16_t ip_id, const struct gb_mac_table *macs);

#endif
