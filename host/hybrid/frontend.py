"""The hybrid host's front end: validation and routing state, in sequence order.

The lane matches only orders the front end has already validated (a rejected
order reaches it as a HOST marker, so it keeps its place in the order), and a
cancel or replace carries an order id but no symbol. So, for every command in
sequence order, before anything is processed, the front end predicts what
the golden engine's validation would say and remembers which symbol each
accepted order id belongs to.

The prediction calls the engine's own validation (`new_order_reject_reason`
and `replace_reject_reason` in host/engine.py), so the rules exist once; the
front end supplies the state they are judged against (the symbol specs, the
ids accepted so far and the halt flags, tracked from the commands
themselves). The hybrid-equivalence tests compare every event with the engine.
"""

from gatebook.wire import internal
from gatebook.wire.enums import ALL_SYMBOLS, AdminAction
from gatebook.wire.positions import INTERNAL, require_field_order

from ..engine import new_order_reject_reason, replace_reject_reason
from ..validation import NOT_EXACT, check_new_order, plain, stamp_reject_reason

__all__ = ["FrontEnd"]

_NEW, _ADMIN = internal.NEW_ORDER.code, internal.ADMIN.code
# Field positions in the command tuples, from the tables (gatebook.wire.positions).
_CODE = INTERNAL.NEW_ORDER.code
_NEW_SYMBOL, _NEW_ORDER_ID = INTERNAL.NEW_ORDER.symbol, INTERNAL.NEW_ORDER.order_id
_ADMIN_SEQ, _ADMIN_TS = INTERNAL.ADMIN.seq, INTERNAL.ADMIN.ts
_ADMIN_ACTION, _ADMIN_SYMBOL = INTERNAL.ADMIN.action, INTERNAL.ADMIN.symbol
_REPLACE_ORDER_ID, _REPLACE_PRICE = INTERNAL.REPLACE.order_id, INTERNAL.REPLACE.price
_REPLACE_QTY = INTERNAL.REPLACE.qty
# `rejects` unpacks a new order whole.
require_field_order(internal.NEW_ORDER, ("seq", "ts", "symbol", "order_id", "user", "side",
                                         "order_type", "tif", "price", "stop_price", "qty"),
                    __name__)
_HALTS = {int(AdminAction.HALT): True, int(AdminAction.KILL): True,
          int(AdminAction.RESUME): False, int(AdminAction.END_OF_DAY): None}


class FrontEnd:
    """Validation state of the exchange, advanced one command at a time.

    Parameters
    ----------
    symbols : iterable of SymbolSpec
        The listed symbols.
    """

    def __init__(self, symbols):
        self.specs = {spec.symbol_id: spec for spec in symbols}
        self.halted = dict.fromkeys(self.specs, False)
        self.order_symbol = {}          # accepted order id -> its symbol

    def catch_up(self, engine):
        """Take over the state of an engine that has already run (a recovered one).

        Its halts, and every order id it has seen: live orders and pending
        stops with their symbol, the others (filled, cancelled) under no
        symbol, so a reused id is still a duplicate and a cancel naming one is
        the host's to refuse.
        """
        for symbol, book in engine.books.items():
            self.halted[symbol] = book.halted
        self.order_symbol.update(dict.fromkeys(engine.used_ids))
        for symbol, book in engine.books.items():
            for side in (0, 1):
                for _, orders in book.orders_at(side):
                    self.order_symbol.update((order.order_id, symbol) for order in orders)
                self.order_symbol.update((order.order_id, symbol)
                                         for order in book.live_stops(side))

    def advance(self, command):
        """Take `command` into account; for a new order, return True if it is accepted."""
        code = command[_CODE] if command else None
        if code == _NEW:
            try:
                if self.rejects(command):
                    return False
            except (TypeError, ValueError):     # malformed: the engine rejects it too
                return False
            self.order_symbol[command[_NEW_ORDER_ID]] = command[_NEW_SYMBOL]
            return True
        if code == _ADMIN and len(command) == len(INTERNAL.ADMIN):
            action, symbol = plain(command[_ADMIN_ACTION]), plain(command[_ADMIN_SYMBOL])
            if type(action) is not int or type(symbol) is not int \
                    or stamp_reject_reason(command[_ADMIN_SEQ], command[_ADMIN_TS]):
                return None                     # the engine rejects it: nothing changes
            halt = _HALTS.get(action)
            if halt is not None:
                if symbol == ALL_SYMBOLS:
                    for s in self.halted:
                        self.halted[s] = halt
                elif symbol in self.halted:
                    self.halted[symbol] = halt
        return None

    def rejects(self, command):
        """True when the engine would reject this new order (no state is changed).

        The engine's own validation (`new_order_reject_reason`), judged against
        the front end's state: the ids accepted so far and the halts. Its fast form
        first, as the engine calls it (`check_new_order`: no tuple of the fields);
        only a command with an int subclass in it needs the whole.
        """
        (_, seq, ts, symbol, order_id, user, side, order_type, tif, price, stop_price,
         qty) = command
        spec = self.specs.get(symbol)
        halted = spec is not None and self.halted[symbol]
        reason = check_new_order(spec, halted, self.order_symbol, seq, ts, symbol, order_id,
                                 user, side, order_type, tif, price, stop_price, qty)
        if reason == NOT_EXACT:
            reason = new_order_reject_reason(spec, halted, self.order_symbol, seq, ts, symbol,
                                             order_id, user, side, order_type, tif, price,
                                             stop_price, qty)
        return bool(reason)

    def replace_checks_fail(self, command):
        """True when a replace's quantity, price or notional fails its symbol's stateless checks.

        The lane has no divider for the lot size, so such a replace reaches it
        as a HOST marker (docs/hardware.md).
        """
        order_id = command[_REPLACE_ORDER_ID]
        price, qty = command[_REPLACE_PRICE], command[_REPLACE_QTY]
        spec = self.specs[self.order_symbol[order_id]]
        return bool(replace_reject_reason(spec, price, qty))
