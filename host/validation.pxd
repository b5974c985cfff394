# Types for the compiled build of validation.py (Cython, pure-Python mode); the .py is the
# source. The checks are cpdef so the compiled engine calls them directly (engine.pxd
# cimports them); every argument stays a Python object: judging it is their job. What a
# check has already proved fits 32 bits (`lots`, `limit`) and the symbol's limits are C
# integers from there on.
cimport cython

from gatebook.host.book cimport Book

cdef object _R
cdef long long _LIMIT, _MARKET, _STOP, _STOP_LIMIT
cdef object _U16, _U32, _U64

cpdef _why(value, reason)
cpdef plain(value)
cpdef stamp_reject_reason(seq, ts)
@cython.locals(book=Book, lots=cython.longlong, kind=cython.longlong, limit=cython.longlong,
               max_qty=cython.longlong, lot_size=cython.longlong, tick_size=cython.longlong,
               price_min=cython.longlong, price_max=cython.longlong, notional_binds=bint)
cpdef check_new_order(spec, bint halted, used_ids, seq, ts, symbol, order_id, user, side,
                      order_type, tif, price, stop_price, qty)
@cython.locals(book=Book, lots=cython.longlong, max_qty=cython.longlong,
               lot_size=cython.longlong, notional_binds=bint)
cpdef check_replace(spec, price, qty)
@cython.locals(book=Book, limit=cython.longlong, tick_size=cython.longlong,
               price_min=cython.longlong, price_max=cython.longlong)
cpdef _check_price(spec, price)
cpdef clean_u64(value)
cpdef clean_u32(value)
cpdef clean_u16(value)
