/* DpdkUdp's loops over a received burst's descriptors and a send burst's slots.
 *
 * Part of the one translation unit dpdk_bridge/_ouchfast.c includes, in its order.
 */

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
