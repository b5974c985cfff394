"""Text renderings of a book for people: L1, L2 and L3, and a trade tape.

Prices are integer units of 1/10000; they are shown as decimals by integer
arithmetic, never through a float.
"""

from gatebook.wire.enums import Side
from gatebook.wire.internal import TRADE

from .book import BUY, SELL

__all__ = ["format_price", "format_l1", "format_l2", "format_l3", "format_trades"]


def format_price(price):
    if price is None:
        return "-"
    return f"{price // 10000}.{price % 10000:04d}"


def format_l1(book):
    bid, ask = book.best(BUY), book.best(SELL)
    bid_text = f"{bid[1]:>8} @ {format_price(bid[0]):>10}" if bid else f"{'-':>8}   {'-':>10}"
    ask_text = f"{format_price(ask[0]):>10} x {ask[1]:<8}" if ask else f"{'-':>10}   {'-':<8}"
    last = format_price(book.last_trade_price) if book.last_trade_price else "-"
    halted = "  HALTED" if book.halted else ""
    return f"{book.spec.name:<6} bid {bid_text} | ask {ask_text}  last {last}{halted}"


def format_l2(book, levels=5):
    """Bids and asks side by side, best first: orders, size, price | price, size, orders."""
    bids, asks = book.depth(BUY, levels), book.depth(SELL, levels)
    lines = [f"{'orders':>7} {'bid size':>10} {'bid':>11} | {'ask':<11} {'ask size':<10} {'orders':<7}"]
    for row in range(max(len(bids), len(asks), 1)):
        left = (f"{bids[row][2]:>7} {bids[row][1]:>10} {format_price(bids[row][0]):>11}"
                if row < len(bids) else f"{'':>7} {'':>10} {'':>11}")
        right = (f"{format_price(asks[row][0]):<11} {asks[row][1]:<10} {asks[row][2]:<7}"
                 if row < len(asks) else "")
        lines.append(f"{left} | {right}".rstrip())
    return "\n".join(lines)


def format_l3(book, levels=5, orders_per_level=10):
    """Every order of the best `levels` levels per side, in time priority."""
    lines = []
    for side in (SELL, BUY):
        shown_levels = book.orders_at(side)[:levels]
        if side == SELL:        # a ladder: the best ask sits just above the best bid
            shown_levels.reverse()
        for price, orders in shown_levels:
            shown = ", ".join(f"#{o.order_id}:{o.qty}(u{o.user})" for o in orders[:orders_per_level])
            more = f", +{len(orders) - orders_per_level} more" if len(orders) > orders_per_level else ""
            lines.append(f"{Side(side).name:<4} {format_price(price):>11}  {shown}{more}")
        if side == SELL:
            lines.append("-" * 40)
    return "\n".join(lines)


def format_trades(trades, names):
    """`trades`: TRADE event tuples, oldest first; `names`: symbol id -> name."""
    lines = [f"{'match':>8} {'symbol':<6} {'side':<4} {'qty':>8} {'price':>11}"]
    for trade in trades:
        fields = dict(zip(TRADE.field_names, trade[1:]))
        symbol = names.get(fields["symbol"], fields["symbol"])
        lines.append(f"{fields['match_id']:>8} {symbol:<6} {Side(fields['aggressor_side']).name:<4} "
                     f"{fields['qty']:>8} {format_price(fields['price']):>11}")
    return "\n".join(lines)
