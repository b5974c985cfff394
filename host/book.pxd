# Types for the compiled build of book.py (Cython, pure-Python mode); the .py is the source.
# Only what is known to hold: an order's list index and a side are small C integers; prices
# and quantities stay Python ints, so no arithmetic can wrap.
cimport cython

cdef Py_ssize_t ORDER_ID, USER, SYMBOL, SIDE, ORDER_TYPE, TIF, PRICE, STOP_PRICE, QTY, SEQ
cdef Py_ssize_t PENDING_STOP
cdef object _EXECUTED, _TRADE, _LEVEL
cdef Py_ssize_t _CUT_FRONT, _SWEEP
cdef long long _NO_LEVEL


@cython.final
cdef class Level:
    cdef public object price
    cdef public list orders
    cdef public Py_ssize_t head, sweep
    cdef public object qty
    cdef public Py_ssize_t count


@cython.final
cdef class Book:
    cdef public object spec
    cdef public object symbol
    cdef public object tick_size, max_notional
    cdef public long long capped_tick, lot_size, price_min, price_max, max_order_qty
    cdef public bint notional_binds
    cdef public object protection_ticks, protection_percent
    cdef public bint protected
    cdef public object breaker_percent, breaker_window_ns, breaker_pause_ns
    cdef public bint breaker
    cdef public object breaker_reference, breaker_window_end, resume_at
    cdef public dict registry
    cdef public tuple levels, keys, stops
    cdef public Py_ssize_t pending_stops
    cdef public list triggered
    cdef public object last_trade_price
    cdef public bint halted

    @cython.locals(side=Py_ssize_t, level=Level, count=Py_ssize_t, side_levels=dict)
    cpdef rest(self, list order, list events, seq, ts)

    @cython.locals(side=Py_ssize_t, level=Level, count=Py_ssize_t, keys=list, orders=list,
                   start=Py_ssize_t, end=Py_ssize_t, kept=list)
    cpdef unrest(self, list order, list events, seq, ts)

    @cython.locals(level=Level)
    cpdef reduce(self, list order, new_qty, list events, seq, ts)

    @cython.locals(opposite=Py_ssize_t, levels=dict, level=Level, resting=list)
    cpdef crossing_qty(self, Py_ssize_t side, long long threshold, wanted, user,
                       bint self_trade_prevention)

    @cython.locals(side=Py_ssize_t, opposite=Py_ssize_t, keys=list, levels=dict,
                   registry=dict, level=Level, count=Py_ssize_t, resting=list,
                   queue=list, head=Py_ssize_t,
                   self_trade=bint, buy_stops=list, sell_stops=list)
    cpdef tuple match(self, list taker, long long threshold, bint self_trade_prevention,
                      match_id, list events, seq, ts)

    @cython.locals(keys=list)
    cpdef protection_threshold(self, Py_ssize_t side)

    cpdef breaker_band(self, Py_ssize_t side, ts)

    @cython.locals(keys=list)
    cpdef long long best_key(self, Py_ssize_t side)

    cpdef add_stop(self, list order)

    cpdef drop_stop(self, list order)

    @cython.locals(heap=list, order=list)
    cpdef collect_triggers(self, price)
