# Types for the compiled build of engine_admin.py (Cython, pure-Python mode); the .py is the
# source. cpdef, so the compiled engine calls them directly (engine.pxd cimports them). The
# engine arrives untyped: this module reads only its public attributes.
cimport cython

from gatebook.host.book cimport Book

cdef Py_ssize_t ORDER_ID, USER, SYMBOL, TIF, QTY, SEQ, PENDING_STOP

cpdef mass_cancel(engine, command, list events)
@cython.locals(books=list, book=Book)
cpdef admin(engine, command, list events)
@cython.locals(book=Book)
cpdef remove_order(dict books, list order, reason, list events, seq, ts)
@cython.locals(book=Book)
cpdef set_halted(list books, bint halted, list events, seq, ts)
cpdef list in_priority(list orders)
