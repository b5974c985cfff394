# Types for the compiled build of engine.py (Cython, pure-Python mode); the .py is the source.
# Command fields stay Python objects until validated (any of them may be hostile); what is
# known to hold is typed: the engine's own containers, books, orders and list indices.
cimport cython

from gatebook.host.book cimport Book
from gatebook.host.engine_admin cimport admin, mass_cancel, remove_order, set_halted
from gatebook.host.validation cimport (check_new_order, check_replace, clean_u16, clean_u32,
                                       clean_u64, stamp_reject_reason)

cdef Py_ssize_t ORDER_ID, USER, SYMBOL, SIDE, ORDER_TYPE, TIF, PRICE, STOP_PRICE, QTY, SEQ
cdef Py_ssize_t PENDING_STOP, _REJECT_REASON, _CODE
cdef object _NEW_ORDER, _CANCEL, _REPLACE, _MASS_CANCEL, _ADMIN
cdef object _ACCEPTED, _REJECTED, _CANCELLED, _REPLACED, _STOP_TRIGGERED
cdef object _TRADING_STATE, _CANCEL_USER, _FOK_KILL, _SELF_TRADE, _IOC_REMAINDER, _PROTECTION, _HALT
cdef object _U32, _U64
cdef Py_ssize_t _LIMIT, _MARKET, _STOP, _STOP_LIMIT, _GTC, _IOC, _FOK, BUY
cdef long long NO_LIMIT


@cython.final
cdef class MatchingEngine:
    cdef public dict orders
    cdef public dict books
    cdef public bint self_trade_prevention
    cdef public set used_ids
    cdef public object match_id
    cdef public object last_seq
    cdef public dict rejects
    cdef list _listeners
    cdef object _notify

    @cython.locals(count=Py_ssize_t, last=tuple)
    cpdef list apply(self, command)

    cdef _reject_malformed(self, command, reason, list events)

    @cython.locals(book=Book, used_ids=set, order=list, kind=Py_ssize_t, lasting=Py_ssize_t,
                   on_side=Py_ssize_t, limit=cython.longlong)
    cdef _new_order(self, command, list events)

    @cython.locals(side=Py_ssize_t, kind=Py_ssize_t, tif=Py_ssize_t, market=bint,
                   protected=bint, banded=bint, stp=bint, threshold=cython.longlong,
                   unbanded=cython.longlong, band=cython.longlong)
    cdef _execute(self, Book book, list order, list events, seq, ts)

    cdef _trip(self, Book book, list order, list events, seq, ts)

    cdef _resume_if_paused(self, Book book, list events, seq, ts)

    @cython.locals(triggered=list, position=Py_ssize_t, order=list)
    cdef _release_stops(self, Book book, list events, seq, ts)

    @cython.locals(order=list)
    cdef tuple _find_own(self, seq, ts, order_id, user)

    @cython.locals(order=list, book=Book)
    cdef _cancel(self, command, list events)

    @cython.locals(book=Book, order=list, fresh=list)
    cdef _replace(self, command, list events)

