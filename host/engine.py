"""The golden-model matching engine.

`MatchingEngine.apply(command)` takes one sequenced command tuple (see
gatebook.wire.internal), changes the books and returns the events it caused,
in order; subscribed listeners receive the same list. The engine reads no
clock and no randomness: sequence numbers and timestamps come inside the
commands, so the same commands always give the same events and the same
`state_hash()`. Nothing raises out of `apply`: bad input becomes a REJECTED
event with a reason and leaves the books as they were.

Rules that a venue must state, stated:

- Executions are at the resting order's price; time priority is FIFO within a
  level. A replace that lowers quantity at the same price keeps priority; any
  other replace re-enters the order at the back (and may match).
- Market orders and the unfilled part of IOC orders never rest (cancel reason
  IOC_REMAINDER). FOK is checked against the book before any fill.
- A stop triggers on a trade print at or through its stop price (buy: print
  >= stop; sell: print <= stop), or at entry when the last print already
  satisfies it. Stops triggered by one print are released buy side first,
  nearest stop price first, then time; all stops triggered while a command
  runs are processed after it, in trigger order, and may trigger more
  (a cascade), all under the same sequence number. A triggered stop takes
  time priority at that moment.
- Self-trade prevention, when enabled, cancels the incoming order's remainder
  (cancel newest) where it would meet an order of the same user.
- Mass cancels and admin commands (halt, resume, kill, end of day) run in
  host/engine_admin.py, on the same state; this module keeps the per-order path.
- Validation (host/validation.py) order, first failure wins: seq and ts,
  order id, user, duplicate id, symbol, side, order type, time in force,
  quantity, limit price, stop price, notional, halt.
- Every value an event carries fits its field in gatebook.wire.internal:
  commands are validated against the fields' widths and the symbol's limits,
  and LEVEL.qty, a sum of orders' quantities, is 64 bits wide
  (docs/matching.md, "Limits").
"""

from types import SimpleNamespace

from gatebook.wire.enums import CancelReason, OrderType, RejectReason, TimeInForce
from gatebook.wire.internal import (ACCEPTED, ADMIN, CANCEL, CANCELLED, MASS_CANCEL, NEW_ORDER,
                                    REJECTED, REPLACE, REPLACED, STOP_TRIGGERED, TRADING_STATE)
from gatebook.wire.positions import CODE, INTERNAL, require_field_order

from . import engine_state
from .book import BUY, NO_LIMIT, ORDER_FIELDS, Book, new_order
from .engine_admin import admin, mass_cancel, remove_order, set_halted
from .validation import (NOT_EXACT, check_new_order, check_replace, clean_u16, clean_u32,
                         clean_u64, new_order_reject_reason, plain_command,
                         replace_reject_reason, stamp_reject_reason)

__all__ = ["MatchingEngine", "new_order_reject_reason", "replace_reject_reason",
           "stamp_reject_reason", "plain_command"]

_NEW_ORDER, _CANCEL, _REPLACE = NEW_ORDER.code, CANCEL.code, REPLACE.code
_MASS_CANCEL, _ADMIN = MASS_CANCEL.code, ADMIN.code
_ACCEPTED, _REJECTED, _CANCELLED = ACCEPTED.code, REJECTED.code, CANCELLED.code
_REPLACED, _STOP_TRIGGERED = REPLACED.code, STOP_TRIGGERED.code
_TRADING_STATE = TRADING_STATE.code
# Where every command's and event's type code sits (a C integer when compiled), and any
# command's seq and ts, for one too malformed to unpack.
_CODE = CODE
_SEQ, _TS = INTERNAL.NEW_ORDER.seq, INTERNAL.NEW_ORDER.ts
_REJECT_REASON = INTERNAL.REJECTED.reason

# The handlers unpack commands whole and build events whole, in one tuple each
# (the hot path); these tie each to its table, so a table change stops the import.
_ORDER_AS_BUILT = ("seq", "ts", "symbol", "order_id", "user", "side", "order_type", "tif",
                   "price", "stop_price", "qty")
for _message, _fields in {
    NEW_ORDER:      _ORDER_AS_BUILT,
    CANCEL:         ("seq", "ts", "order_id", "user"),
    REPLACE:        ("seq", "ts", "order_id", "user", "price", "qty"),
    ACCEPTED:       _ORDER_AS_BUILT,
    REJECTED:       ("seq", "ts", "command", "symbol", "order_id", "user", "reason"),
    CANCELLED:      ("seq", "ts", "symbol", "order_id", "user", "qty", "reason"),
    REPLACED:       ("seq", "ts", "symbol", "order_id", "user", "price", "qty", "kept_priority"),
    STOP_TRIGGERED: ("seq", "ts", "symbol", "order_id", "user", "stop_price", "trigger_price"),
}.items():
    require_field_order(_message, _fields, __name__)
del _message, _fields
assert all(at.seq == _SEQ and at.ts == _TS
           for at in (INTERNAL.CANCEL, INTERNAL.REPLACE, INTERNAL.MASS_CANCEL, INTERNAL.ADMIN)), \
    "seq and ts moved in a command table"

# A live order's list indices, by name (book.ORDER_FIELDS); C integers when compiled.
(ORDER_ID, USER, SYMBOL, SIDE, ORDER_TYPE, TIF, PRICE, STOP_PRICE, QTY, SEQ,
 PENDING_STOP) = map(ORDER_FIELDS.index, ("order_id", "user", "symbol", "side", "order_type",
                                          "tif", "price", "stop_price", "qty", "seq",
                                          "pending_stop"))

_LIMIT, _MARKET, _STOP, _STOP_LIMIT = (int(t) for t in OrderType)
_GTC, _IOC, _FOK = int(TimeInForce.GTC), int(TimeInForce.IOC), int(TimeInForce.FOK)
# Plain ints, so events compare and encode the same whoever built them.
_R = SimpleNamespace(**{reason.name: int(reason) for reason in RejectReason})
_C = SimpleNamespace(**{reason.name: int(reason) for reason in CancelReason})
# The reasons the hot path uses, read once.
_CANCEL_USER, _FOK_KILL, _SELF_TRADE = _C.USER, _C.FOK_KILL, _C.SELF_TRADE
_IOC_REMAINDER, _PROTECTION, _HALT = _C.IOC_REMAINDER, _C.PROTECTION, _C.HALT
_U32 = 0xFFFF_FFFF
_U64 = (1 << 64) - 1


class MatchingEngine:
    """Books for a set of symbols, driven by sequenced commands.

    Parameters
    ----------
    symbols : iterable of SymbolSpec
        The listed symbols.
    self_trade_prevention : bool
        Cancel an incoming order's remainder where it would trade with an
        order of the same user.
    """

    def __init__(self, symbols, *, self_trade_prevention=False):
        self.orders = {}                    # order id -> live order list (resting or pending stop)
        self.books = {}
        for spec in symbols:
            if spec.symbol_id in self.books:
                raise ValueError(f"symbol id {spec.symbol_id} listed twice")
            self.books[spec.symbol_id] = Book(spec, self.orders)
        self.self_trade_prevention = self_trade_prevention
        self.used_ids = set()               # every order id ever accepted
        self.match_id = 0
        self.last_seq = 0                   # of the last command with a valid stamp (snapshots)
        # Reject reason (int) -> commands rejected for it, since this engine was made: what
        # host/metrics.py reads on a scrape. Not state: neither hashed nor snapshotted.
        self.rejects = {}
        self._listeners = []
        self._notify = _no_listener

    # -- the seam ---------------------------------------------------------

    def subscribe(self, listener):
        """Call `listener(events)` with each command's event list, in order."""
        self._listeners.append(listener)
        listeners = tuple(self._listeners)
        if len(listeners) == 1:
            self._notify = listeners[0]     # the usual case: no loop per command
        else:
            def notify(events):
                for each in listeners:
                    each(events)
            self._notify = notify

    def apply(self, command):
        """Process one sequenced command; return its events."""
        events = []
        try:
            code = command[_CODE]
        except (KeyError, IndexError, TypeError):
            code = None
        try:
            # A chain of comparisons rather than a table of handlers: the compiled build
            # makes each a direct C call, and no table of bound methods makes the engine
            # a reference cycle.
            if code == _NEW_ORDER:
                self._new_order(command, events)
            elif code == _CANCEL:
                self._cancel(command, events)
            elif code == _REPLACE:
                self._replace(command, events)
            elif code == _MASS_CANCEL:
                mass_cancel(self, command, events)
            elif code == _ADMIN:
                admin(self, command, events)
            else:
                self._reject_malformed(command, _R.UNKNOWN_COMMAND, events)
        except (TypeError, ValueError):
            # Only unpacking a command of the wrong shape gets here: every
            # handler validates before it changes any state.
            if events:
                raise
            self._reject_malformed(command, _R.UNKNOWN_COMMAND, events)
        count = len(events)
        if 0 < count <= 2:
            # A rejected command's only event is its reject (after a circuit breaker's
            # timed resume, which the command's stamp lifted); a length test and one look
            # at the last event keep the count, so no listener has to look at every event.
            last = events[count - 1]
            if last[_CODE] == _REJECTED and (count == 1 or events[0][_CODE] == _TRADING_STATE):
                reason = last[_REJECT_REASON]
                self.rejects[reason] = self.rejects.get(reason, 0) + 1
        self._notify(events)
        return events

    def _reject_malformed(self, command, reason, events):
        fields = tuple(command) if isinstance(command, (tuple, list)) else ()
        seq = clean_u64(fields[_SEQ]) if len(fields) > _SEQ else 0
        ts = clean_u64(fields[_TS]) if len(fields) > _TS else 0
        code = fields[CODE] if fields and type(fields[CODE]) is int and 0 <= fields[CODE] <= 0xFF else 0
        events.append((_REJECTED, seq, ts, code, 0, 0, 0, reason))

    # -- new orders -------------------------------------------------------

    def _new_order(self, command, events):
        (_, seq, ts, symbol, order_id, user, side, order_type, tif,
         price, stop_price, qty) = command
        book = self.books.get(symbol)
        used_ids = self.used_ids
        if book is not None and book.resume_at and not stamp_reject_reason(seq, ts):
            self._resume_if_paused(book, events, seq, ts)
        reason = check_new_order(book, book is not None and book.halted, used_ids, seq, ts,
                                 symbol, order_id, user, side, order_type, tif,
                                 price, stop_price, qty)
        if reason:
            if reason == NOT_EXACT:             # an IntEnum member or other int subclass
                self._new_order(plain_command(command), events)
                return
            if reason != _R.INVALID_STAMP:
                self.last_seq = seq
            events.append((_REJECTED, clean_u64(seq), clean_u64(ts), _NEW_ORDER, clean_u16(symbol),
                 clean_u64(order_id), clean_u32(user), reason))
            return
        self.last_seq = seq
        used_ids.add(order_id)
        events.append((_ACCEPTED, seq, ts, symbol, order_id, user, side, order_type, tif,
             price, stop_price, qty))
        order = [order_id, user, symbol, side, order_type, tif, price, stop_price, qty, seq, False]
        # Validated: the compiled build holds these copies as C integers (engine.pxd).
        kind, lasting, on_side, limit = order_type, tif, side, price
        if kind == _LIMIT and lasting <= _GTC:
            # The commonest order of all, a resting limit that does not cross,
            # skips _execute's general path.
            if book.best_key(1 - on_side) < (-limit if on_side == BUY else limit):
                book.rest(order, events, seq, ts)
                return
        if kind >= _STOP:
            last = book.last_trade_price
            if last and (last >= stop_price if side == BUY else last <= stop_price):
                book.triggered.append((order, last))
            else:
                book.add_stop(order)
        else:
            self._execute(book, order, events, seq, ts)
        if book.triggered:
            self._release_stops(book, events, seq, ts)

    def _execute(self, book, order, events, seq, ts):
        """Match a limit or market order now; rest or cancel what is left."""
        side, kind, tif = order[SIDE], order[ORDER_TYPE], order[TIF]
        if book.halted:
            # Only the circuit breaker halts a book while a command runs: the stops that
            # command triggered do not trade in the halt.
            events.append((_CANCELLED, seq, ts, book.symbol, order[ORDER_ID], order[USER],
                 order[QTY], _HALT))
            return
        market = kind == _MARKET or kind == _STOP
        protected = market and book.protected
        if protected:
            threshold = book.protection_threshold(side)
        elif market:
            threshold = NO_LIMIT
        else:
            threshold = -order[PRICE] if side == BUY else order[PRICE]
        unbanded, banded = threshold, False
        if book.breaker:
            band = book.breaker_band(side, ts)
            if band > threshold:
                # The band is nearer than the order's own limit: match within the band,
                # and trip the breaker if the order would have traded beyond it.
                threshold, banded = band, True
        stp = self.self_trade_prevention
        if tif == _FOK:
            available = book.crossing_qty(side, threshold, order[QTY], order[USER], stp)
            if available < order[QTY]:
                if banded and book.crossing_qty(side, unbanded, order[QTY], order[USER],
                                                stp) >= order[QTY]:
                    self._trip(book, order, events, seq, ts)
                    return
                events.append((_CANCELLED, seq, ts, book.symbol, order[ORDER_ID], order[USER],
                     order[QTY], _FOK_KILL))
                return
        if book.best_key(1 - side) >= threshold:
            remaining, self.match_id, self_trade = book.match(
                order, threshold, stp, self.match_id, events, seq, ts)
            if self_trade:
                events.append((_CANCELLED, seq, ts, book.symbol, order[ORDER_ID], order[USER],
                     remaining, _SELF_TRADE))
                return
            if not remaining:
                return
            order[QTY] = remaining
        if banded and book.best_key(1 - side) >= unbanded:
            self._trip(book, order, events, seq, ts)
            return
        if market or tif == _IOC or tif == _FOK:
            # A protected order that stopped short of orders still on the other side
            # stopped at its protection limit.
            events.append((_CANCELLED, seq, ts, book.symbol, order[ORDER_ID], order[USER],
                 order[QTY], _PROTECTION if protected and book.keys[1 - side] else _IOC_REMAINDER))
        else:
            book.rest(order, events, seq, ts)

    def _trip(self, book, order, events, seq, ts):
        """The circuit breaker: halt `book` instead of trading `order` beyond the band.

        As LULD does, nothing prints beyond the band: the order keeps what it traded
        inside it and its remainder is cancelled with HALT, after the TRADING_STATE
        event an admin HALT makes.
        """
        set_halted([book], True, events, seq, ts)
        if book.breaker_pause_ns:
            book.resume_at = ts + book.breaker_pause_ns
        events.append((_CANCELLED, seq, ts, book.symbol, order[ORDER_ID], order[USER],
             order[QTY], _HALT))

    def _resume_if_paused(self, book, events, seq, ts):
        """Lift a circuit breaker's timed halt once `ts` reaches its end."""
        if ts >= book.resume_at:
            set_halted([book], False, events, seq, ts)

    def _release_stops(self, book, events, seq, ts):
        """Run triggered stops, in trigger order, until no more trigger."""
        triggered = book.triggered
        position = 0
        while position < len(triggered):
            order, trigger_price = triggered[position]
            position += 1
            events.append((_STOP_TRIGGERED, seq, ts, book.symbol, order[ORDER_ID], order[USER],
                 order[STOP_PRICE], trigger_price))
            order[SEQ] = seq
            self._execute(book, order, events, seq, ts)
        triggered.clear()

    # -- cancel and replace -----------------------------------------------

    def _find_own(self, seq, ts, order_id, user):
        """(order, 0) for a live order of `user`, else (None, reject reason).

        Checks, first failure wins: seq and ts, order id (an id that is not an
        int is no order's), user (32-bit unsigned), owner. Expects plain ints
        where ints are given (`plain_command`). Sets `last_seq` once the stamp
        is valid.
        """
        if type(seq) is not int or type(ts) is not int or not 0 <= seq <= _U64 \
                or not 0 <= ts <= _U64:
            return None, _R.INVALID_STAMP
        self.last_seq = seq
        order = self.orders.get(order_id) if type(order_id) is int else None
        if order is None:
            if type(order_id) is int and order_id in self.used_ids:
                return None, _R.ORDER_NOT_LIVE
            return None, _R.UNKNOWN_ORDER
        if type(user) is not int or not 0 <= user <= _U32:
            return None, _R.INVALID_USER
        if order[USER] != user:
            return None, _R.NOT_OWNER
        return order, 0

    def _cancel(self, command, events):
        _, seq, ts, order_id, user = command
        order = self.orders.get(order_id)
        if order is not None and order[USER] == user and not order[PENDING_STOP] \
                and type(order_id) is int and type(user) is int \
                and type(seq) is int and type(ts) is int and 0 <= seq <= _U64 and 0 <= ts <= _U64:
            self.last_seq = seq
            events.append((_CANCELLED, seq, ts, order[SYMBOL], order_id, user, order[QTY], _CANCEL_USER))
            book = self.books[order[SYMBOL]]
            book.unrest(order, events, seq, ts)
            return
        _, seq, ts, order_id, user = command = plain_command(command)
        order, reason = self._find_own(seq, ts, order_id, user)
        if reason:
            events.append((_REJECTED, clean_u64(seq), clean_u64(ts), _CANCEL, 0, clean_u64(order_id),
                 clean_u32(user), reason))
            return
        remove_order(self.books, order, _C.USER, events, seq, ts)

    def _replace(self, command, events):
        _, seq, ts, order_id, user, price, qty = command
        if type(order_id) is not int or type(user) is not int or type(seq) is not int \
                or type(ts) is not int:
            # Rare: int subclasses (IntEnum members) become plain ints first.
            _, seq, ts, order_id, user, price, qty = command = plain_command(command)
        order, reason = self._find_own(seq, ts, order_id, user)
        symbol = 0
        if not reason:
            book = self.books[order[SYMBOL]]
            symbol = order[SYMBOL]
            if order[PENDING_STOP]:
                reason = _R.NOT_REPLACEABLE
            else:
                reason = check_replace(book, price, qty)
                if reason == NOT_EXACT:
                    self._replace(plain_command(command), events)
                    return
                if not reason and book.resume_at:
                    self._resume_if_paused(book, events, seq, ts)
                if not reason and book.halted:
                    reason = _R.SYMBOL_HALTED
        if reason:
            events.append((_REJECTED, clean_u64(seq), clean_u64(ts), _REPLACE, symbol, clean_u64(order_id),
                 clean_u32(user), reason))
            return
        order_id, user = order[ORDER_ID], order[USER]     # clean ints, as in _cancel
        if price == order[PRICE] and qty <= order[QTY]:
            events.append((_REPLACED, seq, ts, symbol, order_id, user, price, qty, 1))
            book.reduce(order, qty, events, seq, ts)
            return
        events.append((_REPLACED, seq, ts, symbol, order_id, user, price, qty, 0))
        fresh = new_order(order_id, user, symbol, order[SIDE], order[ORDER_TYPE], order[TIF],
                          price, order[STOP_PRICE], qty, seq)
        book.unrest(order, events, seq, ts)
        self._execute(book, fresh, events, seq, ts)
        if book.triggered:
            self._release_stops(book, events, seq, ts)

    # -- state: whole-book reads and rebuilds (host/engine_state.py) ---------

    def restore_resting(self, order):
        """Put a resting order (a RestingOrder) back at the back of its level; no events."""
        engine_state.restore_resting(self, order)

    def restore_stop(self, order):
        """Put a pending stop back (a RestingOrder as `Book.live_stops` gives them)."""
        engine_state.restore_stop(self, order)

    def take_resting(self, symbol, max_orders_per_side):
        """Remove the best whole levels for a lane: `engine_state.take_resting`."""
        return engine_state.take_resting(self, symbol, max_orders_per_side)

    def adopt_resting(self, symbol, orders, last_trade_price=None):
        """Take back orders that rested elsewhere: `engine_state.adopt_resting`."""
        engine_state.adopt_resting(self, symbol, orders, last_trade_price)

    def external_execution(self):
        """The exchange-wide match id of an execution that happened elsewhere (a lane)."""
        self.match_id += 1
        return self.match_id

    def note_order_id(self, order_id):
        """Record an order id accepted elsewhere, so a later reuse is a duplicate here."""
        self.used_ids.add(order_id)

    def state_hash(self):
        """A digest of everything that decides future events: `engine_state.state_hash`."""
        return engine_state.state_hash(self)


def _no_listener(events):
    pass
