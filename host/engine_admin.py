"""The engine's commands over many orders at once: mass cancel and admin.

`MatchingEngine.apply` hands MASS_CANCEL and ADMIN commands here (host/engine.py keeps
the per-order path: new orders, matching, stops, cancel and replace). Both go through
the engine's public state only (`orders`, `books`, `last_seq`) and the books' own
methods, and append their events to the list the engine passes in, so the rules stay
those docs/matching.md states:

- a mass cancel or an admin KILL or END_OF_DAY removes its orders in time priority,
  then id (`in_priority`), never in the registry's insertion order, which a
  snapshot-restored engine does not share and `state_hash()` does not cover;
- every such command ends with one DONE event counting what it removed;
- HALT, RESUME and the circuit breaker change a book's state through `set_halted`,
  which emits TRADING_STATE only when the state changes.
"""

from operator import itemgetter

from gatebook.wire.enums import (ALL_SYMBOLS, AdminAction, CancelReason, MassCancelScope,
                                 RejectReason, TimeInForce)
from gatebook.wire.internal import ADMIN, CANCELLED, DONE, MASS_CANCEL, REJECTED, TRADING_STATE
from gatebook.wire.positions import require_field_order

from .book import ORDER_FIELDS
from .validation import clean_u16, clean_u32, clean_u64, plain_command, stamp_reject_reason

__all__ = ["mass_cancel", "admin", "remove_order", "set_halted", "in_priority"]

# The commands are unpacked whole and the events built whole, one tuple each; these tie
# each to its table, so a table change stops the import.
for _message, _fields in {
    MASS_CANCEL:    ("seq", "ts", "scope", "user", "symbol"),
    ADMIN:          ("seq", "ts", "action", "symbol"),
    REJECTED:       ("seq", "ts", "command", "symbol", "order_id", "user", "reason"),
    CANCELLED:      ("seq", "ts", "symbol", "order_id", "user", "qty", "reason"),
    TRADING_STATE:  ("seq", "ts", "symbol", "halted"),
    DONE:           ("seq", "ts", "command", "affected"),
}.items():
    require_field_order(_message, _fields, __name__)
del _message, _fields

_MASS_CANCEL, _ADMIN = MASS_CANCEL.code, ADMIN.code
_REJECTED, _CANCELLED, _DONE, _TRADING_STATE = (REJECTED.code, CANCELLED.code, DONE.code,
                                                TRADING_STATE.code)
(ORDER_ID, USER, SYMBOL, TIF, QTY, SEQ, PENDING_STOP) = map(
    ORDER_FIELDS.index, ("order_id", "user", "symbol", "tif", "qty", "seq", "pending_stop"))
_DAY = int(TimeInForce.DAY)
# Plain ints, so events compare and encode the same whoever built them.
_UNKNOWN_SYMBOL, _INVALID_SCOPE = int(RejectReason.UNKNOWN_SYMBOL), int(RejectReason.INVALID_SCOPE)
_INVALID_USER = int(RejectReason.INVALID_USER)
_INVALID_ADMIN_ACTION = int(RejectReason.INVALID_ADMIN_ACTION)
_MASS_CANCELLED, _HALTED, _EXPIRED = (int(CancelReason.MASS_CANCEL), int(CancelReason.HALT),
                                      int(CancelReason.EXPIRED))
_U32 = 0xFFFF_FFFF


def mass_cancel(engine, command, events):
    """Apply a MASS_CANCEL command to `engine`, appending its events to `events`.

    Checks, first failure wins: seq and ts, scope, user, symbol (its scopes only).
    """
    _, seq, ts, scope, user, symbol = plain_command(command)
    reason = stamp_reject_reason(seq, ts)
    if not reason:
        engine.last_seq = seq
    if not reason and type(scope) is not int:
        reason = _INVALID_SCOPE
    if not reason and (type(user) is not int or not 0 <= user <= _U32):
        reason = _INVALID_USER
    if not reason and type(symbol) is not int and scope != MassCancelScope.USER:
        reason = _UNKNOWN_SYMBOL
    if reason:
        events.append((_REJECTED, clean_u64(seq), clean_u64(ts), _MASS_CANCEL, clean_u16(symbol), 0,
                       clean_u32(user), reason))
        return
    if scope == MassCancelScope.USER:
        chosen = in_priority([o for o in engine.orders.values() if o[USER] == user])
    elif scope == MassCancelScope.SYMBOL or scope == MassCancelScope.USER_SYMBOL:
        if symbol not in engine.books:
            events.append((_REJECTED, seq, ts, _MASS_CANCEL, clean_u16(symbol), 0, user,
                           _UNKNOWN_SYMBOL))
            return
        chosen = [o for o in engine.orders.values() if o[SYMBOL] == symbol]
        if scope == MassCancelScope.USER_SYMBOL:
            chosen = [o for o in chosen if o[USER] == user]
        chosen = in_priority(chosen)
    else:
        events.append((_REJECTED, seq, ts, _MASS_CANCEL, clean_u16(symbol), 0, user,
                       _INVALID_SCOPE))
        return
    for order in chosen:
        remove_order(engine.books, order, _MASS_CANCELLED, events, seq, ts)
    events.append((_DONE, seq, ts, _MASS_CANCEL, len(chosen)))


def admin(engine, command, events):
    """Apply an ADMIN command (HALT, RESUME, KILL, END_OF_DAY) to `engine`.

    Checks, first failure wins: seq and ts, symbol, action.
    """
    _, seq, ts, action, symbol = plain_command(command)
    reason = stamp_reject_reason(seq, ts)
    if not reason:
        engine.last_seq = seq
    if not reason and type(symbol) is not int:
        reason = _UNKNOWN_SYMBOL
    if not reason and type(action) is not int:
        reason = _INVALID_ADMIN_ACTION
    if reason:
        events.append((_REJECTED, clean_u64(seq), clean_u64(ts), _ADMIN, clean_u16(symbol), 0, 0,
                       reason))
        return
    if symbol == ALL_SYMBOLS:
        books = list(engine.books.values())
    elif symbol in engine.books:
        books = [engine.books[symbol]]
    else:
        events.append((_REJECTED, seq, ts, _ADMIN, clean_u16(symbol), 0, 0, _UNKNOWN_SYMBOL))
        return
    chosen_symbols = {book.symbol for book in books}
    orders = engine.orders
    if action == AdminAction.HALT or action == AdminAction.KILL:
        set_halted(books, True, events, seq, ts)
        chosen = [] if action == AdminAction.HALT else \
            in_priority([o for o in orders.values() if o[SYMBOL] in chosen_symbols])
        reason = _HALTED
    elif action == AdminAction.RESUME:
        set_halted(books, False, events, seq, ts)
        chosen = []
    elif action == AdminAction.END_OF_DAY:
        chosen = in_priority([o for o in orders.values()
                              if o[TIF] == _DAY and o[SYMBOL] in chosen_symbols])
        reason = _EXPIRED
    else:
        events.append((_REJECTED, seq, ts, _ADMIN, clean_u16(symbol), 0, 0, _INVALID_ADMIN_ACTION))
        return
    for order in chosen:
        remove_order(engine.books, order, reason, events, seq, ts)
    events.append((_DONE, seq, ts, _ADMIN, len(chosen)))


def remove_order(books, order, reason, events, seq, ts):
    """Cancel a live order (resting or a pending stop) with `reason`: its CANCELLED event,
    then whatever its book emits (the LEVEL event of a resting order)."""
    book = books[order[SYMBOL]]
    events.append((_CANCELLED, seq, ts, order[SYMBOL], order[ORDER_ID], order[USER], order[QTY],
                   reason))
    if order[PENDING_STOP]:
        book.drop_stop(order)
    else:
        book.unrest(order, events, seq, ts)


def set_halted(books, halted, events, seq, ts):
    """Halt or resume each of `books`; a TRADING_STATE event for each that changes.

    An admin's halt or resume also ends a circuit breaker's timed halt, and resuming
    opens a new breaker window, whose reference is the last trade (docs/matching.md,
    "Circuit breaker").
    """
    for book in books:
        book.resume_at = 0
        if book.halted != halted:
            book.halted = halted
            if not halted:
                book.breaker_window_end = 0
            events.append((_TRADING_STATE, seq, ts, book.symbol, int(halted)))


def in_priority(orders):
    """`orders` sorted in place into time priority, then id; returned."""
    orders.sort(key=_PRIORITY)
    return orders


_PRIORITY = itemgetter(SEQ, ORDER_ID)
