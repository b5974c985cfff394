/* The hash tables (token map, owners spill) and the origins ring.
 *
 * Part of the one translation unit dpdk_bridge/_ouchfast.c includes, in its order.
 */

/* ---------------------------------------------------------------- tables */

/* The token map, owners and origins live here, in C, not in Python dicts: a
   dict operation with a (session, token) tuple key costs more than the rest
   of a message's work. The Python gateway's dicts are the reference; the
   gateway class over this core (CompiledGateway) shows them as dicts. */

static inline uint64_t mix(uint64_t x)          /* splitmix64's finaliser */
{
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27; x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

typedef struct { uint64_t key, token, value; uint32_t session, used; } Slot;
typedef struct { Slot *slots; size_t mask, count; } Table;

/* key: (session, token) for the token map, the order id (session 0) for owners. */
static inline size_t slot_of(uint32_t session, uint64_t key, size_t mask)
{
    return mix(key ^ ((uint64_t)session << 32 | session) * 0x9e3779b97f4a7c15ull) & mask;
}

static Slot *table_find(const Table *t, uint32_t session, uint64_t key)
{
    if (t->slots == NULL)
        return NULL;
    for (size_t i = slot_of(session, key, t->mask);; i = (i + 1) & t->mask) {
        Slot *s = t->slots + i;
        if (!s->used)
            return NULL;
        if (s->key == key && s->session == session)
            return s;
    }
}

static int table_grow(Table *t)
{
    size_t size = t->slots ? (t->mask + 1) * 2 : 1024;
    Slot *old = t->slots, *slots = PyMem_Calloc(size, sizeof(Slot));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    t->slots = slots;
    if (old != NULL) {
        for (size_t j = 0; j <= t->mask; j++) {
            if (!old[j].used)
                continue;
            size_t i = slot_of(old[j].session, old[j].key, size - 1);
            while (slots[i].used)
                i = (i + 1) & (size - 1);
            slots[i] = old[j];
        }
        PyMem_Free(old);
    }
    t->mask = size - 1;
    return 0;
}

/* Set key -> (value, token); entries are never removed, as in the reference. */
static int table_put(Table *t, uint32_t session, uint64_t key, uint64_t value, uint64_t token)
{
    Slot *s;
    if ((t->slots == NULL || (t->count + 1) * 2 > t->mask + 1) && table_grow(t) < 0)
        return -1;
    size_t i = slot_of(session, key, t->mask);
    for (s = t->slots + i; s->used && !(s->key == key && s->session == session);
         s = t->slots + (i = (i + 1) & t->mask))
        ;
    if (!s->used) {
        s->used = 1;
        s->key = key;
        s->session = session;
        t->count++;
    }
    s->value = value;
    s->token = token;
    return 0;
}

/* Remove key, shifting the entries after it back (linear probing needs no
   tombstones): the token map forgets the tokens of orders that are gone. */
static void table_del(Table *t, uint32_t session, uint64_t key)
{
    Slot *s = table_find(t, session, key);
    size_t hole, j, home;
    if (s == NULL)
        return;
    hole = (size_t)(s - t->slots);
    for (j = (hole + 1) & t->mask; t->slots[j].used; j = (j + 1) & t->mask) {
        home = slot_of(t->slots[j].session, t->slots[j].key, t->mask);
        /* the entry at j may fill the hole unless its home lies cyclically in (hole, j] */
        if (hole <= j ? (home <= hole || home > j) : (home <= hole && home > j)) {
            t->slots[hole] = t->slots[j];
            hole = j;
        }
    }
    memset(t->slots + hole, 0, sizeof(Slot));
    t->count--;
}

/* Owners: order id -> (session, token). Ids are handed out one after another,
   so a dense array from the first id keeps the recent ones close together
   (each reply looks one up); an id far outside it goes to a hash table. */
typedef struct { uint64_t token; uint32_t session, used; } Owner;
typedef struct { Owner *dense; uint64_t base; size_t cap; Table spill; } Owners;

static int owner_put(Owners *o, uint64_t id, uint32_t session, uint64_t token)
{
    uint64_t at;
    if (o->dense == NULL)
        o->base = id;
    at = id - o->base;
    if (id < o->base || at >= (uint64_t)o->cap * 2 + 65536)
        return table_put(&o->spill, 0, id, session, token);
    if (at >= o->cap) {
        size_t cap = o->cap ? o->cap : 1024;
        Owner *dense;
        while (cap <= at)
            cap *= 2;
        dense = PyMem_Realloc(o->dense, cap * sizeof(Owner));
        if (dense == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        memset(dense + o->cap, 0, (cap - o->cap) * sizeof(Owner));
        o->dense = dense;
        o->cap = cap;
    }
    o->dense[at].token = token;
    o->dense[at].session = session;
    o->dense[at].used = 1;
    return 0;
}

static int owner_get(const Owners *o, uint64_t id, uint32_t *session, uint64_t *token)
{
    Slot *s;
    if (o->dense != NULL && id >= o->base && id - o->base < o->cap) {
        const Owner *d = o->dense + (id - o->base);
        if (!d->used)
            return 0;
        *session = d->session;
        *token = d->token;
        return 1;
    }
    if (!(s = table_find(&o->spill, 0, id)))
        return 0;
    *session = (uint32_t)s->value;
    *token = s->token;
    return 1;
}

static void owner_del(Owners *o, uint64_t id)
{
    if (o->dense != NULL && id >= o->base && id - o->base < o->cap)
        o->dense[id - o->base].used = 0;
    else
        table_del(&o->spill, 0, id);
}

/* Origins: what each command's replies need, by command seq. The replier
   takes a command's origin as soon as its events are in, so a ring of the
   latest ORIGIN_SLOTS commands holds every one still wanted. */
#define ORIGIN_SLOTS 65536
typedef struct {
    uint64_t seq, token, existing, number;    /* number: the message's session sequence number */
    uint32_t session;
    uint8_t live, replace;        /* replace: (session, replacement, number, existing) */
} Origin;
