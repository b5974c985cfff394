/* The iterator Gateway.commands is in Python: one command tuple per next().
 *
 * Part of the one translation unit dpdk_bridge/_ouchfast.c includes, in its order.
 */

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

/* Gateway._unsettled: the message at `p` must wait for the answers in flight (an
   enter order whose token names an order, a replace to a token naming another),
   or a rename has no room left to be kept. */
static int unsettled(GatewayCore *core, uint32_t session, const uint8_t *p, int code)
{
    if (code == GB_OUCH_ENTER_ORDER_CODE)
        return table_find(&core->tokens, session, GET(p, ENTER_ORDER, ORDER_TOKEN)) != NULL;
    if (code == GB_OUCH_REPLACE_ORDER_CODE) {
        uint64_t existing = GET(p, REPLACE_ORDER, EXISTING_ORDER_TOKEN);
        uint64_t replacement = GET(p, REPLACE_ORDER, REPLACEMENT_ORDER_TOKEN);
        return replacement != existing && table_find(&core->tokens, session, existing) != NULL
               && (core->rename_count == RENAME_SLOTS
                   || table_find(&core->tokens, session, replacement) != NULL);
    }
    return 0;
}

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
    if (core->settle != NULL) {
        if (!it->settled && unsettled(core, it->session, p, code)) {
            it->settled = 1;
            Py_INCREF(core->settle);
            return core->settle;
        }
        it->settled = 0;
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
        if (id && replacement != existing) {
            /* the order is known by its new token only (Gateway.commands) */
            if (table_put(&core->tokens, it->session, replacement, id, 0) < 0
                || owner_put(&core->owners, id, it->session, replacement) < 0)
                goto fail;
            table_del(&core->tokens, it->session, existing);
            if (core->settle != NULL) {
                Rename *r = core->renames
                            + ((core->rename_head + core->rename_count++) & (RENAME_SLOTS - 1));
                r->seq = seq; r->id = id; r->token = existing; r->session = it->session;
            }
        }
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
