"""One symbol's order book: price levels in price-time priority, and its stops.

Layout, chosen for CPython speed (measured in docs/benchmarks.md):

- each side keeps a dict of price levels and a sorted list of level keys with
  the best level at the end, so the best price is `keys[-1]` and removing it
  is `list.pop()`. A key is the price for bids and minus the price for asks,
  so "better" is "larger" on both sides and one matching loop serves both;
- a level is a FIFO list of orders with a head index (entries before it are
  consumed), plus its open quantity and live count. A list and an index rather
  than a deque: appending is a direct call when compiled, taking the front is an
  index step, and the consumed front is cut off in one slice now and then. A
  cancel zeroes the order's quantity and leaves it in place; matching skips
  such dead entries, and a level that is mostly dead is compacted a window at a time;
- pending stops wait in one heap per side, ordered so the next to trigger is
  on top; cancelled stops are dropped lazily the same way.

The book appends event tuples (see gatebook.wire.internal) to the `events` list
the engine passes in; it knows nothing of listeners, logs or networks.
"""

from bisect import bisect_left, insort
from heapq import heappop, heappush
from typing import NamedTuple

from gatebook.wire.enums import Side
from gatebook.wire.internal import EXECUTED, LEVEL, TRADE
from gatebook.wire.positions import require_field_order

__all__ = ["new_order", "ORDER_FIELDS", "RestingOrder", "Level", "Book", "BUY", "SELL",
           "NO_LIMIT", "TICK_CAP"]

BUY, SELL = int(Side.BUY), int(Side.SELL)
_EXECUTED, _TRADE, _LEVEL = EXECUTED.code, TRADE.code, LEVEL.code
# The matching loop builds these events whole, one tuple each; a table change stops the import.
require_field_order(EXECUTED, ("seq", "ts", "symbol", "match_id", "price", "qty", "aggressor_side",
                               "aggressor_id", "aggressor_user", "aggressor_leaves",
                               "resting_id", "resting_user", "resting_leaves"), __name__)
require_field_order(TRADE, ("seq", "ts", "symbol", "match_id", "price", "qty", "aggressor_side"),
                    __name__)
require_field_order(LEVEL, ("seq", "ts", "symbol", "side", "price", "qty", "orders"), __name__)


# A live order is a list indexed by these constants, not an object: a list
# literal is about eight times cheaper to make than a __slots__ instance, and
# the engine makes one per order. Code outside host/ sees orders only through
# the RestingOrder snapshots the views return.
ORDER_FIELDS = ("order_id", "user", "symbol", "side", "order_type", "tif", "price",
                "stop_price", "qty", "seq", "pending_stop")
# Each module that reads orders takes the indices by name from ORDER_FIELDS; the compiled
# build types them as C integers (book.pxd), which no other module can import.
(ORDER_ID, USER, SYMBOL, SIDE, ORDER_TYPE, TIF, PRICE, STOP_PRICE, QTY, SEQ,
 PENDING_STOP) = map(ORDER_FIELDS.index, ("order_id", "user", "symbol", "side", "order_type",
                                          "tif", "price", "stop_price", "qty", "seq",
                                          "pending_stop"))
# QTY is the open quantity; 0 marks an entry left dead in a level's list.
# SEQ is the sequence number that gave the order its time priority. An order
# that loses priority is re-entered as a new list, since the old one may still
# sit dead in its level.


def new_order(order_id, user, symbol, side, order_type, tif, price, stop_price, qty, seq):
    """A live-order list; the hot path writes the same literal inline."""
    return [order_id, user, symbol, side, order_type, tif, price, stop_price, qty, seq, False]


class RestingOrder(NamedTuple):
    """A read-only snapshot of one live order, for views and tests."""

    order_id:   int
    user:       int
    symbol:     int
    side:       int
    order_type: int
    tif:        int
    price:      int
    stop_price: int
    qty:        int
    seq:        int

    @classmethod
    def of(cls, order):
        return cls(*order[:PENDING_STOP])


class Level:
    __slots__ = ("price", "orders", "head", "sweep", "qty", "count")

    def __init__(self, price):
        self.price = price
        self.orders = []        # time priority; entries before `head` are consumed
        self.head = 0
        self.sweep = 0          # where the next compaction window starts
        self.qty = 0            # open shares of live orders
        self.count = 0          # live orders


# Matching cuts the consumed front off a level's list once it is this long and more than
# half the list: often enough that one cut frees few entries, rarely enough to cost
# nothing per fill.
_CUT_FRONT = 16
# A cancel that finds its level mostly dead compacts this many entries of it, from where
# the last compaction stopped, not the whole level: a whole level's dead orders, long out
# of the cache, took 20 us and more to free (docs/benchmarks.md, "Latency").
_SWEEP = 32


def level_key(side, price):
    return price if side == BUY else -price


#: A tick wider than this is wider than every price (SymbolSpec: prices fit 32 bits), and
#: a price below 2**32 is off both grids alike, so validation divides by the tick capped
#: at it, which the compiled build holds as a C integer whatever the spec says.
TICK_CAP = 1 << 32

# Larger than any key, smaller than any key: thresholds for market orders.
NO_LIMIT = -(1 << 62)
# The best key of an empty side: below every threshold, NO_LIMIT included (a C integer in
# the compiled build, book.pxd).
_NO_LEVEL = NO_LIMIT - 1


class Book:
    def __init__(self, spec, registry):
        self.spec = spec
        self.symbol = spec.symbol_id
        # Copied from the spec so validation reads one attribute, not two.
        self.tick_size, self.lot_size = spec.tick_size, spec.lot_size
        self.capped_tick = min(spec.tick_size, TICK_CAP)    # what validation divides by
        self.price_min, self.price_max = spec.price_min, spec.price_max
        self.max_order_qty, self.max_notional = spec.max_order_qty, spec.max_notional
        self.notional_binds = spec.notional_binds
        self.protection_ticks = spec.protection_ticks
        self.protection_percent = spec.protection_percent
        self.protected = bool(spec.protection_ticks or spec.protection_percent)
        self.breaker_percent = spec.breaker_percent
        self.breaker_window_ns = spec.breaker_window_ns
        self.breaker_pause_ns = spec.breaker_pause_ns
        self.breaker = bool(spec.breaker_percent)
        # The circuit breaker's state (docs/matching.md, "Circuit breaker"): the reference
        # price of the current window, the ts at which that window ends (0: none open), and
        # the ts from which a breaker halt lifts (0: no timed halt).
        self.breaker_reference = 0
        self.breaker_window_end = 0
        self.resume_at = 0
        self.registry = registry            # order id -> live order list, shared by all books
        self.levels = ({}, {})              # per side: key -> Level
        self.keys = ([], [])                # per side: level keys, ascending; best last
        self.stops = ([], [])               # per side: heap of (trigger key, seq, order id, order)
        self.pending_stops = 0
        self.triggered = []                 # stops triggered since the engine last drained it
        self.last_trade_price = 0
        self.halted = False

    # -- resting orders ---------------------------------------------------

    def rest(self, order, events, seq, ts):
        side = order[SIDE]
        price = order[PRICE]
        key = -price if side else price
        side_levels = self.levels[side]
        level = side_levels.get(key)
        if level is None:
            level = side_levels[key] = Level(price)
            insort(self.keys[side], key)
        level.orders.append(order)
        qty = level.qty = level.qty + order[QTY]
        count = level.count = level.count + 1
        self.registry[order[ORDER_ID]] = order
        events.append((_LEVEL, seq, ts, self.symbol, side, price, qty, count))

    def unrest(self, order, events, seq, ts):
        """Take a resting order out of its level (cancel, or a replace that loses priority)."""
        side = order[SIDE]
        price = order[PRICE]
        key = -price if side else price
        level = self.levels[side][key]
        qty = level.qty = level.qty - order[QTY]
        count = level.count = level.count - 1
        order[QTY] = 0
        del self.registry[order[ORDER_ID]]
        events.append((_LEVEL, seq, ts, self.symbol, side, price, qty, count))
        if not count:
            del self.levels[side][key]
            keys = self.keys[side]
            del keys[bisect_left(keys, key)]
        elif len(level.orders) - level.head > 2 * count + 16:
            orders = level.orders
            start = level.sweep if level.head <= level.sweep < len(orders) else level.head
            end = start + _SWEEP
            kept = [entry for entry in orders[start:end] if entry[QTY]]
            # The window after this one; from the front again once this one reached the end.
            level.sweep = start + len(kept) if end < len(orders) else level.head
            orders[start:end] = kept

    def reduce(self, order, new_qty, events, seq, ts):
        """Lower a resting order's open quantity in place, keeping its priority."""
        level = self.levels[order[SIDE]][order[PRICE] if order[SIDE] == BUY else -order[PRICE]]
        level.qty -= order[QTY] - new_qty
        order[QTY] = new_qty
        events.append((_LEVEL, seq, ts, self.symbol, order[SIDE], order[PRICE], level.qty, level.count))

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
                    if resting[QTY]:
                        if resting[USER] == user:
                            return found
                        found += resting[QTY]
                        if found >= wanted:
                            return found
            if found >= wanted:
                break
        return found

    def match(self, taker, threshold, self_trade_prevention, match_id, events, seq, ts):
        """Fill `taker` against the opposite side while its best key is >= threshold.

        Executions are at the resting order's price. Returns the taker's
        remaining quantity, the last match id used, and whether matching stopped
        at an order of the same user.
        """
        side = taker[SIDE]
        opposite = 1 - side
        keys = self.keys[opposite]
        levels = self.levels[opposite]
        registry = self.registry
        symbol = self.symbol
        taker_id = taker[ORDER_ID]
        taker_user = taker[USER]
        remaining = taker[QTY]
        self_trade = False
        while self.best_key(opposite) >= threshold:
            key = keys[-1]
            level = levels[key]
            price = level.price
            queue = level.orders
            head = level.head
            level_qty = qty_before = level.qty
            count = level.count
            while True:
                resting = queue[head]
                open_qty = resting[QTY]
                if not open_qty:
                    head += 1
                    continue
                if self_trade_prevention and resting[USER] == taker_user:
                    self_trade = True
                    break
                fill = remaining if remaining < open_qty else open_qty
                remaining -= fill
                open_qty -= fill
                resting[QTY] = open_qty
                level_qty -= fill
                match_id += 1
                events.append((_EXECUTED, seq, ts, symbol, match_id, price, fill, side, taker_id,
                     taker_user, remaining, resting[ORDER_ID], resting[USER], open_qty))
                events.append((_TRADE, seq, ts, symbol, match_id, price, fill, side))
                if not open_qty:
                    head += 1
                    count -= 1
                    del registry[resting[ORDER_ID]]
                    if not count:
                        break
                if not remaining:
                    break
            if head > _CUT_FRONT and 2 * head > len(queue):
                del queue[:head]
                head = 0
                level.sweep = 0
            level.head = head
            if level_qty != qty_before:
                level.qty = level_qty
                level.count = count
                events.append((_LEVEL, seq, ts, symbol, opposite, price, level_qty, count))
                self.last_trade_price = price
                if not count:
                    keys.pop()
                    del levels[key]
                if self.pending_stops:
                    buy_stops, sell_stops = self.stops
                    # Look at the heap tops here; most prints trigger nothing.
                    if buy_stops and buy_stops[0][0] <= price or \
                            sell_stops and sell_stops[0][0] <= -price:
                        self.collect_triggers(price)
            if not remaining or self_trade:
                break
        return remaining, match_id, self_trade

    def best_key(self, side):
        """The key of `side`'s best level (a bid's price, minus an ask's).

        An order crosses when the opposite side's best key reaches its threshold (the
        key of its own limit, or NO_LIMIT), so one comparison serves both sides, an
        empty side included: its best key is below every threshold.
        """
        keys = self.keys[side]
        return keys[-1] if keys else _NO_LEVEL

    # -- stops ------------------------------------------------------------

    def add_stop(self, order):
        """Park a stop until a trade print reaches its stop price.

        Buy stops trigger when a print is at or above the stop price, sell stops
        at or below; the heap key puts the first to trigger on top.
        """
        key = order[STOP_PRICE] if order[SIDE] == BUY else -order[STOP_PRICE]
        order[PENDING_STOP] = True
        heappush(self.stops[order[SIDE]], (key, order[SEQ], order[ORDER_ID], order))
        self.pending_stops += 1
        self.registry[order[ORDER_ID]] = order

    def drop_stop(self, order):
        """Forget a pending stop (cancel); its heap entry is skipped when reached."""
        order[QTY] = 0
        order[PENDING_STOP] = False
        self.pending_stops -= 1
        del self.registry[order[ORDER_ID]]

    def collect_triggers(self, price):
        """Move every stop that a print at `price` triggers onto `self.triggered`.

        Buy stops first, lowest stop price first; then sell stops, highest stop
        price first; equal stop prices in time order.
        """
        for side, key_limit in ((BUY, price), (SELL, -price)):
            heap = self.stops[side]
            while heap and heap[0][0] <= key_limit:
                order = heappop(heap)[3]
                if order[PENDING_STOP]:
                    order[PENDING_STOP] = False
                    self.pending_stops -= 1
                    del self.registry[order[ORDER_ID]]
                    self.triggered.append((order, price))

    def live_stops(self, side):
        """Pending stops of one side in trigger order, as RestingOrder snapshots."""
        return [RestingOrder.of(entry[3]) for entry in sorted(self.stops[side])
                if entry[3][PENDING_STOP]]

    # -- views ------------------------------------------------------------

    def protection_threshold(self, side):
        """The matching threshold of a protected market order on `side`, or NO_LIMIT.

        The reference is the last trade, else the best opposite price now; the
        order may trade up to `protection_ticks` ticks or `protection_percent`
        percent of the reference (rounded down to the tick grid) from it, the
        nearer when both are set. With no reference nothing can trade anyway.
        """
        reference = self.last_trade_price
        if not reference:
            keys = self.keys[1 - side]
            if not keys:
                return NO_LIMIT
            reference = self.levels[1 - side][keys[-1]].price
        tick = self.tick_size
        distance = -1
        if self.protection_ticks:
            distance = self.protection_ticks * tick
        if self.protection_percent:
            by_percent = reference * self.protection_percent // 100 // tick * tick
            if distance < 0 or by_percent < distance:
                distance = by_percent
        # Never beyond NO_LIMIT: a distance wider than every price is no limit (and the
        # compiled engine holds the threshold as a 64-bit C integer).
        if side == BUY:
            return max(-(reference + distance), NO_LIMIT)
        return max(reference - distance, NO_LIMIT)

    def breaker_band(self, side, ts):
        """The matching threshold the circuit breaker sets for an order on `side` at `ts`.

        Opens a new window when the current one has ended (`ts` at or past its end): its
        reference is the last trade now, and it lasts `breaker_window_ns`. A buy may trade
        up to the reference plus `breaker_percent` percent of it, a sell down to the
        reference minus that (rounded towards the reference). NO_LIMIT before any trade.
        """
        if ts >= self.breaker_window_end:
            if not self.last_trade_price:
                return NO_LIMIT
            self.breaker_reference = self.last_trade_price
            self.breaker_window_end = ts + self.breaker_window_ns
        reference = self.breaker_reference
        distance = reference * self.breaker_percent // 100
        if side == BUY:
            return -(reference + distance)
        return reference - distance

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
        """[(price, [RestingOrder, ...]), ...] best level first, each level in time priority."""
        levels = self.levels[side]
        return [(levels[key].price, [RestingOrder.of(order) for order in levels[key].orders
                                     if order[QTY]])
                for key in reversed(self.keys[side])]
