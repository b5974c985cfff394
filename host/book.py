"""One symbol's order book: price levels in price-time priority, and its stops.

Layout, chosen for CPython speed (measured in docs/benchmarks.md):

- each side keeps a dict of price levels and a sorted list of level keys with
  the best level at the end, so the best price is `keys[-1]` and removing it
  is `list.pop()`. A key is the price for bids and minus the price for asks,
  so "better" is "larger" on both sides and one matching loop serves both;
- a level is a FIFO deque of orders plus its open quantity and live count.
  A cancel zeroes the order's quantity and leaves it in the deque; matching
  skips such dead entries, and a level that is mostly dead is compacted;
- pending stops wait in one heap per side, ordered so the next to trigger is
  on top; cancelled stops are dropped lazily the same way.

The book appends event tuples (see gatebook.wire.internal) to the `out` list
the engine passes in; it knows nothing of listeners, logs or networks.
"""

from bisect import bisect_left, insort
from collections import deque
from heapq import heappop, heappush

from gatebook.wire.enums import Side
from gatebook.wire.internal import EXECUTED, LEVEL, TRADE

__all__ = ["Order", "Level", "Book", "BUY", "SELL"]

BUY, SELL = int(Side.BUY), int(Side.SELL)
_EXECUTED, _TRADE, _LEVEL = EXECUTED.code, TRADE.code, LEVEL.code


class Order:
    """A live order: resting in a level or waiting as a stop.

    An order that loses time priority (a replace that changes price or adds
    quantity) is re-entered as a new Order object, because the old object may
    still sit dead in a level's deque.
    """

    __slots__ = ("order_id", "user", "symbol", "side", "order_type", "tif",
                 "price", "stop_price", "qty", "seq", "pending_stop")

    def __init__(self, order_id, user, symbol, side, order_type, tif, price, stop_price, qty, seq):
        self.order_id = order_id
        self.user = user
        self.symbol = symbol
        self.side = side
        self.order_type = order_type
        self.tif = tif
        self.price = price
        self.stop_price = stop_price
        self.qty = qty          # open quantity; 0 marks a dead entry
        self.seq = seq          # sequence number that gave it time priority
        self.pending_stop = False

    def __repr__(self):
        return (f"Order(id={self.order_id}, user={self.user}, side={Side(self.side).name}, "
                f"price={self.price}, qty={self.qty})")


class Level:
    __slots__ = ("price", "orders", "qty", "count")

    def __init__(self, price):
        self.price = price
        self.orders = deque()
        self.qty = 0            # open shares of live orders
        self.count = 0          # live orders


def level_key(side, price):
    return price if side == BUY else -price


# Larger than any key, smaller than any key: thresholds for market orders.
NO_LIMIT = -(1 << 62)


class Book:
    def __init__(self, spec, registry):
        self.spec = spec
        self.symbol = spec.symbol_id
        self.registry = registry            # order id -> live Order, shared by all books
        self.levels = ({}, {})              # per side: key -> Level
        self.keys = ([], [])                # per side: level keys, ascending; best last
        self.stops = ([], [])               # per side: heap of (trigger key, seq, Order)
        self.pending_stops = 0
        self.triggered = []                 # stops triggered since the engine last drained it
        self.last_trade_price = 0
        self.halted = False

    # -- resting orders ---------------------------------------------------

    def rest(self, order, out, seq, ts):
        side = order.side
        key = order.price if side == BUY else -order.price
        levels = self.levels[side]
        level = levels.get(key)
        if level is None:
            level = levels[key] = Level(order.price)
            insort(self.keys[side], key)
        level.orders.append(order)
        level.qty += order.qty
        level.count += 1
        self.registry[order.order_id] = order
        out((_LEVEL, seq, ts, self.symbol, side, order.price, level.qty, level.count))

    def unrest(self, order, out, seq, ts):
        """Take a resting order out of its level (cancel, or a replace that loses priority)."""
        side = order.side
        key = order.price if side == BUY else -order.price
        levels = self.levels[side]
        level = levels[key]
        level.qty -= order.qty
        level.count -= 1
        order.qty = 0
        del self.registry[order.order_id]
        out((_LEVEL, seq, ts, self.symbol, side, order.price, level.qty, level.count))
        if not level.count:
            del levels[key]
            keys = self.keys[side]
            del keys[bisect_left(keys, key)]
        elif len(level.orders) > 2 * level.count + 16:
            level.orders = deque(entry for entry in level.orders if entry.qty)

    def reduce(self, order, new_qty, out, seq, ts):
        """Lower a resting order's open quantity in place, keeping its priority."""
        level = self.levels[order.side][order.price if order.side == BUY else -order.price]
        level.qty -= order.qty - new_qty
        order.qty = new_qty
        out((_LEVEL, seq, ts, self.symbol, order.side, order.price, level.qty, level.count))

    # -- matching ---------------------------------------------------------

    def crossing_qty(self, side, threshold, wanted, user, self_trade_prevention):
        """Shares an aggressor could take now, counted up to `wanted`.

        Stops early at an order of the same user when self-trade prevention is
        on, exactly where `match` would stop.
        """
        opposite = 1 - side
        levels = self.levels[opposite]
        found = 0
        for key in reversed(self.keys[opposite]):
            if key < threshold:
                break
            level = levels[key]
            if not self_trade_prevention:
                found += level.qty
            else:
                for resting in level.orders:
                    if resting.qty:
                        if resting.user == user:
                            return found
                        found += resting.qty
                        if found >= wanted:
                            return found
            if found >= wanted:
                break
        return found

    def match(self, taker, threshold, self_trade_prevention, match_id, out, seq, ts):
        """Fill `taker` against the opposite side while its best key is >= threshold.

        Executions are at the resting order's price. Returns the taker's
        remaining quantity, the last match id used, and whether matching stopped
        at an order of the same user.
        """
        side = taker.side
        opposite = 1 - side
        keys = self.keys[opposite]
        levels = self.levels[opposite]
        registry = self.registry
        symbol = self.symbol
        taker_id = taker.order_id
        taker_user = taker.user
        remaining = taker.qty
        self_trade = False
        while keys and keys[-1] >= threshold:
            key = keys[-1]
            level = levels[key]
            price = level.price
            queue = level.orders
            qty_before = level.qty
            while True:
                resting = queue[0]
                open_qty = resting.qty
                if not open_qty:
                    queue.popleft()
                    continue
                if self_trade_prevention and resting.user == taker_user:
                    self_trade = True
                    break
                fill = remaining if remaining < open_qty else open_qty
                remaining -= fill
                open_qty -= fill
                resting.qty = open_qty
                level.qty -= fill
                match_id += 1
                out((_EXECUTED, seq, ts, symbol, match_id, price, fill, side, taker_id,
                     taker_user, remaining, resting.order_id, resting.user, open_qty))
                out((_TRADE, seq, ts, symbol, match_id, price, fill, side))
                if not open_qty:
                    queue.popleft()
                    level.count -= 1
                    del registry[resting.order_id]
                    if not level.count:
                        break
                if not remaining:
                    break
            if level.qty != qty_before:
                out((_LEVEL, seq, ts, symbol, opposite, price, level.qty, level.count))
                self.last_trade_price = price
                if not level.count:
                    keys.pop()
                    del levels[key]
                if self.pending_stops:
                    self.collect_triggers(price)
            if not remaining or self_trade:
                break
        return remaining, match_id, self_trade

    # -- stops ------------------------------------------------------------

    def add_stop(self, order):
        """Park a stop until a trade print reaches its stop price.

        Buy stops trigger when a print is at or above the stop price, sell stops
        at or below; the heap key puts the first to trigger on top.
        """
        key = order.stop_price if order.side == BUY else -order.stop_price
        order.pending_stop = True
        heappush(self.stops[order.side], (key, order.seq, order.order_id, order))
        self.pending_stops += 1
        self.registry[order.order_id] = order

    def drop_stop(self, order):
        """Forget a pending stop (cancel); its heap entry is skipped when reached."""
        order.qty = 0
        order.pending_stop = False
        self.pending_stops -= 1
        del self.registry[order.order_id]

    def collect_triggers(self, price):
        """Move every stop that a print at `price` triggers onto `self.triggered`.

        Buy stops first, lowest stop price first; then sell stops, highest stop
        price first; equal stop prices in time order.
        """
        for side, key_limit in ((BUY, price), (SELL, -price)):
            heap = self.stops[side]
            while heap and heap[0][0] <= key_limit:
                order = heappop(heap)[3]
                if order.pending_stop:
                    order.pending_stop = False
                    self.pending_stops -= 1
                    del self.registry[order.order_id]
                    self.triggered.append((order, price))

    def live_stops(self, side):
        """Pending stops of one side in trigger order."""
        return [entry[3] for entry in sorted(self.stops[side]) if entry[3].pending_stop]

    # -- views ------------------------------------------------------------

    def best(self, side):
        """(price, qty, orders) of the best level of `side`, or None."""
        keys = self.keys[side]
        if not keys:
            return None
        level = self.levels[side][keys[-1]]
        return level.price, level.qty, level.count

    def depth(self, side, max_levels=None):
        """[(price, qty, orders), ...] best first."""
        keys = self.keys[side]
        levels = self.levels[side]
        chosen = reversed(keys) if max_levels is None else reversed(keys[-max_levels:] if max_levels else [])
        return [(levels[key].price, levels[key].qty, levels[key].count) for key in chosen]

    def orders_at(self, side):
        """[(price, [Order, ...]), ...] best level first, each level in time priority."""
        levels = self.levels[side]
        return [(levels[key].price, [order for order in levels[key].orders if order.qty])
                for key in reversed(self.keys[side])]
