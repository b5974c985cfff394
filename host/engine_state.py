"""The engine's state as a whole: its digest, and putting orders back or taking them out.

Everything here reads or rebuilds books wholesale, outside the command path, through the
engine's and the books' public names (`MatchingEngine.books`, `orders`, `used_ids`,
`match_id`; `Book.rest`, `unrest`, `add_stop`, `orders_at`, `live_stops`), so the matching
code in host/engine.py stays one file's read and this part needs no compiling. The engine's
methods of the same names (`state_hash`, `restore_resting`, ...) call these.
"""

import hashlib
import struct

from .book import ORDER_FIELDS, new_order

__all__ = ["state_hash", "restore_resting", "restore_stop", "take_resting", "adopt_resting"]

(ORDER_ID, USER, SIDE, ORDER_TYPE, TIF, PRICE, STOP_PRICE, QTY, SEQ) = map(
    ORDER_FIELDS.index, ("order_id", "user", "side", "order_type", "tif", "price",
                         "stop_price", "qty", "seq"))
_ORDER = struct.Struct("<QIQBBBIIQ")


def state_hash(engine):
    """A digest of everything that decides future events.

    Two engines with equal hashes produce the same events for the same
    commands: the books (every live order in priority order), pending
    stops, halts, last trade prices, the match id counter and the set of
    order ids already used. The last sequence number is left out: it
    decides nothing, and a rejected command must leave the hash as it was.
    """
    digest = hashlib.blake2b(digest_size=16)
    pack = _ORDER.pack
    digest.update(struct.pack("<QQ", engine.match_id, len(engine.used_ids)))
    for symbol in sorted(engine.books):
        book = engine.books[symbol]
        digest.update(struct.pack("<HBI", symbol, book.halted, book.last_trade_price))
        if book.breaker:
            digest.update(b"B%d,%d,%d" % (book.breaker_reference, book.breaker_window_end,
                                          book.resume_at))
        for side in (0, 1):
            for price, orders in book.orders_at(side):
                digest.update(struct.pack("<BI", side, price))
                for o in orders:
                    digest.update(pack(o[ORDER_ID], o[USER], o[SEQ], o[SIDE], o[ORDER_TYPE],
                                       o[TIF], o[PRICE], o[STOP_PRICE], o[QTY]))
            for o in book.live_stops(side):
                digest.update(b"S" + pack(o[ORDER_ID], o[USER], o[SEQ], o[SIDE], o[ORDER_TYPE],
                                          o[TIF], o[PRICE], o[STOP_PRICE], o[QTY]))
    used = sorted(engine.used_ids)
    digest.update(struct.pack(f"<{len(used)}Q", *used))
    return digest.hexdigest()


def restore_resting(engine, order):
    """Put a resting order back at the back of its level; emits no events.

    For recovery from a snapshot: `order` is a RestingOrder as
    `Book.orders_at` gives them, restored best level first and each level
    in time priority.
    """
    engine.books[order.symbol].rest(_order_list(order), [], order.seq, 0)


def restore_stop(engine, order):
    """Put a pending stop back (a RestingOrder as `Book.live_stops` gives them)."""
    engine.books[order.symbol].add_stop(_order_list(order))


def take_resting(engine, symbol, max_orders_per_side):
    """Remove the best whole levels, at most `max_orders_per_side` orders a side.

    Returns (orders, deep): the removed orders as RestingOrder, bids best
    first then asks best first, each level in time priority; and per side
    the best price left in the book (0: none). Emits no events: the orders
    move to whatever matches them next (a lane's window); they do not change.
    """
    book = engine.books[symbol]
    taken, deep = [], [0, 0]
    for side in (0, 1):
        count = 0
        for price, orders in book.orders_at(side):
            if count + len(orders) > max_orders_per_side:
                deep[side] = price
                break
            count += len(orders)
            taken.extend(orders)
    for order in taken:
        book.unrest(engine.orders[order.order_id], [], 0, 0)
    return taken, deep


def adopt_resting(engine, symbol, orders, last_trade_price=None):
    """Take back orders that rested elsewhere (RestingOrder, each side best first,
    time priority within a level), better than everything of their side here.

    Appending each at the back of its level then rebuilds the book exactly
    in priority order. `last_trade_price`, when given, is the symbol's last
    print from wherever it traded meanwhile.
    """
    for order in orders:
        restore_resting(engine, order)
    if last_trade_price is not None:
        engine.books[symbol].last_trade_price = last_trade_price


def _order_list(order):
    return new_order(order.order_id, order.user, order.symbol, order.side, order.order_type,
                     order.tif, order.price, order.stop_price, order.qty, order.seq)
