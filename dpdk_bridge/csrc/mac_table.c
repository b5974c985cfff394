/* Senders' MACs by IPv4 address, learned from received frames (gb_ouch_split,
 * and ARP and the slow path through gb_mac_learn) and used by gb_udp_tx.
 * Open addressing over a fixed table; an entry that finds no free slot in
 * its probe window takes the first one's place, so a sender evicted by many
 * others is sent to by broadcast until it is heard from again.
 */
#include <stdlib.h>
#include "bridge.h"

#define GB_MAC_SLOTS 4096                     /* a power of two */
#define GB_MAC_PROBE 16

struct gb_mac_table {
    uint32_t ip[GB_MAC_SLOTS];
    uint64_t mac[GB_MAC_SLOTS];               /* 0: a free slot */
};

struct gb_mac_table *gb_mac_table_new(void)
{
    return calloc(1, sizeof(struct gb_mac_table));
}

void gb_mac_table_free(struct gb_mac_table *t) { free(t); }

static inline uint32_t gb_mac_slot(uint32_t ip)
{
    return (uint32_t)(ip * 2654435761u) >> 20 & (GB_MAC_SLOTS - 1);
}

void gb_mac_learn(struct gb_mac_table *t, uint32_t ip, uint64_t mac)
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
uint64_t gb_mac_lookup(const struct gb_mac_table *t, uint32_t ip)
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
uint64_t gb_mac_resolve(const struct gb_mac_table *t, uint32_t ip)
{
    uint64_t mac;
    if (ip >> 28 == 0xE)
        return 0x01005E000000ull | (ip & 0x7FFFFF);
    mac = gb_mac_lookup(t, ip);
    return mac ? mac : 0xFFFFFFFFFFFFull;
}
