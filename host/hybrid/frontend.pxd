# Types for the compiled build of frontend.py (Cython, pure-Python mode); the .py is the source.
# Command fields stay Python objects (the engine's own validation judges them); field
# indexes from the tables are C integers; the front end's state is typed dicts.
cimport cython

cdef object _NEW, _ADMIN
cdef Py_ssize_t _CODE, _NEW_SYMBOL, _NEW_ORDER_ID, _ADMIN_SEQ, _ADMIN_TS, _ADMIN_ACTION
cdef Py_ssize_t _ADMIN_SYMBOL, _REPLACE_ORDER_ID, _REPLACE_PRICE, _REPLACE_QTY
cdef dict _HALTS


cdef class FrontEnd:
    cdef dict __dict__
    cdef public dict specs, halted, order_symbol

    cpdef advance(self, command)

    cpdef rejects(self, command)

    cpdef replace_checks_fail(self, command)
