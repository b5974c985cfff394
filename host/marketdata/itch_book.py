"""A full-depth book rebuilt from ITCH 5.0 messages, as a subscriber would.

# Ref: NASDAQ TotalView-ITCH 5.0 specification, section 4 (order book
#      messages: add, executed, cancel, delete, replace).

It applies decoded ITCH record tuples (gatebook.wire.itch50) and knows
nothing of the engine, so comparing its views with the engine's checks the
feed end to end. Orders within a level keep arrival order; an executed or
partly cancelled order keeps its place; a replaced order goes to the back.
"""

from gatebook.wire import itch50
from gatebook.wire.positions import CODE

__all__ = ["ItchBook", "ItchBookError"]

_FIELDS = {message.code: message.field_names for message in itch50.ITCH50.messages}
_ADD, _ADD_MPID = itch50.ADD_ORDER.code, itch50.ADD_ORDER_MPID.code
_EXECUTED, _EXECUTED_PRICE = itch50.ORDER_EXECUTED.code, itch50.ORDER_EXECUTED_WITH_PRICE.code
_CANCEL, _DELETE, _REPLACE = itch50.ORDER_CANCEL.code, itch50.ORDER_DELETE.code, itch50.ORDER_REPLACE.code
_DIRECTORY, _ACTION = itch50.STOCK_DIRECTORY.code, itch50.STOCK_TRADING_ACTION.code
_SHARES = 3     # in an order's list here: [locate, side, price, shares]


class ItchBookError(ValueError):
    """A message that contradicts the book built so far (unknown ref, too many shares)."""


class ItchBook:
    def __init__(self):
        self.orders = {}         # ref -> [locate, side ("B"/"S"), price, shares]
        self.arrival = {}        # ref -> arrival number, for time priority within a level
        self.names = {}          # locate -> stock
        self.states = {}         # locate -> trading state
        self.executed_shares = 0
        self._arrivals = 0

    def apply(self, record):
        code = record[CODE]
        fields = dict(zip(_FIELDS[code], record[CODE + 1:]))
        if code in (_ADD, _ADD_MPID):
            self._add(fields["order_ref"], fields["stock_locate"], fields["side"],
                      fields["price"], fields["shares"])
        elif code in (_EXECUTED, _EXECUTED_PRICE):
            self._reduce(fields["order_ref"], fields["executed_shares"])
            self.executed_shares += fields["executed_shares"]
        elif code == _CANCEL:
            self._reduce(fields["order_ref"], fields["cancelled_shares"])
        elif code == _DELETE:
            self._take(fields["order_ref"])
        elif code == _REPLACE:
            locate, side, _, _ = self._take(fields["original_order_ref"])
            self._add(fields["new_order_ref"], locate, side, fields["price"], fields["shares"])
        elif code == _DIRECTORY:
            self.names[fields["stock_locate"]] = fields["stock"]
        elif code == _ACTION:
            self.states[fields["stock_locate"]] = fields["trading_state"]

    def _add(self, ref, locate, side, price, shares):
        if ref in self.orders:
            raise ItchBookError(f"order ref {ref} added twice")
        self.orders[ref] = [locate, side, price, shares]
        self._arrivals += 1
        self.arrival[ref] = self._arrivals

    def _take(self, ref):
        try:
            order = self.orders.pop(ref)
        except KeyError:
            raise ItchBookError(f"unknown order ref {ref}") from None
        del self.arrival[ref]
        return order

    def _reduce(self, ref, shares):
        order = self.orders.get(ref)
        if order is None:
            raise ItchBookError(f"unknown order ref {ref}")
        if shares > order[_SHARES]:
            raise ItchBookError(f"order ref {ref}: {shares} shares taken from {order[_SHARES]}")
        order[_SHARES] -= shares
        if not order[_SHARES]:
            self._take(ref)

    # -- views, shaped like gatebook.host.book.Book's ------------------------------

    def orders_at(self, locate, side):
        """[(price, [shares, ...]), ...] best level first, each in time priority."""
        levels = {}
        for ref, (order_locate, order_side, price, shares) in self.orders.items():
            if order_locate == locate and order_side == side:
                levels.setdefault(price, []).append((self.arrival[ref], shares))
        best_first = sorted(levels, reverse=(side == itch50.BUY))
        return [(price, [shares for _, shares in sorted(levels[price])]) for price in best_first]

    def depth(self, locate, side):
        """[(price, shares, orders), ...] best level first."""
        return [(price, sum(shares), len(shares)) for price, shares in self.orders_at(locate, side)]
