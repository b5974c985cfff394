"""A hot symbol's order flow: quotes near the touch, their cancels, and orders that take them.

The adversarial flow (`gatebook.sim.flows.hybrid_flow`) is built to hand the
symbol back and forth; this one is what a lane exists for, a busy symbol as
market makers and takers trade it (`HotMix` gives the shares):

- passive limit orders (DAY or GTC) at their side's touch or a few ticks behind
  it (geometric), a few improving a spread wider than one tick;
- cancels, most of them of one of the last few quotes entered (requoting),
  the rest of any live order;
- marketable orders against the touch: IOC and GTC limits up to a tick through,
  and market orders;
- size-down replaces at the same price (keep priority).

A shadow engine follows the flow while it is generated, so cancels and
replaces name live orders and prices follow the book; the number of live
orders stays around `HotMix.live_orders` (an add above it becomes a cancel).
No stops, halts or rejects: the adversarial flow covers those.
"""

import random
from dataclasses import dataclass

from gatebook.host.engine import MatchingEngine
from gatebook.host.symbols import DEFAULT_SYMBOLS

from ..flows import BUY, DAY, GTC, IOC, Flow, SYMBOL

__all__ = ["HotMix", "HOT_MIX", "hot_flow"]


@dataclass(frozen=True)
class HotMix:
    """Shares of each kind of command in `hot_flow` (they need not sum to one)."""

    passive: float = 0.50
    cancel: float = 0.38
    marketable: float = 0.08
    replace: float = 0.04
    at_touch: float = 0.6           # chance a passive order joins its touch, else k ticks behind
    recent_cancel: float = 0.8      # share of cancels aimed at one of the last `recent` quotes
    recent: int = 8
    live_orders: int = 40
    users: int = 20

    def describe(self):
        """One line for a benchmark's output."""
        total = self.passive + self.cancel + self.marketable + self.replace
        share = lambda value: f"{value / total:.0%}"            # noqa: E731
        return (f"{share(self.passive)} passive adds ({self.at_touch:.0%} at the touch, the "
                f"rest 1-9 ticks behind), {share(self.cancel)} cancels "
                f"({self.recent_cancel:.0%} of one of the last {self.recent} quotes), "
                f"{share(self.marketable)} marketable (IOC, GTC, market), "
                f"{share(self.replace)} size-down replaces; about {self.live_orders} live orders")


HOT_MIX = HotMix()


def hot_flow(seed, count, *, mix=HOT_MIX, symbol=SYMBOL, specs=DEFAULT_SYMBOLS):
    """`count` sequenced commands for `symbol`, the same ones for the same arguments."""
    rng = random.Random(seed)
    spec = next(s for s in specs if s.symbol_id == symbol)
    tick = spec.tick_size
    reference = (spec.price_min + spec.price_max) // 2 // tick * tick
    shadow = MatchingEngine(specs)
    book, live = shadow.books[symbol], shadow.orders
    flow = Flow()
    quotes = []                     # (order_id, user, price, qty) in entry order
    kinds, weights = ("passive", "cancel", "marketable", "replace"), (
        mix.passive, mix.cancel, mix.marketable, mix.replace)
    applied = 0
    while len(flow.commands) < count:
        for command in flow.commands[applied:]:
            shadow.apply(command)
        applied = len(flow.commands)
        if len(quotes) > 4 * mix.live_orders:
            quotes = [q for q in quotes if q[0] in live]
        kind = rng.choices(kinds, weights)[0]
        if kind == "passive" and len(live) > mix.live_orders:
            kind = "cancel"
        if kind in ("cancel", "replace"):
            chosen = _live_quote(rng, quotes, live, mix)
            if chosen is None:
                kind = "passive"
            elif kind == "cancel":
                flow.cancel(chosen[0], chosen[1])
                continue
            else:
                order_id, user, price, qty = chosen
                qty = rng.randint(1, qty)
                flow.replace(order_id, price, qty, user)
                quotes.append((order_id, user, price, qty))
                continue
        side = rng.randrange(2)
        user = rng.randrange(1, mix.users + 1)
        qty = rng.randint(1, 5) * 100
        bid, ask = book.best(BUY), book.best(1 - BUY)
        bid = bid[0] if bid else (ask[0] - tick if ask else reference - tick)
        ask = ask[0] if ask else bid + tick
        if kind == "passive":
            away = 0 if rng.random() < mix.at_touch else min(9, 1 + int(rng.expovariate(0.7)))
            if ask - bid > tick and rng.random() < 0.3:
                away = -1                                   # improves a wide spread
            price = bid - away * tick if side == BUY else ask + away * tick
            order_id = flow.order(side, price, qty, user=user, tif=rng.choice((DAY, GTC)),
                                  symbol=symbol)
            quotes.append((order_id, user, price, qty))
        elif rng.random() < 0.15:
            flow.market(side, qty, user=user, tif=IOC, symbol=symbol)
        else:
            through = rng.randint(0, 1) * tick
            price = ask + through if side == BUY else bid - through
            tif = IOC if rng.random() < 0.7 else GTC
            order_id = flow.order(side, price, qty, user=user, tif=tif, symbol=symbol)
            if tif == GTC:
                quotes.append((order_id, user, price, qty))
    return flow.commands


def _live_quote(rng, quotes, live, mix):
    """A live quote, most often one of the last `mix.recent`; None when there is none."""
    for _ in range(8):
        if not quotes:
            return None
        if rng.random() < mix.recent_cancel:
            slot = rng.randrange(max(0, len(quotes) - mix.recent), len(quotes))
        else:
            slot = rng.randrange(len(quotes))
        chosen = quotes.pop(slot)
        if chosen[0] in live:
            return chosen
    return None
