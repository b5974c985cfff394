/* ReplierCore: replies packed from event tuples, framed per session, written into a send burst.
 *
 * Part of the one translation unit dpdk_bridge/_ouchfast.c includes, in its order.
 */

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
    ok = owner_get(&self->gw->owners, id, session, token);
    if (ok > 0 && self->gw->rename_count)
        token_before(self->gw, id, session, token);     /* as of the command's seq */
    return ok;
}

/* An order is gone (filled, cancelled, or a new order rejected): its token
   and owner are forgotten (Gateway.forget_order). 0, or -1 on error. */
static int forget_order(GatewayCore *gw, PyObject *order_id)
{
    uint64_t id, token;
    uint32_t session;
    Slot *s;
    int ok = seq_arg(order_id, &id);
    if (ok <= 0)
        return ok;
    if (!owner_get(&gw->owners, id, &session, &token))
        return 0;
    owner_del(&gw->owners, id);
    s = table_find(&gw->tokens, session, token);
    if (s != NULL && s->value == id)
        table_del(&gw->tokens, session, token);
    return 0;
}

/* 1 when the event's item `index` is the integer 0, 0 when not, -1 on error. */
static int is_zero(PyObject *event, Py_ssize_t index)
{
    uint64_t v = to_u64(PyTuple_GET_ITEM(event, index));
    if (v == (uint64_t)-1 && PyErr_Occurred())
        return -1;
    return v == 0;
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
    if (found && self->gw->rename_count)
        renames_through(self->gw, seq);
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
                if ((found = is_zero(event, sides[k].leaves)) < 0
                    || (found && forget_order(self->gw, PyTuple_GET_ITEM(event, sides[k].id)) < 0))
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
            if (forget_order(self->gw, ITEM(event, CANCELLED, ORDER_ID)) < 0)
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
            /* a new order refused with a fresh id: its token names nothing */
            if (to_u64(ITEM(event, REJECTED, COMMAND)) == GB_CMD_NEW_ORDER_CODE
                && to_u64(ITEM(event, REJECTED, REASON)) != GB_REJECT_DUPLICATE_ORDER_ID
                && forget_order(self->gw, ITEM(event, REJECTED, ORDER_ID)) < 0)
                goto fail;
            if (PyErr_Occurred())
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
    /* Py_None: the address was forgotten (forget_peer), nothing is sent */
    return known == NULL || known->value == (uint64_t)(uintptr_t)Py_None
        ? NULL : (PyObject *)(uintptr_t)known->value;
}

static PyObject *rcore_flush(ReplierCore *self, PyObject *const *args, size_t nargsf,
                            PyObject *kwnames)
{
    PyObject *out;
    size_t i;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    int unaddressed = 0;
    if (nargs + nkw > 1 || (nkw == 1 && !PyUnicode_Check(PyTuple_GET_ITEM(kwnames, 0)))
        || (nkw == 1 && PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0),
                                                        "unaddressed") != 0)) {
        PyErr_SetString(PyExc_TypeError, "flush(unaddressed=False)");
        return NULL;
    }
    if (nargs + nkw == 1 && (unaddressed = PyObject_IsTrue(args[0])) < 0)
        return NULL;
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
        if (peer == NULL && unaddressed)
            peer = Py_None;                 /* numbered, for the reply history */
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
            if (known != NULL && known->value == (uint64_t)(uintptr_t)Py_None)
                known = NULL;                   /* forgotten: nothing is sent */
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
    {"flush", (PyCFunction)(void (*)(void))rcore_flush, METH_FASTCALL | METH_KEYWORDS,
     "flush(unaddressed=False): Replier.flush."},
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
