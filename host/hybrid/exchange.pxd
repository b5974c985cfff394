# Types for the compiled build of exchange.py (Cython, pure-Python mode); the .py is the source.
# Command fields stay Python objects (any of them may be hostile: the engine judges them);
# field indexes from the tables are C integers; the host's own containers are typed.
cimport cython

cdef Py_ssize_t _CODE, _SEQ, _TS, _NEW_SYMBOL, _NEW_SIDE, _NEW_ORDER_ID
cdef Py_ssize_t _MASS_SCOPE, _MASS_SYMBOL, _ADMIN_ACTION, _ADMIN_SYMBOL
cdef Py_ssize_t _EXECUTED_MATCH_ID, _EXECUTED_AGGRESSOR_LEAVES, _TRADE_MATCH_ID
cdef Py_ssize_t _ACCEPTED_ORDER_ID, _LEVEL_SIDE, _NEW_TYPE, _NEW_TIF, _NEW_PRICE
cdef Py_ssize_t _REPLACE_PRICE, _CANCEL_ORDER_ID, _REPLACE_ORDER_ID, _ORDER_SIDE
cdef Py_ssize_t _LINK_SEQ, _PUNT_SYMBOL, _PUNT_REASON, _PUNT_HANDOVER, _PUNT_LAST_PRICE
cdef object _NEW, _CANCEL, _REPLACE, _MASS, _ADMIN
cdef object _ACCEPTED, _EXECUTED, _TRADE, _LEVEL, _CANCELLED, _REJECTED
cdef object _LOAD, _OWN, _HOST, _FLUSH, _SPILL, _PUNT
cdef object _BUY, _LIMIT, _MARKET, _U64, _NOT_OWNER, _NOT_OWNER_REJECT, _USER_SCOPE
cdef tuple _RESTS, _SYMBOL_SCOPES, _LOADS_BEFORE
cdef frozenset _LANE_WRITES_LINK
cdef dict _ARITY, _FIELD_MAX, _ORDER_ID_AT, _USER_AT


@cython.final
cdef class _Lane:
    cdef public Py_ssize_t index
    cdef public object link, send, home, symbol, pending, match_next
    cdef public list flushed
    cdef public Py_ssize_t idle, loads, handovers


@cython.final
cdef class _Entry:
    cdef public object command, seq, kept
    cdef public Py_ssize_t waiting
    cdef public list events, punts, spills
    cdef public tuple touched
    cdef public bint reclaim


cdef class HybridExchange:
    cdef dict __dict__
    cdef public object engine, front, policy, queue, punts
    cdef public list lanes
    cdef public dict home_lane, owner, touching, kept_sides
    cdef public Py_ssize_t window, lane_commands, host_kept, evictions
    cdef list _listeners
    cdef dict _symbol_ids
    cdef tuple _all_symbols

    @cython.locals(symbols=tuple, home_lane=dict, lane=_Lane, owner=dict, entry=_Entry,
                   touching=dict)
    cpdef submit(self, command)

    cdef _apply_on_host(self, command, tuple symbols)

    cdef tuple _symbols_of(self, command)

    @cython.locals(symbol_ids=dict)
    cdef tuple _named_symbols(self, code, command)

    @cython.locals(touched=tuple, lane=_Lane, home=_Lane, new=bint)
    cdef _route(self, _Entry entry)

    @cython.locals(kept_sides=dict)
    cdef _lane_would_punt(self, code, command, accepted, symbol)

    cdef _send(self, _Lane lane, _Entry entry, record, handover)

    cdef _maybe_load(self, _Lane lane)

    @cython.locals(lane=_Lane, progressed=bint)
    cdef _pump(self)

    @cython.locals(entry=_Entry, events=list)
    cdef _receive(self, _Lane lane, record)

    @cython.locals(merged=bint, entry=_Entry, touching=dict, listeners=list)
    cdef bint _merge(self) except -1

    @cython.locals(lane=_Lane, reject=bint)
    cdef _resolve(self, _Entry entry)

    @cython.locals(index=Py_ssize_t)
    cdef list _restamp(self, list events)


cdef bint _behind(best, side, price) except -1

@cython.locals(index=Py_ssize_t)
cdef bint _fits_wire(command) except -1

cdef bint _all_plain_ints(command) except -1

cdef bint _none_owned(dict owner, tuple symbols) except -1

cdef bint _finished(command, list events) except -1

cdef _flushed_order(record)
