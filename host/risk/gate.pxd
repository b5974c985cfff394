# Types for the compiled build of gate.py (Cython, pure-Python mode); the .py is the source.
# Command fields stay Python objects until the engine has accepted them (any may be hostile);
# an event's field indexes are C integers; amounts stay Python ints, so nothing can wrap.
cimport cython

cdef Py_ssize_t _N_SEQ, _N_TS, _N_SYMBOL, _N_ORDER_ID, _N_USER, _N_SIDE, _N_TYPE, _N_TIF
cdef Py_ssize_t _N_PRICE, _N_STOP, _N_QTY
cdef Py_ssize_t _U_SEQ, _U_TS, _U_ORDER_ID, _U_USER, _U_PRICE, _U_QTY
cdef Py_ssize_t _J_SEQ, _J_TS, _J_COMMAND, _J_SYMBOL, _J_ORDER_ID, _J_USER, _J_REASON, _J_SIZE
cdef Py_ssize_t _A_SYMBOL, _A_ORDER_ID, _A_USER, _A_SIDE, _A_TYPE, _A_PRICE, _A_QTY
cdef Py_ssize_t _E_AGGRESSOR, _E_AGGRESSOR_LEAVES, _E_RESTING, _E_RESTING_LEAVES
cdef Py_ssize_t _E_PRICE, _E_QTY, _E_SYMBOL, _E_SIDE, _E_AGGRESSOR_USER, _E_RESTING_USER
cdef Py_ssize_t _C_ORDER_ID, _R_ORDER_ID, _R_PRICE, _R_QTY, _S_ORDER_ID
cdef Py_ssize_t _CODE
cdef object _BUY, _LIMIT, _STOP_LIMIT, _STOP
cdef object _NEW_ORDER, _REPLACE, _REJECTED
cdef Py_ssize_t _EXECUTED, _ACCEPTED, _CANCELLED, _REPLACED, _STOP_TRIGGERED
cdef object _INSUFFICIENT_BUYING_POWER, _POSITION_LIMIT, _ORDER_SIZE_LIMIT
cdef object _ORDER_NOTIONAL_LIMIT, _NO_RISK_LIMITS
cdef unsigned long long _U32, _U64
cdef long long _POSITION_CAP

cpdef object _fee(object per_share, object rate_ppm, object qty, object notional)


@cython.final
cdef class Exposure:
    cdef public long long position, open_buys, open_sells


@cython.final
cdef class Account:
    cdef public object limits, cash, reserved
    cdef public object buying_power
    cdef public long long max_position, max_order_qty
    cdef public unsigned long long max_order_notional
    cdef public dict symbols

    cpdef set_limits(self, limits)

    cpdef Exposure exposure(self, symbol)


@cython.final
cdef class OpenOrder:
    cdef public object user, symbol, side, price, reserved, hold
    cdef public long long leaves
    cdef public bint waiting_stop
    cdef public Account account
    cdef public Exposure exposure


@cython.final
cdef class RiskGate:
    cdef public object engine
    cdef object _engine_apply
    cdef public dict specs, accounts, orders, rejected, limits
    cdef public object default_limits, fees, used_ids
    cdef bint _own_ids
    cdef dict _buy_allowance, _sell_hold
    cdef tuple _buy_maker, _buy_taker, _sell_maker, _sell_taker
    cdef tuple _buy_fees
    cdef object _buy_flat

    cdef Account _account(self, user)

    cpdef list apply(self, command)

    cdef object _check_new_order(self, command)

    @cython.locals(order=OpenOrder)
    cdef object _check_replace(self, command)

    @cython.locals(account=Account, exposure=Exposure, shares="long long", at="long long",
                   freed="long long", notional="unsigned long long")
    cdef object _check(self, user, symbol, side, price, qty, OpenOrder replacing)

    cdef object _hold(self, symbol, side, price)

    cdef tuple _reject(self, command, reason)

    @cython.locals(order=OpenOrder, code=Py_ssize_t)
    cpdef observe(self, events)

    @cython.locals(order=OpenOrder, account=Account)
    cdef _opened(self, order_id, user, symbol, side, order_type, price, qty, bint waiting_stop)

    @cython.locals(aggressor=OpenOrder, resting=OpenOrder, buying=OpenOrder, selling=OpenOrder,
                   orders=dict, account=Account, exposure=Exposure, qty="long long",
                   leaves="long long")
    cdef _executed(self, event)

    @cython.locals(exposure=Exposure, account=Account)
    cdef _resize(self, OpenOrder order, long long leaves)
