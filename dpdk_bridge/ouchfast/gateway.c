/* GatewayCore: its state, origins, the token map as dicts, the session tracker, peers.
 *
 * Part of the one translation unit dpdk_bridge/_ouchfast.c includes, in its order.
 */

static PyTypeObject GatewayCoreType, CommandsType, ReplierCoreType;

typedef struct { uint64_t stock; PyObject *id; } Symbol;

/* With a pipelined engine (Gateway.pipeline): a rename whose command's events are
   not in yet, the order's token before `seq` (Gateway.renames), oldest first in a
   ring; a full ring makes the next rename wait for the answers in flight. */
typedef struct { uint64_t seq, id, token; uint32_t session; } Rename;
#define RENAME_SLOTS 4096

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
    PyObject *settle;                       /* Gateway.pipeline's SETTLE, or NULL */
    Rename *renames;
    size_t rename_head, rename_count;
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
    int settled;                            /* SETTLE was said for the message at `at` */
} Commands;

static int core_traverse(GatewayCore *self, visitproc visit, void *arg)
{
    Py_VISIT(self->gateway); Py_VISIT(self->sequencer); Py_VISIT(self->sdict);
    Py_VISIT(self->peers); Py_VISIT(self->settle);
    return 0;
}

static int core_clear(GatewayCore *self)
{
    Py_CLEAR(self->gateway); Py_CLEAR(self->sequencer); Py_CLEAR(self->sdict);
    Py_CLEAR(self->peers); Py_CLEAR(self->settle);
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
    PyMem_Free(self->renames);
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

/* core.pipeline(settle): keep renames by seq, say `settle` before a message that
   depends on answers in flight (Gateway.pipeline). */
static PyObject *core_pipeline(GatewayCore *self, PyObject *settle)
{
    if (self->renames == NULL && !(self->renames = PyMem_Calloc(RENAME_SLOTS, sizeof(Rename))))
        return PyErr_NoMemory();
    Py_INCREF(settle);
    Py_XSETREF(self->settle, settle);
    Py_RETURN_NONE;
}

/* core.renames() -> [(seq, order id, session, token before)], oldest first */
static PyObject *core_renames(GatewayCore *self, PyObject *unused)
{
    PyObject *out = PyList_New(0);
    for (size_t i = 0; out != NULL && i < self->rename_count; i++) {
        const Rename *r = self->renames + ((self->rename_head + i) & (RENAME_SLOTS - 1));
        PyObject *item = Py_BuildValue("(KKkK)", (unsigned long long)r->seq,
                                       (unsigned long long)r->id, (unsigned long)r->session,
                                       (unsigned long long)r->token);
        if (item == NULL || PyList_Append(out, item) < 0)
            Py_CLEAR(out);
        Py_XDECREF(item);
    }
    return out;
}

/* Renames at or before `seq` are in force: no longer kept (Replier's _as_of). */
static void renames_through(GatewayCore *core, uint64_t seq)
{
    while (core->rename_count && core->renames[core->rename_head].seq <= seq) {
        core->rename_head = (core->rename_head + 1) & (RENAME_SLOTS - 1);
        core->rename_count--;
    }
}

/* The token `id` had before the oldest rename still kept, if one is. */
static void token_before(const GatewayCore *core, uint64_t id, uint32_t *session, uint64_t *token)
{
    for (size_t i = 0; i < core->rename_count; i++) {
        const Rename *r = core->renames + ((core->rename_head + i) & (RENAME_SLOTS - 1));
        if (r->id == id) {
            *session = r->session;
            *token = r->token;
            return;
        }
    }
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
    it->settled = 0;
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
