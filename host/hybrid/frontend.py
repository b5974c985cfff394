"""The hybrid host's front end: validation and routing state, in sequence order.

The lane matches only orders the front end has already validated (a rejected
order reaches it as a HOST marker, so it keeps its place in the order), and a
cancel or replace carries an order id but no symbol. So, for every command in
sequence order, before anything is processed, the front end predicts what
the golden engine's validation would say and remembers which symbol each
accepted order id belongs to.

The prediction needs only what validation reads: the symbol specs, the ids
accepted so far and the halt flags, which it tracks from the commands
themselves (validation is the engine's, host/engine.py `_new_order`: order
id, user, duplicate id, symbol, side, order type, time in force, quantity,
limit price, stop price, halt; first failure wins). A wrong prediction cannot go
unnoticed: the hybrid-equivalence tests compare every event with the engine.
"""

from gatebook.wire import internal
from gatebook.wire.enums import ALL_SYMBOLS, AdminAction, OrderType

__all__ = ["FrontEnd"]

_NEW, _ADMIN = internal.NEW_ORDER.code, internal.ADMIN.code
_U32, _U64 = 0xFFFF_FFFF, (1 << 64) - 1
_LIMIT, _STOP_LIMIT, _STOP = int(OrderType.LIMIT), int(OrderType.STOP_LIMIT), int(OrderType.STOP)
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

    def advance(self, command):
        """Take `command` into account; for a new order, return True if it is accepted."""
        code = command[0] if command else None
        if code == _NEW:
            try:
                if self.rejects(command):
                    return False
            except (TypeError, ValueError):     # malformed: the engine rejects it too
                return False
            self.order_symbol[command[4]] = command[3]
            return True
        if code == _ADMIN and len(command) == 5:
            action, symbol = command[3], command[4]
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

        The same checks, with the same type strictness, as the engine's.
        """
        (_, _, _, symbol, order_id, user, side, order_type, tif, price, stop_price, qty) = command
        if type(order_id) is not int or not 0 < order_id <= _U64:
            return True
        if type(user) is not int or not 0 <= user <= _U32:
            return True
        if order_id in self.order_symbol or type(symbol) is not int:
            return True
        spec = self.specs.get(symbol)
        if spec is None:
            return True
        if type(side) is not int or side not in (0, 1):
            return True
        if type(order_type) is not int or not 0 <= order_type <= 3:
            return True
        if type(tif) is not int or not 0 <= tif <= 3:
            return True
        if type(qty) is not int or not 0 < qty <= _U32 or qty % spec.lot_size:
            return True
        if order_type == _LIMIT or order_type == _STOP_LIMIT:
            if not self.price_ok(spec, price):
                return True
        elif type(price) is not int or price:
            return True
        if order_type >= _STOP:
            if not self.price_ok(spec, stop_price):
                return True
        elif type(stop_price) is not int or stop_price:
            return True
        return self.halted[symbol]

    def replace_checks_fail(self, command):
        """True when a replace's quantity or price fails its symbol's stateless checks.

        The lane has no divider for the lot size, so such a replace reaches it
        as a HOST marker (docs/hardware.md).
        """
        order_id, price, qty = command[3], command[5], command[6]
        spec = self.specs[self.order_symbol[order_id]]
        return not (type(qty) is int and 0 < qty <= _U32 and not qty % spec.lot_size
                    and self.price_ok(spec, price))

    @staticmethod
    def price_ok(spec, price):
        return (type(price) is int and price > 0 and not price % spec.tick_size
                and spec.price_min <= price <= spec.price_max)

