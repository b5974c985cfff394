/* Loading and copying the gateway's state (restart, snapshots); GatewayCore's type.
 *
 * Part of the one translation unit dpdk_bridge/_ouchfast.c includes, in its order.
 */

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

/* core.forget_peer(session): the session's replies go nowhere until a frame
   from it names a peer again (Gateway.forget_peer: gateway.peers loses the key).
   The mirror keeps its slot, holding Py_None, which the replier skips. */
static PyObject *core_forget_peer(GatewayCore *self, PyObject *session)
{
    uint64_t id;
    Slot *s;
    if (as_uint(session, 4, &id) < 0)
        return NULL;
    s = table_find(&self->peer_set, 0, id);
    if (s != NULL && s->value != (uint64_t)(uintptr_t)Py_None) {
        PyObject *old = (PyObject *)(uintptr_t)s->value;
        Py_INCREF(Py_None);
        s->value = (uint64_t)(uintptr_t)Py_None;
        s->token = 0;
        Py_XDECREF(old);
    }
    if (self->peers != NULL && PyDict_Contains(self->peers, session) == 1
        && PyDict_DelItem(self->peers, session) < 0)
        return NULL;
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

/* core.note_origin(seq, session, number): Gateway.note_origin, the origin of a
   command the session layer stamps (a mass cancel, an admin message). */
static PyObject *core_note_origin(GatewayCore *self, PyObject *const *args, Py_ssize_t nargs)
{
    uint64_t seq, session, number;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "note_origin(seq, session, number)");
        return NULL;
    }
    if (seq_arg(args[0], &seq) <= 0 || as_uint(args[1], 4, &session) < 0
        || as_uint(args[2], 8, &number) < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "note_origin: a seq is a positive 64-bit integer");
        return NULL;
    }
    origin_set(self, seq, (uint32_t)session, 0, number, 0, 0);
    Py_RETURN_NONE;
}

static int forget_order(GatewayCore *gw, PyObject *order_id);   /* replier.c */

/* core.forget_order(order_id): Gateway.forget_order, for a Python replier over this core. */
static PyObject *core_forget_order(GatewayCore *self, PyObject *order_id)
{
    if (forget_order(self, order_id) < 0)
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
    {"pipeline", (PyCFunction)core_pipeline, METH_O,
     "pipeline(settle): keep renames by seq; say settle before what waits for answers"},
    {"renames", (PyCFunction)core_renames, METH_NOARGS,
     "renames() -> [(seq, order id, session, token before)]"},
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
    {"note_origin", (PyCFunction)(void (*)(void))core_note_origin, METH_FASTCALL,
     "note_origin(seq, session, number): Gateway.note_origin"},
    {"forget_order", (PyCFunction)core_forget_order, METH_O,
     "forget_order(order_id): forget a gone order's token and owner (Gateway.forget_order)"},
    {"forget_peer", (PyCFunction)core_forget_peer, METH_O,
     "forget_peer(session): its replies go nowhere until it sends again (Gateway.forget_peer)"},
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
