/* The order-entry gateway's and the replier's per-message work, compiled.
 *
 * Ref: host/net/order_entry.py (Gateway.commands, SessionTracker.check) and
 *      host/net/order_replies.py (Replier.add, Replier.flush): the readable
 *      reference this code follows step for step; gatebook/wire/ouch.py and
 *      internal.py through the generated "gb_tables.h" (dpdk_bridge/_fastgen.py).
 *
 * The state the reference keeps in dicts lives here in C: the token map,
 * the owners (a dense array by order id), the origins (a ring by command
 * seq), the session tracker's expected numbers and counters, a mirror of the
 * peers, and each session's pending replies. Every such dict access of the
 * reference becomes a probe of a C table, and unpacking a message, building
 * a command tuple, reading an event tuple and packing a reply each cost one
 * C call instead of dozens of interpreted steps. host/net/order_entry.py's
 * CompiledGateway shows the tables as dicts, so tests compare both paths
 * entry for entry. Rare paths (refusals, gaps, duplicates) call back into
 * the Python methods the reference uses, so they count and log the same words.
 *
 * Also here, for DpdkUdp: the loops over a received burst's descriptors
 * (rx_burst, rx_frames) and over the datagrams of a send burst (tx_fill).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "gb_tables.h"

#define IDX(msg, field) GB_##msg##_##field##_IDX

static PyObject *s_next_seq, *s_resync, *s_refused;
static PyObject *code_new_order, *code_cancel, *code_replace, *zero, *sixty_four;

static inline uint64_t get_be(const uint8_t *p, int width)
{
    uint64_t v = 0;
    for (int i = 0; i < width; i++)
        v = v << 8 | p[i];
    return v;
}

static inline void put_be(uint8_t *p, uint64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

#define GET(p, msg, field) get_be((p) + GB_OUCH_##msg##_##field##_OFF, GB_OUCH_##msg##_##field##_WIDTH)

/* A small non-negative int's value without a call: most fields are one or two
   30-bit digits. 0 when it is not one (then PyLong_AsUnsignedLongLong decides). */
static inline int small_uint(PyObject *value, uint64_t *out)
{
#if PY_VERSION_HEX >= 0x030C0000
    if (PyLong_CheckExact(value) && PyUnstable_Long_IsCompact((PyLongObject *)value)) {
        Py_ssize_t v = PyUnstable_Long_CompactValue((PyLongObject *)value);
        if (v >= 0) {
            *out = (uint64_t)v;
            return 1;
        }
    }
#else
    if (PyLong_CheckExact(value)) {
        const digit *d = ((PyLongObject *)value)->ob_digit;
        switch (Py_SIZE(value)) {
        case 0: *out = 0; return 1;
        case 1: *out = d[0]; return 1;
        case 2: *out = (uint64_t)d[0] | (uint64_t)d[1] << PyLong_SHIFT; return 1;
        }
    }
#endif
    return 0;
}

static inline unsigned long long to_u64(PyObject *value)
{
    uint64_t v;
    return small_uint(value, &v) ? v : PyLong_AsUnsignedLongLong(value);
}

/* An unsigned Python int that must fit `width` bytes, as struct.pack insists. */
static int as_uint(PyObject *value, int width, uint64_t *out)
{
    unsigned long long v = to_u64(value);
    if (v == (unsigned long long)-1 && PyErr_Occurred())
        return -1;
    if (width < 8 && v >> (8 * width)) {
        PyErr_Format(PyExc_OverflowError, "%llu does not fit %d bytes", v, width);
        return -1;
    }
    *out = v;
    return 0;
}

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

/* Origins: what each command's replies need, by command seq. The replier
   takes a command's origin as soon as its events are in, so a ring of the
   latest ORIGIN_SLOTS commands holds every one still wanted. */
#define ORIGIN_SLOTS 65536
typedef struct {
    uint64_t seq, token, existing, number;    /* number: the message's session sequence number */
    uint32_t session;
    uint8_t live, replace;        /* replace: (session, replacement, number, existing) */
} Origin;

static PyTypeObject GatewayCoreType, CommandsType, ReplierCoreType;

typedef struct { uint64_t stock; PyObject *id; } Symbol;

typedef struct {
    PyObject_HEAD
    PyObject *gateway, *sequencer, *sdict;  /* sdict: sequencer.__dict__ */
    PyObject *peers;                        /* gateway.peers */
    Table peer_set;                         /* session -> the peer object last set there */
    Table expected;                         /* session -> next sequence number (128 bits) */
    unsigned __int128 duplicates, gaps;     /* the session tracker's counters */
    Table tokens;
    Owners owners;
    Origin *origins;
    size_t live_origins;
    uint64_t next_order_id, messages;
    Symbol *symbols;
    struct { uint64_t key; PyObject *peer; } peer_cache[256];  /* descriptor peer -> tuple */
    Py_ssize_t n_symbols;
} GatewayCore;

/* A received burst's descriptors as DpdkUdp.recv_ouch hands them over: the
   compiled gateway reads them directly; anything else iterates frame tuples. */
typedef struct {
    PyObject_HEAD
    Py_buffer view;                         /* struct gb_rx_desc[n] */
    Py_ssize_t n, frames;                   /* descriptors; datagrams and refusals */
    PyObject *peer_of, *make_peer;          /* (ip << 16 | port) -> (ip, port) cache */
} RxBurst;

static PyTypeObject RxBurstType;
static PyObject *refusal_names[GB_RX_REFUSALS];

typedef struct {
    PyObject_HEAD
    GatewayCore *core;
    RxBurst *burst;                         /* descriptors, or */
    Py_ssize_t index;                       /* (the next one) */
    PyObject *frames;                       /* an iterator over frame tuples */
    PyObject *clock;
    PyObject *session_obj;                  /* current frame's session (an int) */
    uint32_t session;
    Py_buffer view;
    int has_view;
    Py_ssize_t at;
    uint64_t left;                          /* messages of the current frame still due */
    uint64_t number;                        /* the next one's session sequence number */
} Commands;

static int core_traverse(GatewayCore *self, visitproc visit, void *arg)
{
    Py_VISIT(self->gateway); Py_VISIT(self->sequencer); Py_VISIT(self->sdict);
    Py_VISIT(self->peers);
    return 0;
}

static int core_clear(GatewayCore *self)
{
    Py_CLEAR(self->gateway); Py_CLEAR(self->sequencer); Py_CLEAR(self->sdict);
    Py_CLEAR(self->peers);
    for (size_t i = 0; i < 256; i++)
        Py_CLEAR(self->peer_cache[i].peer);
    for (size_t i = 0; self->peer_set.slots != NULL && i <= self->peer_set.mask; i++)
        if (self->peer_set.slots[i].used && self->peer_set.slots[i].value) {
            PyObject *peer = (PyObject *)(uintptr_t)self->peer_set.slots[i].value;
            self->peer_set.slots[i].value = 0;
            Py_DECREF(peer);
        }
    return 0;
}

static void core_dealloc(GatewayCore *self)
{
    PyObject_GC_UnTrack(self);
    core_clear(self);
    PyMem_Free(self->tokens.slots);
    PyMem_Free(self->peer_set.slots);
    PyMem_Free(self->expected.slots);
    PyMem_Free(self->owners.dense);
    PyMem_Free(self->owners.spill.slots);
    PyMem_Free(self->origins);
    for (Py_ssize_t i = 0; i < self->n_symbols; i++)
        Py_DECREF(self->symbols[i].id);
    PyMem_Free(self->symbols);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *dict_arg(PyObject *owner, const char *name)
{
    PyObject *value = PyObject_GetAttrString(owner, name);
    if (value != NULL && !PyDict_CheckExact(value)) {
        PyErr_Format(PyExc_TypeError, "%s must be a dict", name);
        Py_CLEAR(value);
    }
    return value;
}

/* GatewayCore(gateway, symbol_ids): binds the gateway's sequencer, session
   tracker and peers (they live as long as it) and copies the symbol map. */
static int core_init(GatewayCore *self, PyObject *args, PyObject *kwds)
{
    PyObject *gateway, *symbol_ids, *key, *value;
    Py_ssize_t pos = 0;
    if (!PyArg_ParseTuple(args, "OO!:GatewayCore", &gateway, &PyDict_Type, &symbol_ids))
        return -1;
    if (self->gateway != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "GatewayCore is initialised once");
        return -1;
    }
    Py_INCREF(gateway);
    self->gateway = gateway;
    if (!(self->sequencer = PyObject_GetAttrString(gateway, "sequencer"))
        || !(self->sdict = PyObject_GenericGetDict(self->sequencer, NULL))
        || !(self->peers = dict_arg(gateway, "peers")))
        return -1;
    self->next_order_id = 1;
    if (!(self->origins = PyMem_Calloc(ORIGIN_SLOTS, sizeof(Origin)))
        || !(self->symbols = PyMem_Calloc(PyDict_GET_SIZE(symbol_ids) + 1, sizeof(Symbol)))) {
        PyErr_NoMemory();
        return -1;
    }
    /* Only stock fields of the table's width can match, as in the reference's dict. */
    while (PyDict_Next(symbol_ids, &pos, &key, &value)) {
        if (!PyBytes_Check(key) || PyBytes_GET_SIZE(key) != GB_OUCH_ENTER_ORDER_STOCK_WIDTH)
            continue;
        Symbol *s = self->symbols + self->n_symbols++;
        s->stock = get_be((const uint8_t *)PyBytes_AS_STRING(key), GB_OUCH_ENTER_ORDER_STOCK_WIDTH);
        Py_INCREF(value);
        s->id = value;
    }
    return 0;
}

static void origin_set(GatewayCore *core, uint64_t seq, uint32_t session, uint64_t token,
                       uint64_t number, uint64_t existing, int replace)
{
    Origin *o = core->origins + (seq & (ORIGIN_SLOTS - 1));
    core->live_origins += !o->live;
    o->seq = seq; o->session = session; o->token = token; o->existing = existing;
    o->number = number;
    o->replace = (uint8_t)replace; o->live = 1;
}

static Origin *origin_find(GatewayCore *core, uint64_t seq)
{
    Origin *o = core->origins + (seq & (ORIGIN_SLOTS - 1));
    return o->live && o->seq == seq ? o : NULL;
}

static PyObject *origin_tuple(const Origin *o)
{
    if (o->replace)
        return Py_BuildValue("(kKKK)", (unsigned long)o->session, (unsigned long long)o->token,
                             (unsigned long long)o->number, (unsigned long long)o->existing);
    return Py_BuildValue("(kKK)", (unsigned long)o->session, (unsigned long long)o->token,
                         (unsigned long long)o->number);
}

static int seq_arg(PyObject *value, uint64_t *seq)
{
    unsigned long long v = to_u64(value);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError))
            return -1;
        PyErr_Clear();
        return 0;                   /* a negative or huge seq: no such origin */
    }
    *seq = v;
    return 1;
}

/* core.origin(seq, pop) -> (session, token, number[, existing]) or None */
static PyObject *core_origin(GatewayCore *self, PyObject *const *args, Py_ssize_t nargs)
{
    uint64_t seq;
    Origin *o;
    int ok;
    PyObject *out;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "origin(seq, pop)");
        return NULL;
    }
    if ((ok = seq_arg(args[0], &seq)) < 0)
        return NULL;
    if (!ok || !(o = origin_find(self, seq)))
        Py_RETURN_NONE;
    out = origin_tuple(o);
    if (out != NULL && PyObject_IsTrue(args[1])) {
        o->live = 0;
        self->live_origins--;
    }
    return out;
}

/* core.origins() -> {seq: origin} of every origin held */
static PyObject *core_origins(GatewayCore *self, PyObject *unused)
{
    PyObject *out = PyDict_New();
    for (size_t i = 0; out != NULL && i < ORIGIN_SLOTS; i++) {
        Origin *o = self->origins + i;
        PyObject *seq, *value;
        if (!o->live)
            continue;
        seq = PyLong_FromUnsignedLongLong(o->seq);
        value = origin_tuple(o);
        if (seq == NULL || value == NULL || PyDict_SetItem(out, seq, value) < 0)
            Py_CLEAR(out);
        Py_XDECREF(seq);
        Py_XDECREF(value);
    }
    return out;
}

/* core.token_of(order_id) -> (session, token) or None */
static PyObject *core_token_of(GatewayCore *self, PyObject *order_id)
{
    uint64_t id, token;
    uint32_t session;
    int ok = seq_arg(order_id, &id);
    if (ok < 0)
        return NULL;
    if (!ok || !owner_get(&self->owners, id, &session, &token))
        Py_RETURN_NONE;
    return Py_BuildValue("(kK)", (unsigned long)session, (unsigned long long)token);
}

/* core.order_ids() -> {(session, token): order id}; core.owners() -> {order id: (session, token)} */
static PyObject *table_dict(const Table *t, int owners)
{
    PyObject *out = PyDict_New();
    for (size_t i = 0; out != NULL && t->slots != NULL && i <= t->mask; i++) {
        const Slot *s = t->slots + i;
        PyObject *key, *value;
        if (!s->used)
            continue;
        if (owners) {
            key = PyLong_FromUnsignedLongLong(s->key);
            value = Py_BuildValue("(kK)", (unsigned long)s->value, (unsigned long long)s->token);
        } else {
            key = Py_BuildValue("(kK)", (unsigned long)s->session, (unsigned long long)s->key);
            value = PyLong_FromUnsignedLongLong(s->value);
        }
        if (key == NULL || value == NULL || PyDict_SetItem(out, key, value) < 0)
            Py_CLEAR(out);
        Py_XDECREF(key);
        Py_XDECREF(value);
    }
    return out;
}

static PyObject *core_order_ids(GatewayCore *self, PyObject *unused)
{
    return table_dict(&self->tokens, 0);
}

static PyObject *core_owners(GatewayCore *self, PyObject *unused)
{
    PyObject *out = table_dict(&self->owners.spill, 1);
    for (size_t i = 0; out != NULL && i < self->owners.cap; i++) {
        const Owner *d = self->owners.dense + i;
        PyObject *key, *value;
        if (!d->used)
            continue;
        key = PyLong_FromUnsignedLongLong(self->owners.base + i);
        value = Py_BuildValue("(kK)", (unsigned long)d->session, (unsigned long long)d->token);
        if (key == NULL || value == NULL || PyDict_SetItem(out, key, value) < 0)
            Py_CLEAR(out);
        Py_XDECREF(key);
        Py_XDECREF(value);
    }
    return out;
}

/* Ask for the token map's slot of every message in a burst before the first
   is taken: a new token's slot is a cache miss (the table is as large as the
   orders), and this way the burst's misses overlap instead of queueing. */
static void prefetch_tokens(GatewayCore *core, const RxBurst *burst, const Py_buffer *view)
{
    const struct gb_rx_desc *d = burst->view.buf;
    if (core->tokens.slots == NULL)
        return;
    for (Py_ssize_t i = 0; i < burst->n; i++, d++) {
        Py_ssize_t at = d->offset;
        if (d->status != GB_RX_DATAGRAM)
            continue;
        for (uint16_t k = 0; k < d->count; k++) {
            const uint8_t *p = (const uint8_t *)view->buf + at;
            uint64_t token;
            uint16_t size;
            if (at < 0 || at >= view->len || !(size = gb_ouch_in_size[p[0]])
                || at + size > view->len)
                break;
            if (p[0] == GB_OUCH_ENTER_ORDER_CODE)
                token = GET(p, ENTER_ORDER, ORDER_TOKEN);
            else if (p[0] == GB_OUCH_CANCEL_ORDER_CODE)
                token = GET(p, CANCEL_ORDER, ORDER_TOKEN);
            else
                token = GET(p, REPLACE_ORDER, EXISTING_ORDER_TOKEN);
            __builtin_prefetch(core->tokens.slots + slot_of(d->session, token, core->tokens.mask));
            at += size;
        }
    }
}

/* core.commands(data, frames): the iterator Gateway.commands is in Python. */
static PyObject *core_commands(GatewayCore *self, PyObject *const *args, Py_ssize_t nargs)
{
    Commands *it;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "commands(data, frames)");
        return NULL;
    }
    if (self->gateway == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "a copy of a GatewayCore takes no commands");
        return NULL;
    }
    it = PyObject_GC_New(Commands, &CommandsType);
    if (it == NULL)
        return NULL;
    it->has_view = 0;
    it->session_obj = NULL;
    it->burst = NULL;
    it->index = 0;
    it->frames = NULL;
    it->clock = NULL;
    it->at = 0;
    it->left = 0;
    it->number = 0;
    Py_INCREF(self);
    it->core = self;
    PyObject_GC_Track(it);
    if (PyObject_GetBuffer(args[0], &it->view, PyBUF_SIMPLE) < 0) {
        Py_DECREF(it);
        return NULL;
    }
    it->has_view = 1;
    if (Py_IS_TYPE(args[1], &RxBurstType)) {
        Py_INCREF(args[1]);
        it->burst = (RxBurst *)args[1];
        prefetch_tokens(self, it->burst, &it->view);
    } else if (!(it->frames = PyObject_GetIter(args[1]))) {
        Py_DECREF(it);
        return NULL;
    }
    if (!(it->clock = PyObject_GetAttrString(self->sequencer, "clock"))) {
        Py_DECREF(it);
        return NULL;
    }
    return (PyObject *)it;
}

static int commands_traverse(Commands *self, visitproc visit, void *arg)
{
    Py_VISIT(self->core); Py_VISIT(self->frames); Py_VISIT(self->clock);
    Py_VISIT(self->session_obj); Py_VISIT(self->burst);
    if (self->has_view)
        Py_VISIT(self->view.obj);
    return 0;
}

static void commands_dealloc(Commands *self)
{
    PyObject_GC_UnTrack(self);
    if (self->has_view)
        PyBuffer_Release(&self->view);
    Py_XDECREF(self->core); Py_XDECREF(self->frames); Py_XDECREF(self->clock);
    Py_XDECREF(self->session_obj); Py_XDECREF(self->burst);
    PyObject_GC_Del(self);
}

/* gateway.peers[session] = peer, skipped when it is the very object set there
   last (the common case: a burst's peers come from DpdkUdp's cache). */
static int set_peer(GatewayCore *core, uint32_t session, PyObject *session_obj, PyObject *peer)
{
    Slot *s = table_find(&core->peer_set, 0, session);
    if (s != NULL && s->value == (uint64_t)(uintptr_t)peer)
        return 0;
    if (PyDict_SetItem(core->peers, session_obj, peer) < 0)
        return -1;
    Py_INCREF(peer);
    if (s != NULL) {
        PyObject *old = (PyObject *)(uintptr_t)s->value;
        s->value = (uint64_t)(uintptr_t)peer;
        s->token = 0;                           /* flush_into parses it again */
        Py_XDECREF(old);
        return 0;
    }
    if (table_put(&core->peer_set, 0, session, (uint64_t)(uintptr_t)peer, 0) < 0) {
        Py_DECREF(peer);
        return -1;
    }
    return 0;
}

static PyObject *u128(unsigned __int128 v)
{
    PyObject *high, *shift, *low, *out;
    if (v >> 64 == 0)
        return PyLong_FromUnsignedLongLong((uint64_t)v);
    high = PyLong_FromUnsignedLongLong((uint64_t)(v >> 64));
    shift = high ? PyNumber_Lshift(high, PyTuple_GET_ITEM(sixty_four, 0)) : NULL;
    low = PyLong_FromUnsignedLongLong((uint64_t)v);
    out = shift && low ? PyNumber_Or(shift, low) : NULL;
    Py_XDECREF(high);
    Py_XDECREF(shift);
    Py_XDECREF(low);
    return out;
}

static inline unsigned __int128 slot_u128(const Slot *s)
{
    return (unsigned __int128)s->token << 64 | s->value;
}

/* core.check(session, sequence_number, count) -> (skip, missing or None):
   SessionTracker.check of the reference over the expected numbers held here. */
static PyObject *core_check(GatewayCore *self, PyObject *const *args, Py_ssize_t nargs)
{
    unsigned long long session, sequence, count;
    unsigned __int128 expected, end, skip = 0;
    Slot *s;
    PyObject *missing;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "check(session, sequence_number, count)");
        return NULL;
    }
    session = to_u64(args[0]);
    sequence = to_u64(args[1]);
    count = to_u64(args[2]);
    if (PyErr_Occurred())
        return NULL;
    if (session > UINT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "a session id is 4 bytes");
        return NULL;
    }
    s = table_find(&self->expected, 0, session);
    expected = s ? slot_u128(s) : 1;
    if (expected > sequence)
        skip = expected - sequence < count ? expected - sequence : count;
    if (sequence > expected) {
        PyObject *first = u128(expected), *last = PyLong_FromUnsignedLongLong(sequence - 1);
        missing = first && last ? PyTuple_Pack(2, first, last) : NULL;
        Py_XDECREF(first);
        Py_XDECREF(last);
        if (missing == NULL)
            return NULL;
        self->gaps += sequence - expected;
    } else {
        Py_INCREF(Py_None);
        missing = Py_None;
    }
    self->duplicates += skip;
    end = (unsigned __int128)sequence + count;
    if (end > expected)
        expected = end;
    if (s != NULL) {
        s->value = (uint64_t)expected;
        s->token = (uint64_t)(expected >> 64);
    } else if (table_put(&self->expected, 0, session, (uint64_t)expected,
                         (uint64_t)(expected >> 64)) < 0) {
        Py_DECREF(missing);
        return NULL;
    }
    return Py_BuildValue("(KN)", (unsigned long long)skip, missing);
}

/* core.expected() -> {session: next sequence number} */
static PyObject *core_expected(GatewayCore *self, PyObject *unused)
{
    PyObject *out = PyDict_New();
    for (size_t i = 0; out != NULL && self->expected.slots != NULL && i <= self->expected.mask;
         i++) {
        const Slot *s = self->expected.slots + i;
        PyObject *key, *value;
        if (!s->used)
            continue;
        key = PyLong_FromUnsignedLongLong(s->key);
        value = u128(slot_u128(s));
        if (key == NULL || value == NULL || PyDict_SetItem(out, key, value) < 0)
            Py_CLEAR(out);
        Py_XDECREF(key);
        Py_XDECREF(value);
    }
    return out;
}

static PyObject *core_get_duplicates(GatewayCore *self, void *unused)
{
    return u128(self->duplicates);
}

static PyObject *core_get_gaps(GatewayCore *self, void *unused)
{
    return u128(self->gaps);
}

/* The peer tuple of a descriptor, from the burst's cache (new reference). */
static PyObject *burst_peer(RxBurst *burst, const struct gb_rx_desc *d)
{
    PyObject *key = PyLong_FromUnsignedLongLong(d->peer), *peer;
    if (key == NULL)
        return NULL;
    peer = PyDict_GetItemWithError(burst->peer_of, key);
    if (peer != NULL)
        Py_INCREF(peer);
    else if (!PyErr_Occurred())
        peer = PyObject_CallOneArg(burst->make_peer, key);
    Py_DECREF(key);
    return peer;
}

/* burst_peer through a small cache of the latest peers: the same (ip, port)
   gives the same tuple (DpdkUdp's cache never changes an entry), so the
   gateway's peers get equal values either way. */
static PyObject *cached_peer(GatewayCore *core, RxBurst *burst, const struct gb_rx_desc *d)
{
    size_t at = mix(d->peer) & 255;
    PyObject *peer;
    if (core->peer_cache[at].peer != NULL && core->peer_cache[at].key == d->peer) {
        Py_INCREF(core->peer_cache[at].peer);
        return core->peer_cache[at].peer;
    }
    if (!(peer = burst_peer(burst, d)))
        return NULL;
    Py_INCREF(peer);
    Py_XSETREF(core->peer_cache[at].peer, peer);
    core->peer_cache[at].key = d->peer;
    return peer;
}

/* A refused descriptor's (name, first, second). */
static PyObject *refusal_of(const struct gb_rx_desc *d)
{
    int which = -d->status;
    if (which >= GB_RX_REFUSALS || refusal_names[which] == NULL) {
        PyErr_Format(PyExc_ValueError, "unknown descriptor status %d", d->status);
        return NULL;
    }
    return Py_BuildValue("(Okk)", refusal_names[which], (unsigned long)d->detail1,
                         (unsigned long)d->detail2);
}

/* Take the next frame; 1 when one has messages due, 0 at the end, -1 on error.
   Frames come as tuples from any iterable, or straight from the descriptors
   of an RxBurst, with no tuple per frame. */
static int next_frame(Commands *it)
{
    GatewayCore *core = it->core;
    for (;;) {
        PyObject *session = NULL, *peer = NULL, *error = NULL;
        Slot *expected;
        unsigned long long seq = 0, n = 0, id;
        Py_ssize_t at = 0;
        int in_order = 0;
        if (it->burst != NULL) {
            const struct gb_rx_desc *d;
            do {
                if (it->index >= it->burst->n)
                    return 0;
                d = (const struct gb_rx_desc *)it->burst->view.buf + it->index++;
            } while (d->status > 0);        /* ARP and strays: DpdkUdp's */
            if (!(peer = cached_peer(core, it->burst, d)))
                return -1;
            if (d->status < 0) {
                error = refusal_of(d);
            } else {
                session = PyLong_FromUnsignedLong(d->session);
                seq = d->sequence;
                n = d->count;
                at = d->offset;
            }
            if (error == NULL && session == NULL) {
                Py_DECREF(peer);
                return -1;
            }
        } else {
            PyObject *frame = PyIter_Next(it->frames);
            if (frame == NULL)
                return PyErr_Occurred() ? -1 : 0;
            if (!PyTuple_Check(frame) || PyTuple_GET_SIZE(frame) != 6) {
                Py_DECREF(frame);
                PyErr_SetString(PyExc_TypeError, "a frame is (session, sequence_number, count, "
                                                 "offset, peer, error)");
                return -1;
            }
            peer = PyTuple_GET_ITEM(frame, 4);
            Py_INCREF(peer);
            if (PyTuple_GET_ITEM(frame, 5) != Py_None) {
                error = PyTuple_GET_ITEM(frame, 5);
                Py_INCREF(error);
            } else {
                session = PyTuple_GET_ITEM(frame, 0);
                Py_INCREF(session);
                seq = to_u64(PyTuple_GET_ITEM(frame, 1));
                n = to_u64(PyTuple_GET_ITEM(frame, 2));
                at = PyLong_AsSsize_t(PyTuple_GET_ITEM(frame, 3));
            }
            Py_DECREF(frame);
            if (PyErr_Occurred())
                goto fail;
        }
        if (error != NULL) {
            PyObject *done = PyObject_CallMethodObjArgs(core->gateway, s_refused, peer, error,
                                                        NULL);
            Py_DECREF(peer);
            Py_DECREF(error);
            if (done == NULL)
                return -1;
            Py_DECREF(done);
            continue;
        }
        id = to_u64(session);
        if (id == (unsigned long long)-1 && PyErr_Occurred())
            goto fail;
        if (id > UINT32_MAX) {
            PyErr_SetString(PyExc_OverflowError, "a session id is 4 bytes");
            goto fail;
        }
        if (peer != Py_None && set_peer(core, (uint32_t)id, session, peer) < 0)
            goto fail;
        Py_CLEAR(peer);
        Py_XSETREF(it->session_obj, session);       /* takes the reference */
        session = NULL;
        it->session = (uint32_t)id;
        it->at = at;
        expected = table_find(&core->expected, 0, id);
        in_order = expected == NULL ? seq == 1 : expected->token == 0 && expected->value == seq;
        it->number = seq;
        if (in_order && seq <= UINT64_MAX - n) {
            if (expected != NULL)
                expected->value = seq + n;
            else if (table_put(&core->expected, 0, id, seq + n, 0) < 0)
                goto fail;
        } else {
            /* Gaps and duplicates: the reference's own method, so the same logs. */
            PyObject *got = PyObject_CallMethod(core->gateway, "_resync", "OOKKn", it->view.obj,
                                                it->session_obj, seq, n, at);
            if (got == NULL)
                goto fail;
            if (!PyTuple_Check(got) || PyTuple_GET_SIZE(got) != 2) {
                Py_DECREF(got);
                PyErr_SetString(PyExc_TypeError, "_resync must return (offset, count)");
                goto fail;
            }
            it->at = PyLong_AsSsize_t(PyTuple_GET_ITEM(got, 0));
            it->number = seq + n;           /* past the skipped duplicates: */
            n = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(got, 1));
            it->number -= n;
            Py_DECREF(got);
            if (PyErr_Occurred())
                goto fail;
        }
        core->messages += n;
        it->left = n;
        if (n)
            return 1;
        continue;
    fail:
        Py_XDECREF(session);
        Py_XDECREF(peer);
        return -1;
    }
}

static inline PyObject *u64(uint64_t v) { return PyLong_FromUnsignedLongLong(v); }

static PyObject *commands_next(Commands *it)
{
    GatewayCore *core = it->core;
    const uint8_t *p;
    PyObject *seq_obj, *next, *ts, *out;
    uint64_t seq, number;
    int code;
    uint16_t size;
    if (it->left == 0) {
        int got = next_frame(it);
        if (got <= 0)
            return NULL;
    }
    if (it->at < 0 || it->at >= it->view.len) {
        PyErr_Format(PyExc_ValueError, "message offset %zd outside the %zd-byte buffer",
                     it->at, it->view.len);
        return NULL;
    }
    p = (const uint8_t *)it->view.buf + it->at;
    code = p[0];
    size = gb_ouch_in_size[code];
    if (size == 0 || it->at + size > it->view.len) {
        PyErr_Format(PyExc_ValueError, "no whole message at offset %zd (type %d)", it->at, code);
        return NULL;
    }
    /* seq = stamp.next_seq; stamp.next_seq = seq + 1 (a journal may give a number back) */
    seq_obj = PyDict_GetItemWithError(core->sdict, s_next_seq);
    if (seq_obj == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_AttributeError, "the sequencer has no next_seq");
        return NULL;
    }
    Py_INCREF(seq_obj);
    seq = to_u64(seq_obj);
    if ((seq == (uint64_t)-1 && PyErr_Occurred()) || !(next = u64(seq + 1))) {
        Py_DECREF(seq_obj);
        return NULL;
    }
    if (PyDict_SetItem(core->sdict, s_next_seq, next) < 0) {
        Py_DECREF(next);
        Py_DECREF(seq_obj);
        return NULL;
    }
    Py_DECREF(next);
    it->at += size;
    it->left--;
    number = it->number++;
    if (code == GB_OUCH_ENTER_ORDER_CODE) {
        uint64_t token = GET(p, ENTER_ORDER, ORDER_TOKEN), id, stock;
        PyObject *symbol = zero;
        Slot *s = table_find(&core->tokens, it->session, token);
        if (s != NULL) {
            id = s->value;
        } else {
            /* A reused token reaches the engine with its first order's id: a duplicate. */
            id = core->next_order_id++;
            if (table_put(&core->tokens, it->session, token, id, 0) < 0
                || owner_put(&core->owners, id, it->session, token) < 0)
                goto fail;
        }
        origin_set(core, seq, it->session, token, number, 0, 0);
        stock = GET(p, ENTER_ORDER, STOCK);
        for (Py_ssize_t i = 0; i < core->n_symbols; i++)
            if (core->symbols[i].stock == stock) {
                symbol = core->symbols[i].id;
                break;
            }
        if (!(ts = PyObject_CallNoArgs(it->clock)) || !(out = PyTuple_New(GB_CMD_NEW_ORDER_LEN))) {
            Py_XDECREF(ts);
            goto fail;
        }
        Py_INCREF(code_new_order);
        PyTuple_SET_ITEM(out, 0, code_new_order);
        PyTuple_SET_ITEM(out, IDX(CMD_NEW_ORDER, SEQ), seq_obj);
        PyTuple_SET_ITEM(out, IDX(CMD_NEW_ORDER, TS), ts);
        Py_INCREF(symbol);
        PyTuple_SET_ITEM(out, IDX(CMD_NEW_ORDER, SYMBOL), symbol);
        PyTuple_SET_ITEM(out, IDX(CMD_NEW_ORDER, ORDER_ID), u64(id));
        Py_INCREF(it->session_obj);
        PyTuple_SET_ITEM(out, IDX(CMD_NEW_ORDER, USER), it->session_obj);
        PyTuple_SET_ITEM(out, IDX(CMD_NEW_ORDER, SIDE), u64(GET(p, ENTER_ORDER, SIDE)));
        PyTuple_SET_ITEM(out, IDX(CMD_NEW_ORDER, ORDER_TYPE), u64(GET(p, ENTER_ORDER, ORDER_TYPE)));
        PyTuple_SET_ITEM(out, IDX(CMD_NEW_ORDER, TIF), u64(GET(p, ENTER_ORDER, TIME_IN_FORCE)));
        PyTuple_SET_ITEM(out, IDX(CMD_NEW_ORDER, PRICE), u64(GET(p, ENTER_ORDER, PRICE)));
        PyTuple_SET_ITEM(out, IDX(CMD_NEW_ORDER, STOP_PRICE), u64(GET(p, ENTER_ORDER, STOP_PRICE)));
        PyTuple_SET_ITEM(out, IDX(CMD_NEW_ORDER, QTY), u64(GET(p, ENTER_ORDER, SHARES)));
    } else if (code == GB_OUCH_CANCEL_ORDER_CODE) {
        uint64_t token = GET(p, CANCEL_ORDER, ORDER_TOKEN);
        Slot *s = table_find(&core->tokens, it->session, token);
        origin_set(core, seq, it->session, token, number, 0, 0);
        if (!(ts = PyObject_CallNoArgs(it->clock)) || !(out = PyTuple_New(GB_CMD_CANCEL_LEN))) {
            Py_XDECREF(ts);
            goto fail;
        }
        Py_INCREF(code_cancel);
        PyTuple_SET_ITEM(out, 0, code_cancel);
        PyTuple_SET_ITEM(out, IDX(CMD_CANCEL, SEQ), seq_obj);
        PyTuple_SET_ITEM(out, IDX(CMD_CANCEL, TS), ts);
        PyTuple_SET_ITEM(out, IDX(CMD_CANCEL, ORDER_ID), u64(s ? s->value : 0));
        Py_INCREF(it->session_obj);
        PyTuple_SET_ITEM(out, IDX(CMD_CANCEL, USER), it->session_obj);
    } else if (code == GB_OUCH_REPLACE_ORDER_CODE) {
        uint64_t existing = GET(p, REPLACE_ORDER, EXISTING_ORDER_TOKEN);
        uint64_t replacement = GET(p, REPLACE_ORDER, REPLACEMENT_ORDER_TOKEN);
        Slot *s = table_find(&core->tokens, it->session, existing);
        uint64_t id = s ? s->value : 0;
        if (id && replacement != existing
            && (table_put(&core->tokens, it->session, replacement, id, 0) < 0
                || owner_put(&core->owners, id, it->session, replacement) < 0))
            goto fail;
        origin_set(core, seq, it->session, replacement, number, existing, 1);
        if (!(ts = PyObject_CallNoArgs(it->clock)) || !(out = PyTuple_New(GB_CMD_REPLACE_LEN))) {
            Py_XDECREF(ts);
            goto fail;
        }
        Py_INCREF(code_replace);
        PyTuple_SET_ITEM(out, 0, code_replace);
        PyTuple_SET_ITEM(out, IDX(CMD_REPLACE, SEQ), seq_obj);
        PyTuple_SET_ITEM(out, IDX(CMD_REPLACE, TS), ts);
        PyTuple_SET_ITEM(out, IDX(CMD_REPLACE, ORDER_ID), u64(id));
        Py_INCREF(it->session_obj);
        PyTuple_SET_ITEM(out, IDX(CMD_REPLACE, USER), it->session_obj);
        PyTuple_SET_ITEM(out, IDX(CMD_REPLACE, PRICE), u64(GET(p, REPLACE_ORDER, PRICE)));
        PyTuple_SET_ITEM(out, IDX(CMD_REPLACE, QTY), u64(GET(p, REPLACE_ORDER, SHARES)));
    } else {
        PyErr_Format(PyExc_ValueError, "message type %d is not an order-entry request", code);
        goto fail;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(out); i++)
        if (PyTuple_GET_ITEM(out, i) == NULL) {       /* an int that could not be made */
            Py_DECREF(out);
            return NULL;
        }
    /* Only ints: no cycle can pass through it, so the collector need not visit it
       (CPython untracks such tuples itself, but only when a collection finds them). */
    PyObject_GC_UnTrack(out);
    return out;
fail:
    Py_DECREF(seq_obj);
    return NULL;
}

/* An unsigned int of up to 128 bits as (low, high) 64-bit halves. */
static int as_u128(PyObject *value, uint64_t *low, uint64_t *high)
{
    PyObject *shift, *top;
    int bad;
    if (as_uint(value, 8, low) == 0) {
        *high = 0;
        return 0;
    }
    if (!PyErr_ExceptionMatches(PyExc_OverflowError) || !PyLong_Check(value))
        return -1;                  /* (a negative value fails on its high half below) */
    PyErr_Clear();
    if (!(shift = PyLong_FromLong(64)))
        return -1;
    top = PyNumber_Rshift(value, shift);
    Py_DECREF(shift);
    if (top == NULL)
        return -1;
    bad = as_uint(top, 8, high);
    Py_DECREF(top);
    if (bad < 0)
        return -1;
    *low = (uint64_t)PyLong_AsUnsignedLongLongMask(value);
    return PyErr_Occurred() ? -1 : 0;
}

static int pair_arg(PyObject *pair, uint64_t *session, uint64_t *token)
{
    if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
        PyErr_SetString(PyExc_TypeError, "expected a (session, token) tuple");
        return -1;
    }
    return as_uint(PyTuple_GET_ITEM(pair, 0), 4, session) < 0
           || as_uint(PyTuple_GET_ITEM(pair, 1), 8, token) < 0 ? -1 : 0;
}

/* core.load(order_ids, owners, expected, peers): put a gateway's saved state
   into the tables (Gateway.restore_state): {(session, token): order id},
   {order id: (session, token)}, {session: next sequence number},
   {session: peer} (also set in gateway.peers). Entries are set over what is
   there, as the reference's dict updates do. */
static PyObject *core_load(GatewayCore *self, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *key, *value;
    Py_ssize_t pos;
    uint64_t a, b, c;
    if (nargs != 4 || !PyDict_Check(args[0]) || !PyDict_Check(args[1])
        || !PyDict_Check(args[2]) || !PyDict_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError, "load(order_ids, owners, expected, peers): four dicts");
        return NULL;
    }
    if (self->gateway == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "a copy of a GatewayCore loads nothing");
        return NULL;
    }
    for (pos = 0; PyDict_Next(args[0], &pos, &key, &value);)
        if (pair_arg(key, &a, &b) < 0 || as_uint(value, 8, &c) < 0
            || table_put(&self->tokens, (uint32_t)a, b, c, 0) < 0)
            return NULL;
    for (pos = 0; PyDict_Next(args[1], &pos, &key, &value);)
        if (as_uint(key, 8, &c) < 0 || pair_arg(value, &a, &b) < 0
            || owner_put(&self->owners, c, (uint32_t)a, b) < 0)
            return NULL;
    for (pos = 0; PyDict_Next(args[2], &pos, &key, &value);)
        if (as_uint(key, 4, &a) < 0 || as_u128(value, &b, &c) < 0
            || table_put(&self->expected, 0, a, b, c) < 0)
            return NULL;
    for (pos = 0; PyDict_Next(args[3], &pos, &key, &value);)
        if (as_uint(key, 4, &a) < 0 || (value != Py_None && set_peer(self, (uint32_t)a, key, value) < 0))
            return NULL;
    Py_RETURN_NONE;
}

static int table_copy(Table *dst, const Table *src)
{
    dst->mask = src->mask;
    dst->count = src->count;
    dst->slots = NULL;
    if (src->slots == NULL)
        return 0;
    if (!(dst->slots = PyMem_Malloc((src->mask + 1) * sizeof(Slot)))) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(dst->slots, src->slots, (src->mask + 1) * sizeof(Slot));
    return 0;
}

/* core.copy() -> a frozen copy of the token map, owners and expected numbers:
   a memcpy on the matching thread (a snapshot's pause); its order_ids(),
   owners() and expected() build the dicts later, on any thread. It takes no
   commands. */
static PyObject *core_copy(GatewayCore *self, PyObject *unused)
{
    GatewayCore *copy = (GatewayCore *)GatewayCoreType.tp_alloc(&GatewayCoreType, 0);
    if (copy == NULL)
        return NULL;
    copy->next_order_id = self->next_order_id;
    copy->messages = self->messages;
    copy->owners.base = self->owners.base;
    if (table_copy(&copy->tokens, &self->tokens) < 0
        || table_copy(&copy->expected, &self->expected) < 0
        || table_copy(&copy->owners.spill, &self->owners.spill) < 0)
        goto fail;
    if (self->owners.dense != NULL) {
        if (!(copy->owners.dense = PyMem_Malloc(self->owners.cap * sizeof(Owner)))) {
            PyErr_NoMemory();
            goto fail;
        }
        memcpy(copy->owners.dense, self->owners.dense, self->owners.cap * sizeof(Owner));
        copy->owners.cap = self->owners.cap;
    }
    return (PyObject *)copy;
fail:
    Py_DECREF(copy);
    return NULL;
}

static PyObject *core_get_next_order_id(GatewayCore *self, void *unused)
{
    return u64(self->next_order_id);
}

static int core_set_next_order_id(GatewayCore *self, PyObject *value, void *unused)
{
    uint64_t v;
    if (value == NULL || as_uint(value, 8, &v) < 0) {
        if (value == NULL)
            PyErr_SetString(PyExc_AttributeError, "next_order_id cannot be deleted");
        return -1;
    }
    self->next_order_id = v;
    return 0;
}

static PyObject *core_get_messages(GatewayCore *self, void *unused)
{
    return u64(self->messages);
}

static int core_set_messages(GatewayCore *self, PyObject *value, void *unused)
{
    uint64_t v;
    if (value == NULL || as_uint(value, 8, &v) < 0) {
        if (value == NULL)
            PyErr_SetString(PyExc_AttributeError, "messages cannot be deleted");
        return -1;
    }
    self->messages = v;
    return 0;
}

static PyGetSetDef core_getset[] = {
    {"duplicates", (getter)core_get_duplicates, NULL, "messages dropped as already seen"},
    {"gaps", (getter)core_get_gaps, NULL, "messages never received"},
    {"next_order_id", (getter)core_get_next_order_id, (setter)core_set_next_order_id,
     "the exchange order id the next new token gets"},
    {"messages", (getter)core_get_messages, (setter)core_set_messages,
     "order-entry messages taken (duplicates left out)"},
    {NULL}
};

static PyMethodDef core_methods[] = {
    {"check", (PyCFunction)(void (*)(void))core_check, METH_FASTCALL,
     "check(session, sequence_number, count) -> (skip, missing): SessionTracker.check"},
    {"expected", (PyCFunction)core_expected, METH_NOARGS,
     "expected() -> {session: next sequence number}"},
    {"commands", (PyCFunction)(void (*)(void))core_commands, METH_FASTCALL,
     "commands(data, frames): stamped commands, one at a time (Gateway.commands)."},
    {"token_of", (PyCFunction)core_token_of, METH_O,
     "token_of(order_id) -> (session, token) or None"},
    {"origin", (PyCFunction)(void (*)(void))core_origin, METH_FASTCALL,
     "origin(seq, pop) -> (session, token, number[, existing]) or None"},
    {"origins", (PyCFunction)core_origins, METH_NOARGS, "origins() -> {seq: origin}"},
    {"order_ids", (PyCFunction)core_order_ids, METH_NOARGS,
     "order_ids() -> {(session, token): order id}"},
    {"owners", (PyCFunction)core_owners, METH_NOARGS,
     "owners() -> {order id: (session, token)}"},
    {"copy", (PyCFunction)core_copy, METH_NOARGS,
     "copy() -> a frozen copy of the tables, for order_ids(), owners() and expected()"},
    {"load", (PyCFunction)(void (*)(void))core_load, METH_FASTCALL,
     "load(order_ids, owners, expected, peers): restore saved state (Gateway.restore_state)"},
    {NULL}
};

static PyTypeObject GatewayCoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_gatebook_ouchfast.GatewayCore",
    .tp_basicsize = sizeof(GatewayCore),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "GatewayCore(gateway, symbol_ids): the compiled Gateway.commands, token map, "
              "owners and origins.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)core_init,
    .tp_dealloc = (destructor)core_dealloc,
    .tp_traverse = (traverseproc)core_traverse,
    .tp_clear = (inquiry)core_clear,
    .tp_methods = core_methods,
    .tp_getset = core_getset,
};

static PyTypeObject CommandsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_gatebook_ouchfast.Commands",
    .tp_basicsize = sizeof(Commands),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_dealloc = (destructor)commands_dealloc,
    .tp_traverse = (traverseproc)commands_traverse,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)commands_next,
};

/* ---------------------------------------------------------------- replier */

/* A session's replies packed since the last flush. */
typedef struct { uint8_t *buf; size_t len, cap; uint64_t next_seq; uint32_t session; } Box;

typedef struct {
    PyObject_HEAD
    GatewayCore *gw;                        /* owners and origins */
    PyObject *peers;                        /* the gateway's */
    PyObject *names, *sequences;            /* the replier's */
    Py_ssize_t limit;                       /* payload bytes after the header */
    Table box_of;                           /* session -> index in boxes */
    Box *boxes;
    size_t n_boxes, cap_boxes;
    uint32_t *dirty;                        /* boxes with replies, first-reply order */
    size_t n_dirty;
    /* flush_into's place, between calls: the dirty box it is in, how far, the
       box's next sequence number and where its datagrams go. */
    size_t f_i, f_batches;
    Py_ssize_t f_at;
    uint64_t f_first;
    int f_open, f_has_peer;
    uint32_t f_ip;
    uint16_t f_port;
} ReplierCore;

static int rcore_traverse(ReplierCore *self, visitproc visit, void *arg)
{
    Py_VISIT(self->gw); Py_VISIT(self->peers);
    Py_VISIT(self->names); Py_VISIT(self->sequences);
    return 0;
}

static int rcore_clear(ReplierCore *self)
{
    Py_CLEAR(self->gw); Py_CLEAR(self->peers);
    Py_CLEAR(self->names); Py_CLEAR(self->sequences);
    return 0;
}

static void rcore_dealloc(ReplierCore *self)
{
    PyObject_GC_UnTrack(self);
    rcore_clear(self);
    for (size_t i = 0; i < self->n_boxes; i++)
        PyMem_Free(self->boxes[i].buf);
    PyMem_Free(self->boxes);
    PyMem_Free(self->dirty);
    PyMem_Free(self->box_of.slots);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* ReplierCore(replier, gateway_core): binds the replier's dicts and its gateway's core. */
static int rcore_init(ReplierCore *self, PyObject *args, PyObject *kwds)
{
    PyObject *replier, *core, *limit = NULL;
    if (!PyArg_ParseTuple(args, "OO!:ReplierCore", &replier, &GatewayCoreType, &core))
        return -1;
    if (self->gw != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "ReplierCore is initialised once");
        return -1;
    }
    if (((GatewayCore *)core)->gateway == NULL) {
        PyErr_SetString(PyExc_TypeError, "a ReplierCore needs a live GatewayCore, not a copy");
        return -1;
    }
    Py_INCREF(core);
    self->gw = (GatewayCore *)core;
    Py_INCREF(self->gw->peers);
    self->peers = self->gw->peers;
    if (!(self->names = dict_arg(replier, "names"))
        || !(self->sequences = dict_arg(replier, "sequences"))
        || !(limit = PyObject_GetAttrString(replier, "max_payload")))
        return -1;
    self->limit = PyLong_AsSsize_t(limit) - GB_OUCH_HEADER_SIZE;
    Py_DECREF(limit);
    if (PyErr_Occurred())
        return -1;
    return 0;
}

/* Append one packed reply to its session's pending bytes. */
static int put(ReplierCore *self, uint32_t session, const uint8_t *part, Py_ssize_t size)
{
    Slot *s = table_find(&self->box_of, 0, session);
    Box *box;
    if (s == NULL) {
        if (self->n_boxes == self->cap_boxes) {
            size_t cap = self->cap_boxes ? self->cap_boxes * 2 : 64;
            Box *boxes = PyMem_Realloc(self->boxes, cap * sizeof(Box));
            uint32_t *dirty = boxes ? PyMem_Realloc(self->dirty, cap * sizeof(uint32_t)) : NULL;
            if (boxes != NULL)
                self->boxes = boxes;
            if (dirty == NULL) {
                PyErr_NoMemory();
                return -1;
            }
            self->dirty = dirty;
            self->cap_boxes = cap;
        }
        if (table_put(&self->box_of, 0, session, self->n_boxes, 0) < 0)
            return -1;
        box = self->boxes + self->n_boxes;
        box->buf = NULL;
        box->len = box->cap = 0;
        box->session = session;
        box->next_seq = 1;
        {
            PyObject *key = PyLong_FromUnsignedLong(session), *known;
            int bad = key == NULL;
            known = bad ? NULL : PyDict_GetItemWithError(self->sequences, key);
            bad = bad || (known == NULL && PyErr_Occurred())
                  || (known != NULL && as_uint(known, 8, &box->next_seq) < 0);
            Py_XDECREF(key);
            if (bad)
                return -1;
        }
        self->n_boxes++;
    } else {
        box = self->boxes + s->value;
    }
    if (box->len == 0)
        self->dirty[self->n_dirty++] = (uint32_t)(box - self->boxes);
    if (box->len + size > box->cap) {
        size_t cap = box->cap ? box->cap * 2 : 256;
        uint8_t *buf;
        while (cap < box->len + size)
            cap *= 2;
        if (!(buf = PyMem_Realloc(box->buf, cap))) {
            PyErr_NoMemory();
            return -1;
        }
        box->buf = buf;
        box->cap = cap;
    }
    memcpy(box->buf + box->len, part, size);
    box->len += size;
    return 0;
}

/* The owner (session, token) of an order id: 1 found, 0 none, -1 error. */
static int owner_of(ReplierCore *self, PyObject *order_id, uint32_t *session, uint64_t *token)
{
    uint64_t id;
    int ok = seq_arg(order_id, &id);
    if (ok <= 0)
        return ok;
    return owner_get(&self->gw->owners, id, session, token);
}

#define PUT(buf, msg, field, value) \
    put_be((buf) + GB_OUCH_OUT_##msg##_##field##_OFF, (value), GB_OUCH_OUT_##msg##_##field##_WIDTH)
#define PUTV(buf, msg, field, obj) do {                                                  \
        uint64_t v_;                                                                     \
        if (as_uint((obj), GB_OUCH_OUT_##msg##_##field##_WIDTH, &v_) < 0) goto fail;     \
        PUT(buf, msg, field, v_);                                                        \
    } while (0)
#define ITEM(event, msg, field) PyTuple_GET_ITEM(event, IDX(EV_##msg, field))

static int needs(PyObject *event, Py_ssize_t len)
{
    if (PyTuple_GET_SIZE(event) < len) {
        PyErr_Format(PyExc_ValueError, "an event of %zd items, expected %zd",
                     PyTuple_GET_SIZE(event), len);
        return -1;
    }
    return 0;
}

/* replier.add(events): Replier.add of the reference, reply for reply. */
static PyObject *rcore_add(ReplierCore *self, PyObject *events)
{
    PyObject *seq_events = NULL, *first;
    Origin origin = {0};
    int has_origin = 0, found;
    uint8_t part[256];
    uint32_t session;
    uint64_t token, seq;
    Py_ssize_t n;
    if (!(seq_events = PySequence_Fast(events, "events must be a sequence")))
        return NULL;
    n = PySequence_Fast_GET_SIZE(seq_events);
    if (n == 0) {
        Py_DECREF(seq_events);
        Py_RETURN_NONE;
    }
    first = PySequence_Fast_GET_ITEM(seq_events, 0);
    if (!PyTuple_Check(first) || PyTuple_GET_SIZE(first) < 2) {
        PyErr_SetString(PyExc_TypeError, "an event is a tuple (code, seq, ...)");
        goto fail;
    }
    /* origin = gateway.origins.pop(events[0][1], None) */
    found = seq_arg(PyTuple_GET_ITEM(first, 1), &seq);
    if (found < 0)
        goto fail;
    if (found) {
        Origin *o = origin_find(self->gw, seq);
        if (o != NULL) {
            origin = *o;
            o->live = 0;
            self->gw->live_origins--;
            has_origin = 1;
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *event = PySequence_Fast_GET_ITEM(seq_events, i);
        long code;
        if (!PyTuple_Check(event) || PyTuple_GET_SIZE(event) < 1) {
            PyErr_SetString(PyExc_TypeError, "an event is a tuple (code, seq, ...)");
            goto fail;
        }
        code = (long)to_u64(PyTuple_GET_ITEM(event, 0));
        if (code == -1 && PyErr_Occurred())
            goto fail;
        if (code == GB_EV_LEVEL_CODE || code == GB_EV_TRADE_CODE)
            continue;
        if (code == GB_EV_ACCEPTED_CODE) {
            PyObject *name;
            Py_ssize_t len;
            if (needs(event, GB_EV_ACCEPTED_LEN) < 0)
                goto fail;
            if ((found = owner_of(self, ITEM(event, ACCEPTED, ORDER_ID), &session, &token)) <= 0) {
                if (found < 0)
                    goto fail;
                continue;
            }
            memset(part, 0, GB_OUCH_OUT_ACCEPTED_SIZE);
            part[0] = GB_OUCH_OUT_ACCEPTED_CODE;
            PUTV(part, ACCEPTED, TIMESTAMP, ITEM(event, ACCEPTED, TS));
            PUT(part, ACCEPTED, ORDER_TOKEN, token);
            name = PyDict_GetItemWithError(self->names, ITEM(event, ACCEPTED, SYMBOL));
            if (name == NULL) {
                if (PyErr_Occurred())
                    goto fail;
                memset(part + GB_OUCH_OUT_ACCEPTED_STOCK_OFF, ' ', GB_OUCH_OUT_ACCEPTED_STOCK_WIDTH);
            } else {
                if (!PyBytes_Check(name)) {
                    PyErr_SetString(PyExc_TypeError, "names holds bytes");
                    goto fail;
                }
                len = PyBytes_GET_SIZE(name);       /* as struct's "8s": cut or NUL-padded */
                memcpy(part + GB_OUCH_OUT_ACCEPTED_STOCK_OFF, PyBytes_AS_STRING(name),
                       len < GB_OUCH_OUT_ACCEPTED_STOCK_WIDTH ? len
                                                             : GB_OUCH_OUT_ACCEPTED_STOCK_WIDTH);
            }
            PUTV(part, ACCEPTED, SIDE, ITEM(event, ACCEPTED, SIDE));
            PUTV(part, ACCEPTED, ORDER_TYPE, ITEM(event, ACCEPTED, ORDER_TYPE));
            PUTV(part, ACCEPTED, TIME_IN_FORCE, ITEM(event, ACCEPTED, TIF));
            PUTV(part, ACCEPTED, SHARES, ITEM(event, ACCEPTED, QTY));
            PUTV(part, ACCEPTED, PRICE, ITEM(event, ACCEPTED, PRICE));
            PUTV(part, ACCEPTED, STOP_PRICE, ITEM(event, ACCEPTED, STOP_PRICE));
            PUTV(part, ACCEPTED, ORDER_REF, ITEM(event, ACCEPTED, ORDER_ID));
            if (put(self, session, part, GB_OUCH_OUT_ACCEPTED_SIZE) < 0)
                goto fail;
        } else if (code == GB_EV_EXECUTED_CODE) {
            static const struct { int id, leaves; char flag; } sides[2] = {
                {IDX(EV_EXECUTED, AGGRESSOR_ID), IDX(EV_EXECUTED, AGGRESSOR_LEAVES),
                 GB_OUCH_REMOVED_LIQUIDITY},
                {IDX(EV_EXECUTED, RESTING_ID), IDX(EV_EXECUTED, RESTING_LEAVES),
                 GB_OUCH_ADDED_LIQUIDITY},
            };
            if (needs(event, GB_EV_EXECUTED_LEN) < 0)
                goto fail;
            for (int k = 0; k < 2; k++) {
                found = owner_of(self, PyTuple_GET_ITEM(event, sides[k].id), &session, &token);
                if (found <= 0) {
                    if (found < 0)
                        goto fail;
                    continue;
                }
                memset(part, 0, GB_OUCH_OUT_EXECUTED_SIZE);
                part[0] = GB_OUCH_OUT_EXECUTED_CODE;
                PUTV(part, EXECUTED, TIMESTAMP, ITEM(event, EXECUTED, TS));
                PUT(part, EXECUTED, ORDER_TOKEN, token);
                PUTV(part, EXECUTED, EXECUTED_SHARES, ITEM(event, EXECUTED, QTY));
                PUTV(part, EXECUTED, EXECUTION_PRICE, ITEM(event, EXECUTED, PRICE));
                PUT(part, EXECUTED, LIQUIDITY_FLAG, (uint8_t)sides[k].flag);
                PUTV(part, EXECUTED, MATCH_NUMBER, ITEM(event, EXECUTED, MATCH_ID));
                PUTV(part, EXECUTED, LEAVES_SHARES, PyTuple_GET_ITEM(event, sides[k].leaves));
                if (put(self, session, part, GB_OUCH_OUT_EXECUTED_SIZE) < 0)
                    goto fail;
            }
        } else if (code == GB_EV_CANCELLED_CODE) {
            if (needs(event, GB_EV_CANCELLED_LEN) < 0)
                goto fail;
            found = owner_of(self, ITEM(event, CANCELLED, ORDER_ID), &session, &token);
            if (found <= 0) {
                if (found < 0)
                    goto fail;
                continue;
            }
            memset(part, 0, GB_OUCH_OUT_CANCELED_SIZE);
            part[0] = GB_OUCH_OUT_CANCELED_CODE;
            PUTV(part, CANCELED, TIMESTAMP, ITEM(event, CANCELLED, TS));
            PUT(part, CANCELED, ORDER_TOKEN, token);
            PUTV(part, CANCELED, DECREMENT_SHARES, ITEM(event, CANCELLED, QTY));
            PUTV(part, CANCELED, REASON, ITEM(event, CANCELLED, REASON));
            if (put(self, session, part, GB_OUCH_OUT_CANCELED_SIZE) < 0)
                goto fail;
        } else if (code == GB_EV_REPLACED_CODE) {
            if (needs(event, GB_EV_REPLACED_LEN) < 0)
                goto fail;
            found = owner_of(self, ITEM(event, REPLACED, ORDER_ID), &session, &token);
            if (found <= 0) {
                if (found < 0)
                    goto fail;
                continue;
            }
            memset(part, 0, GB_OUCH_OUT_REPLACED_SIZE);
            part[0] = GB_OUCH_OUT_REPLACED_CODE;
            PUTV(part, REPLACED, TIMESTAMP, ITEM(event, REPLACED, TS));
            PUT(part, REPLACED, REPLACEMENT_ORDER_TOKEN, token);
            /* origin[-1] if origin else owner[1] */
            PUT(part, REPLACED, PREVIOUS_ORDER_TOKEN,
                !has_origin ? token : origin.replace ? origin.existing : origin.token);
            PUTV(part, REPLACED, SHARES, ITEM(event, REPLACED, QTY));
            PUTV(part, REPLACED, PRICE, ITEM(event, REPLACED, PRICE));
            PUTV(part, REPLACED, ORDER_REF, ITEM(event, REPLACED, ORDER_ID));
            PUTV(part, REPLACED, KEPT_PRIORITY, ITEM(event, REPLACED, KEPT_PRIORITY));
            if (put(self, session, part, GB_OUCH_OUT_REPLACED_SIZE) < 0)
                goto fail;
        } else if (code == GB_EV_REJECTED_CODE) {
            if (needs(event, GB_EV_REJECTED_LEN) < 0)
                goto fail;
            if (!has_origin)
                continue;
            memset(part, 0, GB_OUCH_OUT_REJECTED_SIZE);
            part[0] = GB_OUCH_OUT_REJECTED_CODE;
            PUTV(part, REJECTED, TIMESTAMP, ITEM(event, REJECTED, TS));
            PUT(part, REJECTED, ORDER_TOKEN, origin.token);
            PUTV(part, REJECTED, REASON, ITEM(event, REJECTED, REASON));
            if (put(self, origin.session, part, GB_OUCH_OUT_REJECTED_SIZE) < 0)
                goto fail;
        }
    }
    Py_DECREF(seq_events);
    Py_RETURN_NONE;
fail:
    Py_DECREF(seq_events);
    return NULL;
}

static PyObject *datagram(PyObject *session, uint64_t first, const uint8_t *body, Py_ssize_t size,
                          uint16_t count, PyObject *peer)
{
    PyObject *payload = PyBytes_FromStringAndSize(NULL, GB_OUCH_HEADER_SIZE + size), *out;
    uint8_t *p;
    uint64_t id;
    if (payload == NULL)
        return NULL;
    p = (uint8_t *)PyBytes_AS_STRING(payload);
    if (as_uint(session, GB_OUCH_HEADER_SESSION_WIDTH, &id) < 0) {
        Py_DECREF(payload);
        return NULL;
    }
    put_be(p + GB_OUCH_HEADER_SESSION_OFF, id, GB_OUCH_HEADER_SESSION_WIDTH);
    put_be(p + GB_OUCH_HEADER_SEQUENCE_NUMBER_OFF, first, GB_OUCH_HEADER_SEQUENCE_NUMBER_WIDTH);
    put_be(p + GB_OUCH_HEADER_MESSAGE_COUNT_OFF, count, GB_OUCH_HEADER_MESSAGE_COUNT_WIDTH);
    memcpy(p + GB_OUCH_HEADER_SIZE, body, size);
    out = PyTuple_New(2);
    if (out == NULL) {
        Py_DECREF(payload);
        return NULL;
    }
    PyTuple_SET_ITEM(out, 0, payload);
    Py_INCREF(peer);
    PyTuple_SET_ITEM(out, 1, peer);
    return out;
}

/* replier.flush(): Replier.flush of the reference, datagram for datagram. */
/* gateway.peers.get(session), borrowed, from the gateway's mirror of it in C
   (set_peer writes both). */
static PyObject *session_peer(ReplierCore *self, uint32_t session)
{
    Slot *known = table_find(&self->gw->peer_set, 0, session);
    return known == NULL ? NULL : (PyObject *)(uintptr_t)known->value;
}

static PyObject *rcore_flush(ReplierCore *self, PyObject *unused)
{
    PyObject *out;
    size_t i;
    if (self->f_open || self->f_i) {
        PyErr_SetString(PyExc_RuntimeError, "flush() while a flush_into() is under way");
        return NULL;
    }
    if (!(out = PyList_New(0)))
        return NULL;
    for (i = 0; i < self->n_dirty; i++) {
        Box *box = self->boxes + self->dirty[i];
        PyObject *session = PyLong_FromUnsignedLong(box->session), *peer, *next;
        const uint8_t *data = box->buf;
        Py_ssize_t size = (Py_ssize_t)box->len, at, start = 0, bytes = 0;
        uint16_t width = 0, count = 0;
        uint64_t first = 1;
        if (session == NULL)
            goto fail;
        first = box->next_seq;
        peer = session_peer(self, box->session);
        /* Greedy batches under the limit, exactly as the reference splits its parts. */
        for (at = 0; at <= size; at += width) {
            if (at < size) {
                width = gb_ouch_out_size[data[at]];
                if (width == 0 || at + width > size) {
                    PyErr_SetString(PyExc_ValueError, "pending replies are not whole messages");
                    goto fail_session;
                }
            }
            if (at == size || bytes + width > self->limit) {
                if (peer != NULL) {
                    PyObject *one = datagram(session, first, data + start, bytes, count, peer);
                    if (one == NULL || PyList_Append(out, one) < 0) {
                        Py_XDECREF(one);
                        goto fail_session;
                    }
                    Py_DECREF(one);
                }
                first += count;
                start = at;
                bytes = 0;
                count = 0;
                if (at == size)
                    break;
            }
            bytes += width;
            count++;
        }
        next = PyLong_FromUnsignedLongLong(first);
        if (next == NULL || PyDict_SetItem(self->sequences, session, next) < 0) {
            Py_XDECREF(next);
            goto fail_session;
        }
        Py_DECREF(next);
        Py_DECREF(session);
        box->next_seq = first;
        box->len = 0;
        continue;
    fail_session:
        Py_DECREF(session);
        goto fail;
    }
    self->n_dirty = 0;
    return out;
fail:
    /* what was flushed is gone; the rest stays for the next flush */
    memmove(self->dirty, self->dirty + i, (self->n_dirty - i) * sizeof(uint32_t));
    self->n_dirty -= i;
    Py_DECREF(out);
    return NULL;
}

/* An (ip text, port) peer as integers, the ip through the `ip_of` cache. */
static int peer_address(PyObject *peer, PyObject *ip_of, uint32_t *ip, uint16_t *port)
{
    PyObject *text, *known;
    long number;
    if (!PyTuple_Check(peer) || PyTuple_GET_SIZE(peer) != 2) {
        PyErr_SetString(PyExc_TypeError, "a peer is (ip, port)");
        return -1;
    }
    text = PyTuple_GET_ITEM(peer, 0);
    number = PyLong_AsLong(PyTuple_GET_ITEM(peer, 1));
    if (number == -1 && PyErr_Occurred())
        return -1;
    if (number < 0 || number > 0xFFFF) {
        PyErr_SetString(PyExc_OverflowError, "port must be 0-65535.");
        return -1;
    }
    known = PyDict_GetItemWithError(ip_of, text);
    if (known == NULL) {
        struct in_addr in;
        const char *chars;
        if (PyErr_Occurred())
            return -1;
        if (!PyUnicode_Check(text)) {
            PyErr_SetString(PyExc_TypeError, "an ip address is a str");
            return -1;
        }
        if (!(chars = PyUnicode_AsUTF8(text)))
            return -1;
        if (inet_aton(chars, &in) == 0) {      /* socket.inet_aton's rule and words */
            PyErr_SetString(PyExc_OSError, "illegal IP address string passed to inet_aton");
            return -1;
        }
        known = PyLong_FromUnsignedLong(ntohl(in.s_addr));
        if (known == NULL || PyDict_SetItem(ip_of, text, known) < 0) {
            Py_XDECREF(known);
            return -1;
        }
        Py_DECREF(known);
    }
    *ip = (uint32_t)to_u64(known);
    *port = (uint16_t)number;
    return PyErr_Occurred() ? -1 : 0;
}

/* replier.flush_into(slots, slot, descriptors, capacity, ip_of, limit) -> filled

   flush() straight into a DPDK send burst: each reply datagram is written into
   the next slot (header and messages) with its `struct gb_tx_desc` (dst_mac 0:
   gb_udp_tx resolves it), the same datagrams flush() would make, in the same
   order. At most `capacity` per call; the next call goes on where this one
   stopped, and fewer than `capacity` means all is out. `limit`: the largest
   payload a slot takes. */
static PyObject *rcore_flush_into(ReplierCore *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer slots, descs;
    PyObject *ip_of;
    Py_ssize_t slot, capacity, limit, filled = 0;
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError,
                        "flush_into(slots, slot, descriptors, capacity, ip_of, limit)");
        return NULL;
    }
    slot = PyLong_AsSsize_t(args[1]);
    capacity = PyLong_AsSsize_t(args[3]);
    ip_of = args[4];
    limit = PyLong_AsSsize_t(args[5]);
    if (PyErr_Occurred())
        return NULL;
    if (!PyDict_CheckExact(ip_of)) {
        PyErr_SetString(PyExc_TypeError, "ip_of must be a dict");
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &slots, PyBUF_WRITABLE) < 0)
        return NULL;
    if (PyObject_GetBuffer(args[2], &descs, PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&slots);
        return NULL;
    }
    if (capacity < 0 || slot < 0 || capacity * slot > slots.len
        || (size_t)capacity * sizeof(struct gb_tx_desc) > (size_t)descs.len) {
        PyErr_SetString(PyExc_ValueError, "the burst buffers are smaller than the capacity");
        goto fail;
    }
    while (filled < capacity && self->f_i < self->n_dirty) {
        Box *box = self->boxes + self->dirty[self->f_i];
        const uint8_t *data = box->buf;
        Py_ssize_t size = (Py_ssize_t)box->len, at, bytes = 0;
        uint16_t count = 0, width;
        if (!self->f_open) {
            Slot *known = table_find(&self->gw->peer_set, 0, box->session);
            self->f_has_peer = known != NULL;
            if (known != NULL) {
                /* the peer's address, parsed once per peer object (bit 63: parsed) */
                if (!(known->token >> 63)) {
                    uint32_t ip;
                    uint16_t port;
                    if (peer_address((PyObject *)(uintptr_t)known->value, ip_of, &ip, &port) < 0)
                        goto fail;
                    known->token = 1ull << 63 | (uint64_t)ip << 16 | port;
                }
                self->f_ip = (uint32_t)(known->token >> 16);
                self->f_port = (uint16_t)known->token;
            }
            self->f_first = box->next_seq;
            self->f_at = 0;
            self->f_batches = 0;
            self->f_open = 1;
        }
        /* One batch, as the reference's greedy split makes them. */
        for (at = self->f_at; at < size; at += width) {
            width = gb_ouch_out_size[data[at]];
            if (width == 0 || at + width > size) {
                PyErr_SetString(PyExc_ValueError, "pending replies are not whole messages");
                goto fail;
            }
            if (bytes + width > self->limit && (count > 0 || self->f_batches == 0))
                break;
            bytes += width;
            count++;
        }
        if (self->f_has_peer) {
            uint8_t *p = (uint8_t *)slots.buf + filled * slot;
            struct gb_tx_desc *d = (struct gb_tx_desc *)descs.buf + filled;
            if (GB_OUCH_HEADER_SIZE + bytes > limit) {
                PyErr_Format(PyExc_ValueError, "a %zd-byte payload does not fit a %zd-byte "
                             "slot with its headers", GB_OUCH_HEADER_SIZE + bytes, slot);
                goto fail;
            }
            put_be(p + GB_OUCH_HEADER_SESSION_OFF, box->session, GB_OUCH_HEADER_SESSION_WIDTH);
            put_be(p + GB_OUCH_HEADER_SEQUENCE_NUMBER_OFF, self->f_first,
                   GB_OUCH_HEADER_SEQUENCE_NUMBER_WIDTH);
            put_be(p + GB_OUCH_HEADER_MESSAGE_COUNT_OFF, count, GB_OUCH_HEADER_MESSAGE_COUNT_WIDTH);
            memcpy(p + GB_OUCH_HEADER_SIZE, data + self->f_at, bytes);
            d->dst_mac = 0;
            d->dst_ip = self->f_ip;
            d->dst_port = self->f_port;
            d->len = (uint16_t)(GB_OUCH_HEADER_SIZE + bytes);
            filled++;
        }
        self->f_first += count;
        self->f_batches++;
        self->f_at = at;
        if (at == size) {                       /* the session's last datagram */
            PyObject *session = PyLong_FromUnsignedLong(box->session);
            PyObject *next = PyLong_FromUnsignedLongLong(self->f_first);
            int failed = session == NULL || next == NULL
                         || PyDict_SetItem(self->sequences, session, next) < 0;
            Py_XDECREF(session);
            Py_XDECREF(next);
            if (failed)
                goto fail;
            box->next_seq = self->f_first;
            box->len = 0;
            self->f_open = 0;
            self->f_i++;
        }
    }
    if (self->f_i == self->n_dirty) {
        self->f_i = 0;
        self->n_dirty = 0;
    }
    PyBuffer_Release(&slots);
    PyBuffer_Release(&descs);
    return PyLong_FromSsize_t(filled);
fail:
    PyBuffer_Release(&slots);
    PyBuffer_Release(&descs);
    return NULL;
}

static PyMethodDef rcore_methods[] = {
    {"add", (PyCFunction)rcore_add, METH_O, "add(events): Replier.add."},
    {"flush", (PyCFunction)rcore_flush, METH_NOARGS, "flush(): Replier.flush."},
    {"flush_into", (PyCFunction)(void (*)(void))rcore_flush_into, METH_FASTCALL,
     "flush_into(slots, slot, descriptors, capacity, ip_of, limit) -> filled"},
    {NULL}
};

static PyTypeObject ReplierCoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_gatebook_ouchfast.ReplierCore",
    .tp_basicsize = sizeof(ReplierCore),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "ReplierCore(replier): the compiled Replier.add and flush over its dicts.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)rcore_init,
    .tp_dealloc = (destructor)rcore_dealloc,
    .tp_traverse = (traverseproc)rcore_traverse,
    .tp_clear = (inquiry)rcore_clear,
    .tp_methods = rcore_methods,
};

/* ---------------------------------------------------------------- DPDK descriptors */

/* rx_frames(descriptors, n, peer_of, make_peer) -> (frames, arp, not_ours)

   DpdkUdp.recv_ouch's loop over a burst's `struct gb_rx_desc`s: a frame tuple
   per datagram (refused ones with their refusal), the frame indices of ARP
   frames, and how many frames were not ours. `peer_of` caches (ip << 16 |
   port) -> (ip text, port); `make_peer(key)` fills it on a miss. */
static PyObject *rx_frames(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    PyObject *frames = NULL, *arp = NULL, *peer_of, *make_peer, *result = NULL;
    Py_ssize_t n, not_ours = 0;
    const struct gb_rx_desc *desc;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "rx_frames(descriptors, n, peer_of, make_peer)");
        return NULL;
    }
    n = PyLong_AsSsize_t(args[1]);
    peer_of = args[2];
    make_peer = args[3];
    if ((n < 0 && PyErr_Occurred()) || !PyDict_CheckExact(peer_of)) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "peer_of must be a dict");
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    if (n < 0 || (size_t)n * sizeof(struct gb_rx_desc) > (size_t)view.len) {
        PyErr_SetString(PyExc_ValueError, "more descriptors than the buffer holds");
        goto done;
    }
    desc = view.buf;
    if (!(frames = PyList_New(0)) || !(arp = PyList_New(0)))
        goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        const struct gb_rx_desc *d = desc + i;
        PyObject *key, *peer, *error, *frame;
        if (d->status == GB_RX_ARP) {
            PyObject *index = PyLong_FromLong(d->frame);
            if (index == NULL || PyList_Append(arp, index) < 0) {
                Py_XDECREF(index);
                goto done;
            }
            Py_DECREF(index);
            continue;
        }
        if (d->status > 0) {
            not_ours++;
            continue;
        }
        key = PyLong_FromUnsignedLongLong(d->peer);
        if (key == NULL)
            goto done;
        peer = PyDict_GetItemWithError(peer_of, key);
        if (peer != NULL) {
            Py_INCREF(peer);
        } else if (!PyErr_Occurred()) {
            peer = PyObject_CallOneArg(make_peer, key);
        }
        Py_DECREF(key);
        if (peer == NULL)
            goto done;
        if (d->status == GB_RX_DATAGRAM) {
            frame = Py_BuildValue("(kKHkNO)", (unsigned long)d->session,
                                  (unsigned long long)d->sequence, d->count,
                                  (unsigned long)d->offset, peer, Py_None);
        } else {
            int which = -d->status;
            if (which >= GB_RX_REFUSALS || refusal_names[which] == NULL) {
                Py_DECREF(peer);
                PyErr_Format(PyExc_ValueError, "unknown descriptor status %d", d->status);
                goto done;
            }
            error = Py_BuildValue("(Okk)", refusal_names[which], (unsigned long)d->detail1,
                                  (unsigned long)d->detail2);
            if (error == NULL) {
                Py_DECREF(peer);
                goto done;
            }
            frame = Py_BuildValue("(kKHkNN)", (unsigned long)d->session,
                                  (unsigned long long)d->sequence, d->count,
                                  (unsigned long)d->offset, peer, error);
        }
        if (frame == NULL || PyList_Append(frames, frame) < 0) {
            Py_XDECREF(frame);
            goto done;
        }
        Py_DECREF(frame);
    }
    result = Py_BuildValue("(OOn)", frames, arp, not_ours);
done:
    Py_XDECREF(frames);
    Py_XDECREF(arp);
    PyBuffer_Release(&view);
    return result;
}

/* tx_fill(datagrams, start, slots, slot, descriptors, capacity, ip_of, limit)
   -> (next, filled)

   DpdkUdp.send's loop: copies payloads datagrams[start:] into the send
   burst's slots and writes one `struct gb_tx_desc` each (dst_mac 0: gb_udp_tx
   resolves it), until the burst is full or the datagrams end. `ip_of` caches
   ip text -> address as an integer. */
static PyObject *tx_fill(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer slots, descs;
    PyObject *datagrams, *ip_of, *seq, *result = NULL;
    Py_ssize_t start, slot, capacity, limit, total, filled = 0, i;
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError, "tx_fill(datagrams, start, slots, slot, descriptors, "
                                         "capacity, ip_of, limit)");
        return NULL;
    }
    datagrams = args[0];
    ip_of = args[6];
    start = PyLong_AsSsize_t(args[1]);
    slot = PyLong_AsSsize_t(args[3]);
    capacity = PyLong_AsSsize_t(args[5]);
    limit = PyLong_AsSsize_t(args[7]);
    if (PyErr_Occurred())
        return NULL;
    if (!PyDict_CheckExact(ip_of)) {
        PyErr_SetString(PyExc_TypeError, "ip_of must be a dict");
        return NULL;
    }
    if (!(seq = PySequence_Fast(datagrams, "datagrams must be a sequence")))
        return NULL;
    if (PyObject_GetBuffer(args[2], &slots, PyBUF_WRITABLE) < 0) {
        Py_DECREF(seq);
        return NULL;
    }
    if (PyObject_GetBuffer(args[4], &descs, PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&slots);
        Py_DECREF(seq);
        return NULL;
    }
    if (capacity * slot > slots.len
        || (size_t)capacity * sizeof(struct gb_tx_desc) > (size_t)descs.len) {
        PyErr_SetString(PyExc_ValueError, "the burst buffers are smaller than the capacity");
        goto done;
    }
    total = PySequence_Fast_GET_SIZE(seq);
    for (i = start; i < total && filled < capacity; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i), *payload, *peer, *ip_text, *ip;
        struct gb_tx_desc *d = (struct gb_tx_desc *)descs.buf + filled;
        Py_buffer body;
        long port;
        unsigned long long address;
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2
            || !PyTuple_Check(PyTuple_GET_ITEM(item, 1))
            || PyTuple_GET_SIZE(PyTuple_GET_ITEM(item, 1)) != 2) {
            PyErr_SetString(PyExc_TypeError, "a datagram is (payload, (ip, port))");
            goto done;
        }
        payload = PyTuple_GET_ITEM(item, 0);
        peer = PyTuple_GET_ITEM(item, 1);
        ip_text = PyTuple_GET_ITEM(peer, 0);
        port = PyLong_AsLong(PyTuple_GET_ITEM(peer, 1));
        if (port == -1 && PyErr_Occurred())
            goto done;
        if (port < 0 || port > 0xFFFF) {
            PyErr_SetString(PyExc_OverflowError, "port must be 0-65535.");
            goto done;
        }
        ip = PyDict_GetItemWithError(ip_of, ip_text);
        if (ip == NULL) {
            struct in_addr in;
            const char *text;
            if (PyErr_Occurred())
                goto done;
            if (!PyUnicode_Check(ip_text)) {
                PyErr_SetString(PyExc_TypeError, "an ip address is a str");
                goto done;
            }
            text = PyUnicode_AsUTF8(ip_text);
            if (text == NULL)
                goto done;
            if (inet_aton(text, &in) == 0) {    /* socket.inet_aton's rule and words */
                PyErr_SetString(PyExc_OSError, "illegal IP address string passed to inet_aton");
                goto done;
            }
            ip = PyLong_FromUnsignedLong(ntohl(in.s_addr));
            if (ip == NULL || PyDict_SetItem(ip_of, ip_text, ip) < 0) {
                Py_XDECREF(ip);
                goto done;
            }
            Py_DECREF(ip);
        }
        address = to_u64(ip);
        if (address == (unsigned long long)-1 && PyErr_Occurred())
            goto done;
        if (PyObject_GetBuffer(payload, &body, PyBUF_SIMPLE) < 0)
            goto done;
        if (body.len > limit) {
            PyErr_Format(PyExc_ValueError, "a %zd-byte payload does not fit a %zd-byte slot "
                                           "with its headers", body.len, slot);
            PyBuffer_Release(&body);
            goto done;
        }
        memcpy((uint8_t *)slots.buf + filled * slot, body.buf, body.len);
        d->dst_mac = 0;
        d->dst_ip = (uint32_t)address;
        d->dst_port = (uint16_t)port;
        d->len = (uint16_t)body.len;
        PyBuffer_Release(&body);
        filled++;
    }
    result = Py_BuildValue("(nn)", i, filled);
done:
    PyBuffer_Release(&slots);
    PyBuffer_Release(&descs);
    Py_DECREF(seq);
    return result;
}

static int burst_traverse(RxBurst *self, visitproc visit, void *arg)
{
    Py_VISIT(self->peer_of); Py_VISIT(self->make_peer);
    Py_VISIT(self->view.obj);
    return 0;
}

static void burst_dealloc(RxBurst *self)
{
    PyObject_GC_UnTrack(self);
    if (self->view.obj != NULL)
        PyBuffer_Release(&self->view);
    Py_XDECREF(self->peer_of); Py_XDECREF(self->make_peer);
    PyObject_GC_Del(self);
}

static Py_ssize_t burst_len(RxBurst *self) { return self->frames; }

/* iter(burst): its frame tuples, as rx_frames gives them (for the Python gateway). */
static PyObject *burst_iter(RxBurst *self)
{
    PyObject *args[4], *got, *frames, *it;
    args[0] = self->view.obj;
    args[1] = PyLong_FromSsize_t(self->n);
    args[2] = self->peer_of;
    args[3] = self->make_peer;
    if (args[1] == NULL)
        return NULL;
    got = rx_frames(NULL, args, 4);
    Py_DECREF(args[1]);
    if (got == NULL)
        return NULL;
    frames = PyTuple_GET_ITEM(got, 0);
    it = PyObject_GetIter(frames);
    Py_DECREF(got);
    return it;
}

static PySequenceMethods burst_as_sequence = {.sq_length = (lenfunc)burst_len};

static PyTypeObject RxBurstType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_gatebook_ouchfast.RxBurst",
    .tp_basicsize = sizeof(RxBurst),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A received burst's order-entry frames, read from its descriptors.",
    .tp_dealloc = (destructor)burst_dealloc,
    .tp_traverse = (traverseproc)burst_traverse,
    .tp_iter = (getiterfunc)burst_iter,
    .tp_as_sequence = &burst_as_sequence,
};

/* rx_burst(descriptors, n, peer_of, make_peer) -> (burst, arp, not_ours)

   As rx_frames, but the frames stay in the descriptors: `burst` is what the
   compiled gateway reads with no tuple per frame (iterating it gives the
   tuples). The descriptors must not change while the burst is in use. */
static PyObject *rx_burst(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    RxBurst *burst;
    PyObject *arp, *result;
    Py_ssize_t n, not_ours = 0, frames = 0;
    if (nargs != 4 || !PyDict_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError, "rx_burst(descriptors, n, peer_of: dict, make_peer)");
        return NULL;
    }
    n = PyLong_AsSsize_t(args[1]);
    if (n < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "a negative count");
        return NULL;
    }
    if (!(arp = PyList_New(0)))
        return NULL;
    burst = PyObject_GC_New(RxBurst, &RxBurstType);
    if (burst == NULL) {
        Py_DECREF(arp);
        return NULL;
    }
    burst->view.obj = NULL;
    Py_INCREF(args[2]);
    burst->peer_of = args[2];
    Py_INCREF(args[3]);
    burst->make_peer = args[3];
    burst->n = n;
    PyObject_GC_Track(burst);
    if (PyObject_GetBuffer(args[0], &burst->view, PyBUF_SIMPLE) < 0)
        goto fail;
    if ((size_t)n * sizeof(struct gb_rx_desc) > (size_t)burst->view.len) {
        PyErr_SetString(PyExc_ValueError, "more descriptors than the buffer holds");
        goto fail;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        const struct gb_rx_desc *d = (const struct gb_rx_desc *)burst->view.buf + i;
        if (d->status == GB_RX_ARP) {
            PyObject *index = PyLong_FromLong(d->frame);
            if (index == NULL || PyList_Append(arp, index) < 0) {
                Py_XDECREF(index);
                goto fail;
            }
            Py_DECREF(index);
        } else if (d->status > 0) {
            not_ours++;
        } else {
            frames++;
        }
    }
    burst->frames = frames;
    result = Py_BuildValue("(NNn)", burst, arp, not_ours);
    return result;
fail:
    Py_DECREF(burst);
    Py_DECREF(arp);
    return NULL;
}

static PyMethodDef module_methods[] = {
    {"rx_burst", (PyCFunction)(void (*)(void))rx_burst, METH_FASTCALL,
     "rx_burst(descriptors, n, peer_of, make_peer) -> (burst, arp, not_ours)"},
    {"rx_frames", (PyCFunction)(void (*)(void))rx_frames, METH_FASTCALL,
     "rx_frames(descriptors, n, peer_of, make_peer) -> (frames, arp, not_ours)"},
    {"tx_fill", (PyCFunction)(void (*)(void))tx_fill, METH_FASTCALL,
     "tx_fill(datagrams, start, slots, slot, descriptors, capacity, ip_of, limit) "
     "-> (next, filled)"},
    {NULL}
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_gatebook_ouchfast",
    "The order-entry gateway's and replier's per-message work, compiled "
    "(dpdk_bridge/_ouchfast.c).", -1, module_methods,
};

PyMODINIT_FUNC PyInit__gatebook_ouchfast(void)
{
    PyObject *m;
    if (PyType_Ready(&GatewayCoreType) < 0 || PyType_Ready(&CommandsType) < 0
        || PyType_Ready(&RxBurstType) < 0
        || PyType_Ready(&ReplierCoreType) < 0)
        return NULL;
    if (!(s_next_seq = PyUnicode_InternFromString("next_seq"))
        || !(s_resync = PyUnicode_InternFromString("_resync"))
        || !(s_refused = PyUnicode_InternFromString("_refused"))
        || !(code_new_order = PyLong_FromLong(GB_CMD_NEW_ORDER_CODE))
        || !(code_cancel = PyLong_FromLong(GB_CMD_CANCEL_CODE))
        || !(code_replace = PyLong_FromLong(GB_CMD_REPLACE_CODE))
        || !(zero = PyLong_FromLong(0))
        || !(sixty_four = Py_BuildValue("(i)", 64)))
        return NULL;
    for (int i = 0; i < GB_RX_REFUSALS; i++)
        if (gb_rx_refusal[i] != NULL
            && !(refusal_names[i] = PyUnicode_InternFromString(gb_rx_refusal[i])))
            return NULL;
    m = PyModule_Create(&module_def);
    if (m == NULL)
        return NULL;
    Py_INCREF(&GatewayCoreType);
    Py_INCREF(&ReplierCoreType);
    if (PyModule_AddObject(m, "GatewayCore", (PyObject *)&GatewayCoreType) < 0
        || PyModule_AddObject(m, "ReplierCore", (PyObject *)&ReplierCoreType) < 0
        || PyModule_AddIntConstant(m, "HEADER_SIZE", GB_OUCH_HEADER_SIZE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
