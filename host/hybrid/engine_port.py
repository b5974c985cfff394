"""What the hybrid host needs from the golden engine, in one place.

`MatchingEngine` offers `apply`, `restore_resting` and `state_hash`; moving a
symbol between the engine and a lane needs three more operations. Until the
engine grows them as public methods (see docs/hardware.md, "Engine API the
host uses"), they live here, written against the engine's public attributes
(`books`, `orders`, `used_ids`, `match_id`) and `Book`'s public methods, so
nothing else in host/hybrid touches engine internals.
"""

from host.book import RestingOrder

__all__ = ["take_window", "adopt_window", "adopt_spill", "count_lane_execution",
           "note_lane_order", "flushed_order"]


def _discard(event):
    pass


def take_window(engine, symbol, depth):
    """Remove the best whole levels (at most `depth` orders a side) from `symbol`'s book.

    Returns (orders, deep): the removed orders as RestingOrder, bids best
    first then asks best first, each level in time priority; and per side the
    best price left in the book (0: none). Emits no events: the orders move,
    they do not change.
    """
    book = engine.books[symbol]
    taken, deep = [], [0, 0]
    for side in (0, 1):
        count = 0
        for price, orders in book.orders_at(side):
            if count + len(orders) > depth:
                deep[side] = price
                break
            count += len(orders)
            taken.extend(orders)
    for order in taken:
        book.unrest(engine.orders[order.order_id], _discard, 0, 0)
    return taken, deep


def adopt_window(engine, symbol, orders, last_price):
    """Put a flushed window back into `symbol`'s book, best first; set its last print.

    Every order the host kept is at a strictly worse price than every window
    order of its side (the window invariant), so appending each order at the
    back of its level rebuilds the book exactly in priority order.
    """
    for order in orders:
        engine.restore_resting(order)
    engine.books[symbol].last_trade_price = last_price


def adopt_spill(engine, orders):
    """Take a level a lane evicted (its orders in time priority) into the engine's book.

    Every order the host kept on that side is strictly worse than the lane's
    worst level, so the level becomes the host's best, exactly as it was.
    """
    for order in orders:
        engine.restore_resting(order)


def count_lane_execution(engine):
    """The exchange-wide match id of the next execution a lane reported."""
    engine.match_id += 1
    return engine.match_id


def note_lane_order(engine, order_id):
    """Record an order id a lane accepted, so later duplicates and rejects match."""
    engine.used_ids.add(order_id)


def flushed_order(record):
    """The RestingOrder of a FLUSH record (gatebook.wire.link.FLUSH)."""
    (_, _, _, symbol, side, order_id, user, order_type, tif, price, stop_price, qty,
     prio_seq) = record
    return RestingOrder(order_id, user, symbol, side, order_type, tif, price, stop_price, qty,
                        prio_seq)
