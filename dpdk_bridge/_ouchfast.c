/* The order-entry gateway's and the replier's per-message work, compiled.
 *
 * Ref: host/net/order_entry.py (Gateway.commands) and host/net/order_replies.py
 *      (Replier.add, Replier.flush): the readable reference this code follows
 *      line for line; gatebook/wire/ouch.py and internal.py through the
 *      generated "gb_tables.h" (dpdk_bridge/_fastgen.py).
 *
 * Nothing here has state of its own: the gateway's token map, owners, origins,
 * peers and session numbers stay the Python objects the reference uses
 * (dicts of Python ints and tuples), so both paths can be compared entry for
 * entry and either may run on the same gateway. What C saves is the bytecode:
 * unpacking a message, the dict operations and building a command tuple, or
 * reading an event tuple and packing a reply, cost one C call instead of
 * dozens of interpreted steps. Rare paths (refusals, gaps, duplicates) call
 * back into the Python methods the reference uses, so they log the same words.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "gb_tables.h"

#define IDX(msg, field) GB_##msg##_##field##_IDX

static PyObject *s_next_seq, *s_messages, *s_next_order_id, *s_resync, *s_refused;
static PyObject *code_new_order, *code_cancel, *code_replace, *zero;

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

/* An unsigned Python int that must fit `width` bytes, as struct.pack insists. */
static int as_uint(PyObject *value, int width, uint64_t *out)
{
    unsigned long long v = PyLong_AsUnsignedLongLong(value);
    if (v == (unsigned long long)-1 && PyErr_Occurred())
        return -1;
    if (width < 8 && v >> (8 * width)) {
        PyErr_Format(PyExc_OverflowError, "%llu does not fit %d bytes", v, width);
        return -1;
    }
    *out = v;
    return 0;
}

/* ---------------------------------------------------------------- gateway */

typedef struct {
    PyObject_HEAD
    PyObject *gateway, *gdict;              /* the Python Gateway and its __dict__ */
    PyObject *sequencer, *sdict;            /* sdict: sequencer.__dict__ */
    PyObject *expected, *peers, *symbol_ids, *order_ids, *owners, *origins;
} GatewayCore;

typedef struct {
    PyObject_HEAD
    GatewayCore *core;
    PyObject *frames;                       /* iterator over frame tuples */
    PyObject *clock;
    PyObject *session;                      /* current frame's session (an int) */
    Py_buffer view;
    int has_view;
    Py_ssize_t at;
    uint64_t left;                          /* messages of the current frame still due */
} Commands;

static PyTypeObject GatewayCoreType, CommandsType, ReplierCoreType;

static int core_traverse(GatewayCore *self, visitproc visit, void *arg)
{
    Py_VISIT(self->gateway); Py_VISIT(self->gdict); Py_VISIT(self->sequencer);
    Py_VISIT(self->sdict); Py_VISIT(self->expected); Py_VISIT(self->peers);
    Py_VISIT(self->symbol_ids); Py_VISIT(self->order_ids); Py_VISIT(self->owners);
    Py_VISIT(self->origins);
    return 0;
}

static int core_clear(GatewayCore *self)
{
    Py_CLEAR(self->gateway); Py_CLEAR(self->gdict); Py_CLEAR(self->sequencer);
    Py_CLEAR(self->sdict); Py_CLEAR(self->expected); Py_CLEAR(self->peers);
    Py_CLEAR(self->symbol_ids); Py_CLEAR(self->order_ids); Py_CLEAR(self->owners);
    Py_CLEAR(self->origins);
    return 0;
}

static void core_dealloc(GatewayCore *self)
{
    PyObject_GC_UnTrack(self);
    core_clear(self);
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

/* GatewayCore(gateway): binds the gateway's dicts once (they live as long as it). */
static int core_init(GatewayCore *self, PyObject *args, PyObject *kwds)
{
    PyObject *gateway, *tracker = NULL;
    if (!PyArg_ParseTuple(args, "O:GatewayCore", &gateway))
        return -1;
    core_clear(self);
    Py_INCREF(gateway);
    self->gateway = gateway;
    if (!(self->gdict = PyObject_GenericGetDict(gateway, NULL))
        || !(self->sequencer = PyObject_GetAttrString(gateway, "sequencer"))
        || !(self->sdict = PyObject_GenericGetDict(self->sequencer, NULL))
        || !(tracker = PyObject_GetAttrString(gateway, "tracker"))
        || !(self->expected = dict_arg(tracker, "expected"))
        || !(self->peers = dict_arg(gateway, "peers"))
        || !(self->symbol_ids = dict_arg(gateway, "symbol_ids"))
        || !(self->order_ids = dict_arg(gateway, "order_ids"))
        || !(self->owners = dict_arg(gateway, "owners"))
        || !(self->origins = dict_arg(gateway, "origins"))) {
        Py_XDECREF(tracker);
        return -1;
    }
    Py_DECREF(tracker);
    return 0;
}

/* core.commands(data, frames): the iterator Gateway.commands is in Python. */
static PyObject *core_commands(GatewayCore *self, PyObject *const *args, Py_ssize_t nargs)
{
    Commands *it;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "commands(data, frames)");
        return NULL;
    }
    it = PyObject_GC_New(Commands, &CommandsType);
    if (it == NULL)
        return NULL;
    it->has_view = 0;
    it->session = NULL;
    it->frames = NULL;
    it->clock = NULL;
    it->at = 0;
    it->left = 0;
    Py_INCREF(self);
    it->core = self;
    PyObject_GC_Track(it);
    if (PyObject_GetBuffer(args[0], &it->view, PyBUF_SIMPLE) < 0) {
        Py_DECREF(it);
        return NULL;
    }
    it->has_view = 1;
    if (!(it->frames = PyObject_GetIter(args[1]))
        || !(it->clock = PyObject_GetAttrString(self->sequencer, "clock"))) {
        Py_DECREF(it);
        return NULL;
    }
    return (PyObject *)it;
}

static int commands_traverse(Commands *self, visitproc visit, void *arg)
{
    Py_VISIT(self->core); Py_VISIT(self->frames); Py_VISIT(self->clock);
    Py_VISIT(self->session);
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
    Py_XDECREF(self->session);
    PyObject_GC_Del(self);
}

/* dict[key] += by, for the gateway's counters. */
static int bump(PyObject *dict, PyObject *key, uint64_t by, PyObject **old)
{
    PyObject *value = PyDict_GetItemWithError(dict, key), *next, *step;
    if (value == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetObject(PyExc_AttributeError, key);
        return -1;
    }
    Py_INCREF(value);
    step = PyLong_FromUnsignedLongLong(by);
    next = step ? PyNumber_Add(value, step) : NULL;
    Py_XDECREF(step);
    if (next == NULL || PyDict_SetItem(dict, key, next) < 0) {
        Py_XDECREF(next);
        Py_DECREF(value);
        return -1;
    }
    Py_DECREF(next);
    if (old)
        *old = value;
    else
        Py_DECREF(value);
    return 0;
}

/* Take the next frame; 1 when one has messages due, 0 at the end, -1 on error. */
static int next_frame(Commands *it)
{
    GatewayCore *core = it->core;
    for (;;) {
        PyObject *frame = PyIter_Next(it->frames), *peer, *error, *expected;
        PyObject *session, *sequence, *count, *at;
        unsigned long long seq, n;
        if (frame == NULL)
            return PyErr_Occurred() ? -1 : 0;
        if (!PyTuple_Check(frame) || PyTuple_GET_SIZE(frame) != 6) {
            Py_DECREF(frame);
            PyErr_SetString(PyExc_TypeError, "a frame is (session, sequence_number, count, "
                                             "offset, peer, error)");
            return -1;
        }
        session = PyTuple_GET_ITEM(frame, 0); sequence = PyTuple_GET_ITEM(frame, 1);
        count = PyTuple_GET_ITEM(frame, 2); at = PyTuple_GET_ITEM(frame, 3);
        peer = PyTuple_GET_ITEM(frame, 4); error = PyTuple_GET_ITEM(frame, 5);
        if (error != Py_None) {
            PyObject *done = PyObject_CallMethodObjArgs(core->gateway, s_refused, peer, error,
                                                        NULL);
            Py_DECREF(frame);
            if (done == NULL)
                return -1;
            Py_DECREF(done);
            continue;
        }
        if (peer != Py_None && PyDict_SetItem(core->peers, session, peer) < 0)
            goto fail;
        Py_INCREF(session);
        Py_XSETREF(it->session, session);
        it->at = PyLong_AsSsize_t(at);
        seq = PyLong_AsUnsignedLongLong(sequence);
        n = PyLong_AsUnsignedLongLong(count);
        if (PyErr_Occurred())
            goto fail;
        expected = PyDict_GetItemWithError(core->expected, session);
        if (expected == NULL && PyErr_Occurred())
            goto fail;
        int in_order = 0;
        if (expected == NULL) {
            in_order = seq == 1;
        } else {
            unsigned long long want = PyLong_AsUnsignedLongLong(expected);
            if (want == (unsigned long long)-1 && PyErr_Occurred())
                PyErr_Clear();                       /* beyond 64 bits: the slow path */
            else
                in_order = want == seq;
        }
        if (in_order && seq <= UINT64_MAX - n) {
            PyObject *next = PyLong_FromUnsignedLongLong(seq + n);
            if (next == NULL || PyDict_SetItem(core->expected, session, next) < 0) {
                Py_XDECREF(next);
                goto fail;
            }
            Py_DECREF(next);
        } else {
            /* Gaps and duplicates: the reference's own method, so the same logs. */
            PyObject *got = PyObject_CallMethodObjArgs(core->gateway, s_resync, it->view.obj,
                                                       session, sequence, count, at, NULL);
            if (got == NULL)
                goto fail;
            if (!PyTuple_Check(got) || PyTuple_GET_SIZE(got) != 2) {
                Py_DECREF(got);
                PyErr_SetString(PyExc_TypeError, "_resync must return (offset, count)");
                goto fail;
            }
            it->at = PyLong_AsSsize_t(PyTuple_GET_ITEM(got, 0));
            n = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(got, 1));
            Py_DECREF(got);
            if (PyErr_Occurred())
                goto fail;
        }
        Py_DECREF(frame);
        if (bump(core->gdict, s_messages, n, NULL) < 0)
            return -1;
        it->left = n;
        if (n)
            return 1;
        continue;
    fail:
        Py_DECREF(frame);
        return -1;
    }
}

static PyObject *pair(PyObject *a, PyObject *b)
{
    PyObject *t = PyTuple_New(2);
    if (t == NULL) {
        Py_DECREF(b);
        return NULL;
    }
    Py_INCREF(a);
    PyTuple_SET_ITEM(t, 0, a);
    PyTuple_SET_ITEM(t, 1, b);          /* steals b */
    return t;
}

static PyObject *commands_next(Commands *it)
{
    GatewayCore *core = it->core;
    const uint8_t *data = it->view.buf, *p;
    PyObject *seq = NULL, *ts = NULL, *key = NULL, *out = NULL;
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
    p = data + it->at;
    code = p[0];
    size = gb_ouch_in_size[code];
    if (size == 0 || it->at + size > it->view.len) {
        PyErr_Format(PyExc_ValueError, "no whole message at offset %zd (type %d)", it->at, code);
        return NULL;
    }
    /* seq = stamp.next_seq; stamp.next_seq = seq + 1 */
    if (bump(core->sdict, s_next_seq, 1, &seq) < 0)
        return NULL;
    ts = PyObject_CallNoArgs(it->clock);
    if (ts == NULL)
        goto fail;
    it->at += size;
    it->left--;
    if (code == GB_OUCH_ENTER_ORDER_CODE) {
        PyObject *order_id, *stock, *symbol;
        key = pair(it->session, PyLong_FromUnsignedLongLong(GET(p, ENTER_ORDER, ORDER_TOKEN)));
        if (key == NULL)
            goto fail;
        order_id = PyDict_GetItemWithError(core->order_ids, key);
        if (order_id != NULL) {
            Py_INCREF(order_id);
        } else {
            /* A reused token reaches the engine with its first order's id: a duplicate. */
            if (PyErr_Occurred() || bump(core->gdict, s_next_order_id, 1, &order_id) < 0)
                goto fail;
            if (PyDict_SetItem(core->order_ids, key, order_id) < 0
                || PyDict_SetItem(core->owners, order_id, key) < 0) {
                Py_DECREF(order_id);
                goto fail;
            }
        }
        if (PyDict_SetItem(core->origins, seq, key) < 0) {
            Py_DECREF(order_id);
            goto fail;
        }
        stock = PyBytes_FromStringAndSize((const char *)p + GB_OUCH_ENTER_ORDER_STOCK_OFF,
                                          GB_OUCH_ENTER_ORDER_STOCK_WIDTH);
        symbol = stock ? PyDict_GetItemWithError(core->symbol_ids, stock) : NULL;
        Py_XDECREF(stock);
        if (symbol == NULL && (stock == NULL || PyErr_Occurred())) {
            Py_DECREF(order_id);
            goto fail;
        }
        out = PyTuple_New(GB_CMD_NEW_ORDER_LEN);
        if (out == NULL) {
            Py_DECREF(order_id);
            goto fail;
        }
        Py_INCREF(code_new_order);
        PyTuple_SET_ITEM(out, 0, code_new_order);
        PyTuple_SET_ITEM(out, IDX(CMD_NEW_ORDER, SEQ), seq); seq = NULL;
        PyTuple_SET_ITEM(out, IDX(CMD_NEW_ORDER, TS), ts); ts = NULL;
        if (symbol == NULL)
            symbol = zero;
        Py_INCREF(symbol);
        PyTuple_SET_ITEM(out, IDX(CMD_NEW_ORDER, SYMBOL), symbol);
        PyTuple_SET_ITEM(out, IDX(CMD_NEW_ORDER, ORDER_ID), order_id);
        Py_INCREF(it->session);
        PyTuple_SET_ITEM(out, IDX(CMD_NEW_ORDER, USER), it->session);
        PyTuple_SET_ITEM(out, IDX(CMD_NEW_ORDER, SIDE),
                         PyLong_FromUnsignedLong(GET(p, ENTER_ORDER, SIDE)));
        PyTuple_SET_ITEM(out, IDX(CMD_NEW_ORDER, ORDER_TYPE),
                         PyLong_FromUnsignedLong(GET(p, ENTER_ORDER, ORDER_TYPE)));
        PyTuple_SET_ITEM(out, IDX(CMD_NEW_ORDER, TIF),
                         PyLong_FromUnsignedLong(GET(p, ENTER_ORDER, TIME_IN_FORCE)));
        PyTuple_SET_ITEM(out, IDX(CMD_NEW_ORDER, PRICE),
                         PyLong_FromUnsignedLong(GET(p, ENTER_ORDER, PRICE)));
        PyTuple_SET_ITEM(out, IDX(CMD_NEW_ORDER, STOP_PRICE),
                         PyLong_FromUnsignedLong(GET(p, ENTER_ORDER, STOP_PRICE)));
        PyTuple_SET_ITEM(out, IDX(CMD_NEW_ORDER, QTY),
                         PyLong_FromUnsignedLong(GET(p, ENTER_ORDER, SHARES)));
    } else if (code == GB_OUCH_CANCEL_ORDER_CODE) {
        PyObject *order_id;
        key = pair(it->session, PyLong_FromUnsignedLongLong(GET(p, CANCEL_ORDER, ORDER_TOKEN)));
        if (key == NULL || PyDict_SetItem(core->origins, seq, key) < 0)
            goto fail;
        order_id = PyDict_GetItemWithError(core->order_ids, key);
        if (order_id == NULL && PyErr_Occurred())
            goto fail;
        out = PyTuple_New(GB_CMD_CANCEL_LEN);
        if (out == NULL)
            goto fail;
        if (order_id == NULL)
            order_id = zero;
        Py_INCREF(code_cancel);
        PyTuple_SET_ITEM(out, 0, code_cancel);
        PyTuple_SET_ITEM(out, IDX(CMD_CANCEL, SEQ), seq); seq = NULL;
        PyTuple_SET_ITEM(out, IDX(CMD_CANCEL, TS), ts); ts = NULL;
        Py_INCREF(order_id);
        PyTuple_SET_ITEM(out, IDX(CMD_CANCEL, ORDER_ID), order_id);
        Py_INCREF(it->session);
        PyTuple_SET_ITEM(out, IDX(CMD_CANCEL, USER), it->session);
    } else if (code == GB_OUCH_REPLACE_ORDER_CODE) {
        PyObject *existing, *replacement, *order_id, *origin;
        uint64_t old_token = GET(p, REPLACE_ORDER, EXISTING_ORDER_TOKEN);
        uint64_t new_token = GET(p, REPLACE_ORDER, REPLACEMENT_ORDER_TOKEN);
        int known;
        key = pair(it->session, PyLong_FromUnsignedLongLong(old_token));
        if (key == NULL)
            goto fail;
        order_id = PyDict_GetItemWithError(core->order_ids, key);
        if (order_id == NULL && PyErr_Occurred())
            goto fail;
        if (order_id == NULL)
            order_id = zero;
        Py_INCREF(order_id);
        known = PyObject_IsTrue(order_id);
        existing = PyTuple_GET_ITEM(key, 1);
        replacement = PyLong_FromUnsignedLongLong(new_token);
        if (known < 0 || replacement == NULL) {
            Py_XDECREF(replacement);
            Py_DECREF(order_id);
            goto fail;
        }
        if (known && new_token != old_token) {
            PyObject *renamed;
            Py_INCREF(replacement);         /* pair steals one reference */
            renamed = pair(it->session, replacement);
            if (renamed == NULL || PyDict_SetItem(core->order_ids, renamed, order_id) < 0
                || PyDict_SetItem(core->owners, order_id, renamed) < 0) {
                Py_XDECREF(renamed);
                Py_DECREF(replacement);
                Py_DECREF(order_id);
                goto fail;
            }
            Py_DECREF(renamed);
        }
        origin = PyTuple_New(3);
        if (origin == NULL) {
            Py_DECREF(replacement);
            Py_DECREF(order_id);
            goto fail;
        }
        Py_INCREF(it->session);
        PyTuple_SET_ITEM(origin, 0, it->session);
        PyTuple_SET_ITEM(origin, 1, replacement);
        Py_INCREF(existing);
        PyTuple_SET_ITEM(origin, 2, existing);
        if (PyDict_SetItem(core->origins, seq, origin) < 0) {
            Py_DECREF(origin);
            Py_DECREF(order_id);
            goto fail;
        }
        Py_DECREF(origin);
        out = PyTuple_New(GB_CMD_REPLACE_LEN);
        if (out == NULL) {
            Py_DECREF(order_id);
            goto fail;
        }
        Py_INCREF(code_replace);
        PyTuple_SET_ITEM(out, 0, code_replace);
        PyTuple_SET_ITEM(out, IDX(CMD_REPLACE, SEQ), seq); seq = NULL;
        PyTuple_SET_ITEM(out, IDX(CMD_REPLACE, TS), ts); ts = NULL;
        PyTuple_SET_ITEM(out, IDX(CMD_REPLACE, ORDER_ID), order_id);
        Py_INCREF(it->session);
        PyTuple_SET_ITEM(out, IDX(CMD_REPLACE, USER), it->session);
        PyTuple_SET_ITEM(out, IDX(CMD_REPLACE, PRICE),
                         PyLong_FromUnsignedLong(GET(p, REPLACE_ORDER, PRICE)));
        PyTuple_SET_ITEM(out, IDX(CMD_REPLACE, QTY),
                         PyLong_FromUnsignedLong(GET(p, REPLACE_ORDER, SHARES)));
    } else {
        PyErr_Format(PyExc_ValueError, "message type %d is not an order-entry request", code);
        goto fail;
    }
    Py_DECREF(key);
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(out); i++)
        if (PyTuple_GET_ITEM(out, i) == NULL) {       /* an int that could not be made */
            Py_DECREF(out);
            return NULL;
        }
    return out;
fail:
    Py_XDECREF(seq);
    Py_XDECREF(ts);
    Py_XDECREF(key);
    Py_XDECREF(out);
    return NULL;
}

static PyMethodDef core_methods[] = {
    {"commands", (PyCFunction)(void (*)(void))core_commands, METH_FASTCALL,
     "commands(data, frames): stamped commands, one at a time (Gateway.commands)."},
    {NULL}
};

static PyTypeObject GatewayCoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_gatebook_ouchfast.GatewayCore",
    .tp_basicsize = sizeof(GatewayCore),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "GatewayCore(gateway): the compiled Gateway.commands over the gateway's dicts.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)core_init,
    .tp_dealloc = (destructor)core_dealloc,
    .tp_traverse = (traverseproc)core_traverse,
    .tp_clear = (inquiry)core_clear,
    .tp_methods = core_methods,
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

typedef struct {
    PyObject_HEAD
    PyObject *owners, *origins, *peers;     /* the gateway's */
    PyObject *names, *pending, *sequences, *dirty;   /* the replier's */
    Py_ssize_t limit;                       /* payload bytes after the header */
} ReplierCore;

static int rcore_traverse(ReplierCore *self, visitproc visit, void *arg)
{
    Py_VISIT(self->owners); Py_VISIT(self->origins); Py_VISIT(self->peers);
    Py_VISIT(self->names); Py_VISIT(self->pending); Py_VISIT(self->sequences);
    Py_VISIT(self->dirty);
    return 0;
}

static int rcore_clear(ReplierCore *self)
{
    Py_CLEAR(self->owners); Py_CLEAR(self->origins); Py_CLEAR(self->peers);
    Py_CLEAR(self->names); Py_CLEAR(self->pending); Py_CLEAR(self->sequences);
    Py_CLEAR(self->dirty);
    return 0;
}

static void rcore_dealloc(ReplierCore *self)
{
    PyObject_GC_UnTrack(self);
    rcore_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* ReplierCore(replier): binds the replier's and its gateway's dicts. */
static int rcore_init(ReplierCore *self, PyObject *args, PyObject *kwds)
{
    PyObject *replier, *gateway = NULL, *limit = NULL;
    if (!PyArg_ParseTuple(args, "O:ReplierCore", &replier))
        return -1;
    rcore_clear(self);
    if (!(gateway = PyObject_GetAttrString(replier, "gateway"))
        || !(self->owners = dict_arg(gateway, "owners"))
        || !(self->origins = dict_arg(gateway, "origins"))
        || !(self->peers = dict_arg(gateway, "peers"))
        || !(self->names = dict_arg(replier, "names"))
        || !(self->pending = dict_arg(replier, "pending"))
        || !(self->sequences = dict_arg(replier, "sequences"))
        || !(self->dirty = PyObject_GetAttrString(replier, "_dirty"))
        || !(limit = PyObject_GetAttrString(replier, "max_payload"))) {
        Py_XDECREF(gateway);
        return -1;
    }
    Py_DECREF(gateway);
    self->limit = PyLong_AsSsize_t(limit) - GB_OUCH_HEADER_SIZE;
    Py_DECREF(limit);
    if (PyErr_Occurred())
        return -1;
    if (!PyList_CheckExact(self->dirty)) {
        PyErr_SetString(PyExc_TypeError, "_dirty must be a list");
        return -1;
    }
    return 0;
}

/* Append one packed reply to its session's pending bytes. */
static int put(ReplierCore *self, PyObject *session, const uint8_t *part, Py_ssize_t size)
{
    PyObject *box = PyDict_GetItemWithError(self->pending, session);
    Py_ssize_t had;
    if (box == NULL) {
        if (PyErr_Occurred())
            return -1;
        box = PyByteArray_FromStringAndSize(NULL, 0);
        if (box == NULL || PyDict_SetItem(self->pending, session, box) < 0) {
            Py_XDECREF(box);
            return -1;
        }
        Py_DECREF(box);
    }
    had = PyByteArray_GET_SIZE(box);
    if (had == 0 && PyList_Append(self->dirty, session) < 0)
        return -1;
    if (PyByteArray_Resize(box, had + size) < 0)
        return -1;
    memcpy(PyByteArray_AS_STRING(box) + had, part, size);
    return 0;
}

/* The owner (session, token) of an order id, borrowed; NULL if none (or error). */
static PyObject *owner_of(ReplierCore *self, PyObject *order_id)
{
    PyObject *owner = PyDict_GetItemWithError(self->owners, order_id);
    if (owner != NULL && (!PyTuple_Check(owner) || PyTuple_GET_SIZE(owner) < 2)) {
        PyErr_SetString(PyExc_TypeError, "owners holds (session, token) pairs");
        return NULL;
    }
    return owner;
}

#define FIELD(event, msg, field, out) \
    as_uint(PyTuple_GET_ITEM(event, IDX(EV_##msg, field)), 8, &(out))
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
    PyObject *seq_events = NULL, *origin = NULL, *first;
    uint8_t part[256];
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
    origin = PyDict_GetItemWithError(self->origins, PyTuple_GET_ITEM(first, 1));
    if (origin != NULL) {
        Py_INCREF(origin);
        if (PyDict_DelItem(self->origins, PyTuple_GET_ITEM(first, 1)) < 0)
            goto fail;
    } else if (PyErr_Occurred()) {
        goto fail;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *event = PySequence_Fast_GET_ITEM(seq_events, i), *owner, *session;
        long code;
        if (!PyTuple_Check(event) || PyTuple_GET_SIZE(event) < 1) {
            PyErr_SetString(PyExc_TypeError, "an event is a tuple (code, seq, ...)");
            goto fail;
        }
        code = PyLong_AsLong(PyTuple_GET_ITEM(event, 0));
        if (code == -1 && PyErr_Occurred())
            goto fail;
        if (code == GB_EV_LEVEL_CODE || code == GB_EV_TRADE_CODE)
            continue;
        if (code == GB_EV_ACCEPTED_CODE) {
            PyObject *name;
            Py_ssize_t len;
            if (needs(event, GB_EV_ACCEPTED_LEN) < 0)
                goto fail;
            owner = owner_of(self, ITEM(event, ACCEPTED, ORDER_ID));
            if (owner == NULL) {
                if (PyErr_Occurred())
                    goto fail;
                continue;
            }
            session = PyTuple_GET_ITEM(owner, 0);
            memset(part, 0, GB_OUCH_OUT_ACCEPTED_SIZE);
            part[0] = GB_OUCH_OUT_ACCEPTED_CODE;
            PUTV(part, ACCEPTED, TIMESTAMP, ITEM(event, ACCEPTED, TS));
            PUTV(part, ACCEPTED, ORDER_TOKEN, PyTuple_GET_ITEM(owner, 1));
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
            for (int s = 0; s < 2; s++) {
                owner = owner_of(self, PyTuple_GET_ITEM(event, sides[s].id));
                if (owner == NULL) {
                    if (PyErr_Occurred())
                        goto fail;
                    continue;
                }
                memset(part, 0, GB_OUCH_OUT_EXECUTED_SIZE);
                part[0] = GB_OUCH_OUT_EXECUTED_CODE;
                PUTV(part, EXECUTED, TIMESTAMP, ITEM(event, EXECUTED, TS));
                PUTV(part, EXECUTED, ORDER_TOKEN, PyTuple_GET_ITEM(owner, 1));
                PUTV(part, EXECUTED, EXECUTED_SHARES, ITEM(event, EXECUTED, QTY));
                PUTV(part, EXECUTED, EXECUTION_PRICE, ITEM(event, EXECUTED, PRICE));
                PUT(part, EXECUTED, LIQUIDITY_FLAG, (uint8_t)sides[s].flag);
                PUTV(part, EXECUTED, MATCH_NUMBER, ITEM(event, EXECUTED, MATCH_ID));
                PUTV(part, EXECUTED, LEAVES_SHARES, PyTuple_GET_ITEM(event, sides[s].leaves));
                if (put(self, PyTuple_GET_ITEM(owner, 0), part, GB_OUCH_OUT_EXECUTED_SIZE) < 0)
                    goto fail;
            }
        } else if (code == GB_EV_CANCELLED_CODE) {
            if (needs(event, GB_EV_CANCELLED_LEN) < 0)
                goto fail;
            owner = owner_of(self, ITEM(event, CANCELLED, ORDER_ID));
            if (owner == NULL) {
                if (PyErr_Occurred())
                    goto fail;
                continue;
            }
            memset(part, 0, GB_OUCH_OUT_CANCELED_SIZE);
            part[0] = GB_OUCH_OUT_CANCELED_CODE;
            PUTV(part, CANCELED, TIMESTAMP, ITEM(event, CANCELLED, TS));
            PUTV(part, CANCELED, ORDER_TOKEN, PyTuple_GET_ITEM(owner, 1));
            PUTV(part, CANCELED, DECREMENT_SHARES, ITEM(event, CANCELLED, QTY));
            PUTV(part, CANCELED, REASON, ITEM(event, CANCELLED, REASON));
            if (put(self, PyTuple_GET_ITEM(owner, 0), part, GB_OUCH_OUT_CANCELED_SIZE) < 0)
                goto fail;
        } else if (code == GB_EV_REPLACED_CODE) {
            PyObject *previous;
            if (needs(event, GB_EV_REPLACED_LEN) < 0)
                goto fail;
            owner = owner_of(self, ITEM(event, REPLACED, ORDER_ID));
            if (owner == NULL) {
                if (PyErr_Occurred())
                    goto fail;
                continue;
            }
            /* origin[-1] if origin else owner[1] */
            previous = PyTuple_GET_ITEM(owner, 1);
            if (origin != NULL) {
                int truth = PyObject_IsTrue(origin);
                if (truth < 0)
                    goto fail;
                if (truth) {
                    if (!PyTuple_Check(origin)) {
                        PyErr_SetString(PyExc_TypeError, "origins holds tuples");
                        goto fail;
                    }
                    previous = PyTuple_GET_ITEM(origin, PyTuple_GET_SIZE(origin) - 1);
                }
            }
            memset(part, 0, GB_OUCH_OUT_REPLACED_SIZE);
            part[0] = GB_OUCH_OUT_REPLACED_CODE;
            PUTV(part, REPLACED, TIMESTAMP, ITEM(event, REPLACED, TS));
            PUTV(part, REPLACED, REPLACEMENT_ORDER_TOKEN, PyTuple_GET_ITEM(owner, 1));
            PUTV(part, REPLACED, PREVIOUS_ORDER_TOKEN, previous);
            PUTV(part, REPLACED, SHARES, ITEM(event, REPLACED, QTY));
            PUTV(part, REPLACED, PRICE, ITEM(event, REPLACED, PRICE));
            PUTV(part, REPLACED, ORDER_REF, ITEM(event, REPLACED, ORDER_ID));
            PUTV(part, REPLACED, KEPT_PRIORITY, ITEM(event, REPLACED, KEPT_PRIORITY));
            if (put(self, PyTuple_GET_ITEM(owner, 0), part, GB_OUCH_OUT_REPLACED_SIZE) < 0)
                goto fail;
        } else if (code == GB_EV_REJECTED_CODE) {
            int truth;
            if (needs(event, GB_EV_REJECTED_LEN) < 0)
                goto fail;
            truth = origin == NULL ? 0 : PyObject_IsTrue(origin);
            if (truth < 0)
                goto fail;
            if (!truth)
                continue;
            if (!PyTuple_Check(origin) || PyTuple_GET_SIZE(origin) < 2) {
                PyErr_SetString(PyExc_TypeError, "origins holds (session, token, ...) tuples");
                goto fail;
            }
            memset(part, 0, GB_OUCH_OUT_REJECTED_SIZE);
            part[0] = GB_OUCH_OUT_REJECTED_CODE;
            PUTV(part, REJECTED, TIMESTAMP, ITEM(event, REJECTED, TS));
            PUTV(part, REJECTED, ORDER_TOKEN, PyTuple_GET_ITEM(origin, 1));
            PUTV(part, REJECTED, REASON, ITEM(event, REJECTED, REASON));
            if (put(self, PyTuple_GET_ITEM(origin, 0), part, GB_OUCH_OUT_REJECTED_SIZE) < 0)
                goto fail;
        }
    }
    Py_XDECREF(origin);
    Py_DECREF(seq_events);
    Py_RETURN_NONE;
fail:
    Py_XDECREF(origin);
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
static PyObject *rcore_flush(ReplierCore *self, PyObject *unused)
{
    PyObject *out = PyList_New(0);
    Py_ssize_t sessions = PyList_GET_SIZE(self->dirty);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < sessions; i++) {
        PyObject *session = PyList_GET_ITEM(self->dirty, i), *box, *peer, *known, *next;
        const uint8_t *data;
        Py_ssize_t size, at;
        uint16_t width = 0;
        uint64_t first = 1;
        box = PyDict_GetItemWithError(self->pending, session);
        if (box == NULL || !PyByteArray_Check(box)) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_KeyError, "a dirty session without pending replies");
            goto fail;
        }
        known = PyDict_GetItemWithError(self->sequences, session);
        if (known == NULL && PyErr_Occurred())
            goto fail;
        if (known != NULL && as_uint(known, 8, &first) < 0)
            goto fail;
        peer = PyDict_GetItemWithError(self->peers, session);
        if (peer == NULL && PyErr_Occurred())
            goto fail;
        data = (const uint8_t *)PyByteArray_AS_STRING(box);
        size = PyByteArray_GET_SIZE(box);
        /* Greedy batches under the limit, exactly as the reference splits its parts. */
        {
            Py_ssize_t start = 0, bytes = 0;
            uint16_t count = 0;
            for (at = 0; at <= size; at += width) {
                if (at < size) {
                    width = gb_ouch_out_size[data[at]];
                    if (width == 0 || at + width > size) {
                        PyErr_SetString(PyExc_ValueError,
                                        "pending replies are not whole messages");
                        goto fail;
                    }
                }
                if (at == size || bytes + width > self->limit) {
                    if (peer != NULL) {
                        PyObject *one = datagram(session, first, data + start, bytes, count,
                                                 peer);
                        if (one == NULL || PyList_Append(out, one) < 0) {
                            Py_XDECREF(one);
                            goto fail;
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
        }
        next = PyLong_FromUnsignedLongLong(first);
        if (next == NULL || PyDict_SetItem(self->sequences, session, next) < 0) {
            Py_XDECREF(next);
            goto fail;
        }
        Py_DECREF(next);
        if (PyByteArray_Resize(box, 0) < 0)
            goto fail;
    }
    if (PyList_SetSlice(self->dirty, 0, sessions, NULL) < 0)
        goto fail;
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

static PyMethodDef rcore_methods[] = {
    {"add", (PyCFunction)rcore_add, METH_O, "add(events): Replier.add."},
    {"flush", (PyCFunction)rcore_flush, METH_NOARGS, "flush(): Replier.flush."},
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

static PyObject *refusal_names[GB_RX_REFUSALS];

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
        address = PyLong_AsUnsignedLongLong(ip);
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

static PyMethodDef module_methods[] = {
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
        || PyType_Ready(&ReplierCoreType) < 0)
        return NULL;
    if (!(s_next_seq = PyUnicode_InternFromString("next_seq"))
        || !(s_messages = PyUnicode_InternFromString("messages"))
        || !(s_next_order_id = PyUnicode_InternFromString("next_order_id"))
        || !(s_resync = PyUnicode_InternFromString("_resync"))
        || !(s_refused = PyUnicode_InternFromString("_refused"))
        || !(code_new_order = PyLong_FromLong(GB_CMD_NEW_ORDER_CODE))
        || !(code_cancel = PyLong_FromLong(GB_CMD_CANCEL_CODE))
        || !(code_replace = PyLong_FromLong(GB_CMD_REPLACE_CODE))
        || !(zero = PyLong_FromLong(0)))
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
