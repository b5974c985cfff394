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

/* One translation unit, in parts a person can read one at a time. */
#include "ouchfast/tables.c"
#include "ouchfast/gateway.c"
#include "ouchfast/commands.c"
#include "ouchfast/gateway_state.c"
#include "ouchfast/replier.c"
#include "ouchfast/descriptors.c"

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
