"""The engine's command validation, as pure functions.

One definition of what a command must be before it may change a book, used
by the engine (host/engine.py) and by anything that must predict it (the
hybrid host's front end). Nothing here reads or changes engine state: the
caller passes the symbol's spec, the halt flag and the ids already used.

Every value a command carries ends up in an event, so a value is valid only
if it fits its field in gatebook.wire.internal. Integers may be `int` or an
`int` subclass such as the project's IntEnums (`Side.SELL`); `bool` is not an
integer here, and neither is a float or anything else. The checks test
`type(x) is int` first, which is what the hot path carries; an `int`
subclass fails that test and is converted (`plain_command`) and checked
again, so events and books only ever hold plain ints.
"""

from types import SimpleNamespace

from gatebook.wire.enums import OrderType, RejectReason

from .book import TICK_CAP, Book

__all__ = [
    "NOT_EXACT", "check_new_order", "check_replace", "new_order_reject_reason",
    "replace_reject_reason", "stamp_reject_reason", "plain", "plain_command",
    "clean_u16", "clean_u32", "clean_u64",
]

# Plain ints, so events compare and encode the same whoever built them.
_R = SimpleNamespace(**{reason.name: int(reason) for reason in RejectReason})
_LIMIT, _MARKET, _STOP, _STOP_LIMIT = (int(t) for t in OrderType)

_U16 = 0xFFFF
_U32 = 0xFFFF_FFFF
_U64 = (1 << 64) - 1

NOT_EXACT = -1
"""What the `check_*` functions return when a field is an int subclass (an
IntEnum member): convert the command with `plain_command` and check again."""


def _why(value, reason):
    """`reason`, or NOT_EXACT when `value` is an int subclass (not bool): check it again plain."""
    if type(value) is not int and isinstance(value, int) and type(value) is not bool:
        return NOT_EXACT
    return reason


def plain(value):
    """`value` as a plain int if it is an int subclass other than bool; else unchanged.

    `int.__index__` rather than `int()`: a subclass cannot override what it returns.
    """
    if type(value) is not int and isinstance(value, int) and type(value) is not bool:
        return int.__index__(value)
    return value


def plain_command(command):
    """`command` with every int-subclass field (bools excepted) made a plain int."""
    return tuple(plain(value) for value in command)


def stamp_reject_reason(seq, ts):
    """INVALID_STAMP unless `seq` and `ts` are 64-bit unsigned integers, else 0."""
    seq, ts = plain(seq), plain(ts)
    if type(seq) is not int or type(ts) is not int or not 0 <= seq <= _U64 or not 0 <= ts <= _U64:
        return _R.INVALID_STAMP
    return 0


def check_new_order(spec, halted, used_ids, seq, ts, symbol, order_id, user, side, order_type,
                    tif, price, stop_price, qty):
    """Why a new order would be rejected (a RejectReason value), 0, or NOT_EXACT.

    The fast form of `new_order_reject_reason`, for callers that convert int
    subclasses themselves (the engine, on its hot path). The first failing
    check wins, in the order docs/matching.md states.
    """
    # One `if` per field, type and range together, as cheap as the checks can be
    # on the hot path; `_why` sorts the failures out. Once a quantity or a price is
    # known to fit 32 bits it is copied into a local (`lots`, `limit`) that the compiled
    # build holds as a C integer (validation.pxd), so the limits, the lot and the tick
    # are C comparisons and C remainders, not Python-int operations.
    if type(seq) is not int or type(ts) is not int or not 0 <= seq <= _U64 \
            or not 0 <= ts <= _U64:
        return NOT_EXACT if _why(seq, 0) or _why(ts, 0) else _R.INVALID_STAMP
    if type(order_id) is not int or not 0 < order_id <= _U64:
        return _why(order_id, _R.INVALID_ORDER_ID)
    if type(user) is not int or not 0 <= user <= 0xFFFF_FFFF:
        return _why(user, _R.INVALID_USER)
    if order_id in used_ids:
        return _R.DUPLICATE_ORDER_ID
    if spec is None or type(symbol) is not int:
        return _R.UNKNOWN_SYMBOL if spec is None else _why(symbol, _R.UNKNOWN_SYMBOL)
    if type(side) is not int or side != 0 and side != 1:
        return _why(side, _R.INVALID_SIDE)
    if type(order_type) is not int or not 0 <= order_type <= 3:
        return _why(order_type, _R.INVALID_ORDER_TYPE)
    if type(tif) is not int or not 0 <= tif <= 3:
        return _why(tif, _R.INVALID_TIME_IN_FORCE)
    if type(qty) is not int or qty <= 0:
        return _why(qty, _R.INVALID_QUANTITY)
    if qty > 0xFFFF_FFFF:                   # wider than the field: above any symbol's limit
        return _R.QUANTITY_TOO_LARGE
    lots = qty
    kind = order_type
    if type(spec) is Book:
        # The engine's own book: the compiled build reads these as struct fields
        # (validation.pxd types `book`), not as attribute look-ups by name.
        book = spec
        max_qty, lot_size, tick_size = book.max_order_qty, book.lot_size, book.capped_tick
        price_min, price_max = book.price_min, book.price_max
        notional_binds = book.notional_binds
    else:
        max_qty, lot_size = spec.max_order_qty, spec.lot_size
        tick_size = min(spec.tick_size, TICK_CAP)
        price_min, price_max = spec.price_min, spec.price_max
        notional_binds = spec.notional_binds
    if lots > max_qty:
        return _R.QUANTITY_ABOVE_LIMIT
    if lots % lot_size:
        return _R.QUANTITY_NOT_LOT_MULTIPLE
    if kind == _LIMIT or kind == _STOP_LIMIT:
        if type(price) is not int or price <= 0:
            return _why(price, _R.INVALID_PRICE)
        if price > 0xFFFF_FFFF:             # above every band; on the tick or not?
            return _R.PRICE_NOT_ON_TICK if price % spec.tick_size else _R.PRICE_OUTSIDE_BAND
        limit = price
        if limit % tick_size:
            return _R.PRICE_NOT_ON_TICK
        if not price_min <= limit <= price_max:
            return _R.PRICE_OUTSIDE_BAND
    elif type(price) is not int or price:
        return _why(price, _R.PRICE_NOT_ALLOWED)
    if kind >= _STOP:
        if _check_price(spec, stop_price):
            return _why(stop_price, _R.INVALID_STOP_PRICE)
    elif type(stop_price) is not int or stop_price:
        return _why(stop_price, _R.INVALID_STOP_PRICE)
    # Market and stop orders have no limit: the top of the band bounds what they pay.
    if notional_binds and qty * (price or price_max) > spec.max_notional:
        return _R.NOTIONAL_ABOVE_LIMIT
    if halted:
        return _R.SYMBOL_HALTED
    return 0


def new_order_reject_reason(spec, halted, used_ids, seq, ts, symbol, order_id, user, side,
                            order_type, tif, price, stop_price, qty):
    """Why a new order would be rejected (a RejectReason value), or 0; changes nothing.

    The engine's one definition of new-order validation, also used by anything
    that must predict it (the hybrid host's front end). The first failing
    check wins, in the order docs/matching.md states.

    Parameters
    ----------
    spec : SymbolSpec or Book or None
        The symbol's parameters (anything with tick_size, lot_size, price_min,
        price_max, max_order_qty, max_notional and notional_binds); None when
        the symbol is not listed.
    halted : bool
        Whether the symbol is halted.
    used_ids : container of int
        Every order id accepted so far.
    seq, ts, symbol, order_id, user, side, order_type, tif, price, stop_price, qty
        The NEW_ORDER command's fields (gatebook.wire.internal), as given.

    Returns
    -------
    int
        A RejectReason value, or 0 when the order would be accepted.
    """
    fields = (seq, ts, symbol, order_id, user, side, order_type, tif, price, stop_price, qty)
    reason = check_new_order(spec, halted, used_ids, *fields)
    if reason == NOT_EXACT:
        reason = check_new_order(spec, halted, used_ids, *plain_command(fields))
    return reason


def check_replace(spec, price, qty):
    """`replace_reject_reason`, or NOT_EXACT for an int-subclass price or quantity."""
    if type(qty) is not int or qty <= 0:
        return _why(qty, _R.INVALID_QUANTITY)
    if qty > 0xFFFF_FFFF:
        return _R.QUANTITY_TOO_LARGE
    lots = qty                              # a C integer when compiled, as in check_new_order
    if type(spec) is Book:
        book = spec
        max_qty, lot_size, notional_binds = book.max_order_qty, book.lot_size, book.notional_binds
    else:
        max_qty, lot_size, notional_binds = spec.max_order_qty, spec.lot_size, spec.notional_binds
    if lots > max_qty:
        return _R.QUANTITY_ABOVE_LIMIT
    if lots % lot_size:
        return _R.QUANTITY_NOT_LOT_MULTIPLE
    reason = _check_price(spec, price)
    if reason:
        return _why(price, reason)
    if notional_binds and qty * price > spec.max_notional:
        return _R.NOTIONAL_ABOVE_LIMIT
    return 0


def replace_reject_reason(spec, price, qty):
    """Why a replace's new price and quantity fail the symbol's checks, or 0.

    Only the stateless checks (quantity, price, notional); the engine adds the
    order's own (owner, pending stop, halt).

    Parameters
    ----------
    spec : SymbolSpec or Book
        The order's symbol, as for `new_order_reject_reason`.
    price, qty
        The REPLACE command's new price and quantity, as given.

    Returns
    -------
    int
        A RejectReason value, or 0.
    """
    reason = check_replace(spec, price, qty)
    if reason == NOT_EXACT:
        reason = check_replace(spec, plain(price), plain(qty))
    return reason


def _check_price(spec, price):
    if type(price) is not int or price <= 0:
        return _R.INVALID_PRICE
    if price > 0xFFFF_FFFF:                 # above every band (SymbolSpec: 32 bits)
        return _R.PRICE_NOT_ON_TICK if price % spec.tick_size else _R.PRICE_OUTSIDE_BAND
    limit = price                           # a C integer when compiled
    if type(spec) is Book:
        book = spec
        tick_size, price_min, price_max = book.capped_tick, book.price_min, book.price_max
    else:
        tick_size = min(spec.tick_size, TICK_CAP)
        price_min, price_max = spec.price_min, spec.price_max
    if limit % tick_size:
        return _R.PRICE_NOT_ON_TICK
    if not price_min <= limit <= price_max:
        return _R.PRICE_OUTSIDE_BAND
    return 0


def clean_u64(value):
    """`value` if it fits an unsigned 64-bit field, else 0: for the fields of a REJECTED event."""
    value = plain(value)
    return value if type(value) is int and 0 <= value <= _U64 else 0


def clean_u32(value):
    value = plain(value)
    return value if type(value) is int and 0 <= value <= _U32 else 0


def clean_u16(value):
    value = plain(value)
    return value if type(value) is int and 0 <= value <= _U16 else 0
