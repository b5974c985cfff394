"""Command flows for the pipeline benches: directed scenarios and seeded random ones.

A flow is a list of sequenced command tuples (gatebook.wire.internal), the
same input the golden engine takes, so every implementation runs the same
flows (STYLE principle 9). Symbol 1 (GATE: tick 100, band 10_0000..200_0000)
is the one the hardware lane owns; symbol 2 stands for everything else.
"""

import random

from gatebook.wire import internal
from gatebook.wire.enums import ALL_SYMBOLS, AdminAction, MassCancelScope, OrderType, Side, TimeInForce

__all__ = ["Flow", "cents", "directed", "window_pressure", "eviction", "random_flow",
           "hybrid_flow",
           "SYMBOL", "OTHER"]

SYMBOL, OTHER = 1, 2
BUY, SELL = int(Side.BUY), int(Side.SELL)
LIMIT, MARKET, STOP = int(OrderType.LIMIT), int(OrderType.MARKET), int(OrderType.STOP)
DAY, GTC, IOC, FOK = (int(t) for t in TimeInForce)


class Flow:
    """Builds a command list, numbering sequence and timestamps as it goes."""

    def __init__(self, first_seq=1):
        self.commands = []
        self.seq = first_seq
        self.next_id = 1

    def continued(self):
        """A new, empty flow that carries on this one's sequence numbers and order ids."""
        following = Flow(first_seq=self.seq)
        following.next_id = self.next_id
        return following

    def _stamp(self):
        seq = self.seq
        self.seq += 1
        return seq, 1_000_000 + 10 * seq

    def order(self, side, price, qty, *, user=1, order_type=LIMIT, tif=GTC, symbol=SYMBOL,
              stop_price=0, order_id=None):
        if order_id is None:
            order_id = self.next_id
            self.next_id += 1
        self.commands.append((internal.NEW_ORDER.code, *self._stamp(), symbol, order_id, user,
                              side, order_type, tif, price, stop_price, qty))
        return order_id

    def market(self, side, qty, **kw):
        return self.order(side, 0, qty, order_type=MARKET, **kw)

    def cancel(self, order_id, user=1):
        self.commands.append((internal.CANCEL.code, *self._stamp(), order_id, user))

    def replace(self, order_id, price, qty, user=1):
        self.commands.append((internal.REPLACE.code, *self._stamp(), order_id, user, price, qty))

    def admin(self, action, symbol=SYMBOL):
        self.commands.append((internal.ADMIN.code, *self._stamp(), action, symbol))

    def mass_cancel(self, scope, user=1, symbol=SYMBOL):
        self.commands.append((internal.MASS_CANCEL.code, *self._stamp(), scope, user, symbol))


def cents(count):
    """Price units of a price in cents (tick 100 = one cent)."""
    return count * 100


def directed():
    """{name: command list}: each scenario starts from an empty book."""
    scenarios = {}

    f = Flow()                                   # resting adds and cancels, both sides
    b1 = f.order(BUY, cents(10000), 100)
    b2 = f.order(BUY, cents(10001), 50, user=2)
    b3 = f.order(BUY, cents(10000), 70, user=3, tif=DAY)
    a1 = f.order(SELL, cents(10005), 40)
    f.order(SELL, cents(10003), 30, user=2)
    f.cancel(b1)
    f.cancel(b3, user=3)
    f.cancel(a1)
    f.cancel(b2, user=2)
    scenarios["rest_and_cancel"] = f.commands

    f = Flow()                                   # a limit buy through two ask levels
    f.order(SELL, cents(10005), 40)
    f.order(SELL, cents(10005), 60, user=2)
    f.order(SELL, cents(10006), 50, user=3)
    f.order(SELL, cents(10008), 50, user=3)
    f.order(BUY, cents(10006), 120, user=4)         # fills 40+60 @10005, 20 @10006
    f.order(BUY, cents(10007), 100, user=4)         # fills 30 @10006, rests 70 @10007
    f.order(SELL, cents(10007), 70, user=2)         # fills the resting bid exactly
    scenarios["limit_cross"] = f.commands

    f = Flow()                                   # market, IOC and FOK
    f.order(BUY, cents(9990), 10)
    f.order(BUY, cents(9995), 20, user=2)
    f.order(BUY, cents(9995), 30, user=3)
    f.market(SELL, 25, user=4)                   # two fills at 9995
    f.order(SELL, cents(9995), 40, user=4, tif=IOC) # 25 @9995, 15 cancelled
    f.order(SELL, cents(9980), 20, user=4, tif=FOK) # kill: only 10 available
    f.order(SELL, cents(9980), 10, user=4, tif=FOK) # fills the last 10
    f.market(BUY, 5, user=4)                     # nothing to hit: cancelled
    f.order(BUY, cents(9990), 5, user=4, tif=IOC)   # nothing to hit: cancelled
    scenarios["market_ioc_fok"] = f.commands

    f = Flow()                                   # cancels the hardware must give to the host
    o1 = f.order(BUY, cents(10000), 10)
    f.cancel(o1, user=9)                         # not the owner: host rejects
    f.cancel(12345)                              # unknown order: host rejects
    f.order(SELL, cents(10000), 10, user=2)         # fills o1
    f.cancel(o1)                                 # no longer live: host rejects
    f.order(BUY, cents(10000), 0, user=2)           # invalid quantity: host rejects
    f.order(BUY, cents(10000), 10, user=2, symbol=OTHER)   # another symbol: host's
    f.cancel(f.next_id - 1, user=2)              # cancel of that host order
    scenarios["host_rejects"] = f.commands

    f = Flow()                                   # quantity-decrease replaces in the lane
    o1 = f.order(BUY, cents(10000), 50)
    o2 = f.order(BUY, cents(10000), 30, user=2)
    f.replace(o1, cents(10000), 20)                 # decrease: keeps priority
    f.replace(o1, cents(10000), 20)                 # same quantity: keeps priority
    f.replace(o2, cents(10000), 10, user=3)         # not the owner: host rejects
    f.replace(o2, cents(10000), 15, user=2)         # decrease
    f.replace(o1, cents(10000), 0)                  # invalid quantity: front end's
    f.order(SELL, cents(10000), 25, user=4)         # fills o1 first: priority was kept
    f.replace(o2, cents(10000), 40, user=2)         # increase: loses priority, handed over
    scenarios["replace_decrease"] = f.commands

    f = Flow()                                   # punts with handover, then reloads
    o1 = f.order(BUY, cents(10000), 10)
    o2 = f.order(SELL, cents(10010), 10, user=2)
    f.replace(o1, cents(10001), 10)                 # replace: handed over
    f.order(BUY, cents(10002), 10, user=3)          # the host's: the symbol is in transit
    f.cancel(999_999, user=3)                       # the host's too (unknown: rejected)
    f.order(SELL, 0, 10, user=3, order_type=STOP, stop_price=cents(9000))  # a stop: host's
    f.cancel(o2, user=2)
    f.admin(int(AdminAction.HALT))
    f.order(BUY, cents(10000), 10, user=4)          # rejected: halted
    f.admin(int(AdminAction.RESUME))
    f.order(BUY, cents(10000), 10, user=4)
    f.mass_cancel(int(MassCancelScope.USER), user=4)
    f.order(SELL, cents(10010), 10, user=2)
    scenarios["handover"] = f.commands
    return scenarios


def window_pressure(depth):
    """Fill one side past the window, then trade through it: WINDOW_FULL, BEYOND_WINDOW, SWEEP.

    The two commands right after a handover reach the lane before it has the
    symbol back (NOT_OWNED: one is staged while the lane flushes, one comes in
    with the PUNT), so harmless cancels stand there.
    """
    f = Flow()
    ids = [f.order(BUY, cents(10000 - i), 10, user=1 + i % 3) for i in range(depth + 1)]
    f.cancel(999_999)                                   # punted: the symbol is in transit
    f.cancel(999_998)
    f.cancel(ids[0])                                    # after the reload: frees a slot
    f.order(BUY, cents(10000 - depth - 5), 10, user=2)     # behind the host's deeper bids
    f.cancel(999_997)                                   # in transit again
    f.cancel(999_996)
    f.order(BUY, cents(10001), 10, user=2)                 # better than all: rests in the window
    f.order(SELL, cents(9990), 15 * depth, user=4, tif=IOC)   # through the window: sweep
    f.order(SELL, cents(10000), 5, user=4)
    f.market(BUY, 3, user=4)
    return f.commands


def eviction(depth):
    """A full bid side, then better bids: each evicts the worst level and the lane keeps the symbol.

    The evicted orders are the host's from then on: an order at their price
    rests behind the window (BEYOND_WINDOW), a sell that reaches them sweeps
    (SWEEP), a cancel of one is the host's (NOT_IN_WINDOW).
    """
    f = Flow()
    ids = [f.order(BUY, cents(10000 - i // 2), 10, user=1 + i % 3) for i in range(depth)]
    f.order(BUY, cents(10001), 10, user=2)                  # evicts the worst level (1 or 2)
    f.order(BUY, cents(10002), 20, user=3)                  # evicts again
    f.cancel(ids[-1], user=1 + (depth - 1) % 3)             # an evicted order: the host's
    f.order(SELL, cents(10010), 5, user=4)                  # the other side still works
    f.order(SELL, cents(10002), 5, user=4)                  # trades in the window
    f.order(BUY, cents(10003), 10, user=1)
    f.order(SELL, cents(9000), 30 * depth, user=4, tif=IOC)  # reaches the host's bids: sweep
    return f.commands


def random_flow(seed, count, *, mid=cents(10000), spread=6):
    """A seeded random flow around `mid`, mostly for the hardware's symbol.

    Mostly limit orders within `spread` ticks of `mid` (so some cross), with
    IOC, FOK and market orders, cancels of live and dead orders, and a few
    replaces, stops, rejects and orders for another symbol to drive punts.
    """
    rng = random.Random(seed)
    f = Flow()
    live = []
    for _ in range(count):
        r = rng.random()
        side = rng.randrange(2)
        user = rng.randrange(1, 5)
        price = mid + cents(rng.randrange(-spread, spread + 1))
        qty = rng.choice((1, 5, 10, 10, 20, 50))
        if r < 0.50:
            tif = rng.choice((DAY, GTC))
            live.append((f.order(side, price, qty, user=user, tif=tif), user, price, qty))
        elif r < 0.58:
            f.order(side, price, qty, user=user, tif=IOC)
        elif r < 0.62:
            f.order(side, price, qty, user=user, tif=FOK)
        elif r < 0.66:
            f.market(side, qty, user=user, tif=rng.choice((IOC, DAY)))
        elif r < 0.92 and live:
            order_id, owner, _, _ = live.pop(rng.randrange(len(live)))
            f.cancel(order_id, owner if rng.random() < 0.9 else owner % 4 + 1)
        elif r < 0.95 and live:
            order_id, owner, old_price, old_qty = live[rng.randrange(len(live))]
            if rng.random() < 0.7:          # mostly decreases (of the entered quantity)
                f.replace(order_id, old_price, rng.randrange(old_qty + 1), owner)
            else:
                f.replace(order_id, price, qty, owner)
        elif r < 0.96:
            f.order(side, price, qty, user=user, symbol=OTHER)
        elif r < 0.99:
            f.order(side, price + 1, qty, user=user)        # off tick: rejected
        else:       # a stop, which later cancels may take out again
            live.append((f.order(side, 0, qty, user=user, order_type=STOP,
                                 stop_price=mid + cents(rng.randrange(-spread, spread + 1))),
                         user, 0, qty))
    return f.commands


def hybrid_flow(seed, count, *, symbols=(SYMBOL, OTHER, 3), mid=cents(10000), spread=5,
                target=12):
    """An adversarial seeded flow over several symbols, for the hybrid host.

    Around `target` live orders per symbol (so a window of 8-16 fits the book
    often and overflows it often), with bursts that stack one side deeper than
    any window and then sweep it, stops that later prints trigger or cancels
    take out, halts and resumes, kills and end of day, mass cancels of every
    scope, replaces of every kind (decrease, increase, new price, invalid,
    another user's), cancels of dead, unknown and foreign orders, and rejects
    of every validation rule (duplicate id, unknown symbol, off tick, band,
    quantity).
    """
    rng = random.Random(seed)
    f = Flow()
    live = {s: [] for s in symbols}          # symbol -> [(id, user, price, qty)]
    dead = []
    for _ in range(count):
        symbol = rng.choice(symbols)
        book = live[symbol]
        side = rng.randrange(2)
        user = rng.randrange(1, 5)
        price = mid + cents(rng.randrange(-spread, spread + 1))
        qty = rng.choice((1, 5, 10, 10, 20, 50))
        r = rng.random()
        crowded = len(book) > target
        if r < 0.40 and not crowded:
            tif = rng.choice((DAY, GTC))
            book.append((f.order(side, price, qty, user=user, tif=tif, symbol=symbol),
                         user, price, qty))
        elif r < 0.40 or (r < 0.62 and book):
            entry = book.pop(rng.randrange(len(book)))
            dead.append(entry)
            f.cancel(entry[0], entry[1] if rng.random() < 0.92 else entry[1] % 4 + 1)
        elif r < 0.68:
            big = rng.random() < 0.25                 # may reach the host's deeper orders
            f.order(side, price, 4 * target * qty if big else qty, user=user, tif=IOC,
                    symbol=symbol)
        elif r < 0.72:
            f.order(side, price, rng.choice((qty, 4 * qty)), user=user, tif=FOK, symbol=symbol)
        elif r < 0.75:
            f.market(side, qty, user=user, tif=rng.choice((IOC, DAY)), symbol=symbol)
        elif r < 0.80 and book:
            order_id, owner, old_price, old_qty = book[rng.randrange(len(book))]
            choice = rng.random()
            if choice < 0.5:
                f.replace(order_id, old_price, rng.randrange(1, old_qty + 1), owner)
            elif choice < 0.75:
                f.replace(order_id, price, qty, owner)
            elif choice < 0.85:
                f.replace(order_id, old_price, rng.choice((0, 1)), owner % 4 + 1)
            else:
                f.replace(order_id, old_price + rng.choice((0, 1)), rng.choice((0, qty)), owner)
        elif r < 0.83:                        # a burst deeper than any window, then a sweep
            for i in range(rng.randrange(4, 20)):
                p = mid + cents(spread + i // 3) * (1 if side else -1)
                book.append((f.order(side, p, 10, user=1 + i % 4, symbol=symbol),
                             1 + i % 4, p, 10))
            if rng.random() < 0.6:             # hits the burst's side from the other one
                through = mid - cents(3 * spread) if side == BUY else mid + cents(3 * spread)
                if rng.random() < 0.5:
                    f.market(1 - side, rng.randrange(50, 400), user=user, tif=IOC, symbol=symbol)
                else:
                    f.order(1 - side, through, rng.randrange(50, 400), user=user,
                            tif=rng.choice((IOC, GTC)), symbol=symbol)
        elif r < 0.86:
            stop = mid + cents(rng.randrange(-spread, spread + 1))
            book.append((f.order(side, 0, qty, user=user, order_type=STOP, stop_price=stop,
                                 symbol=symbol), user, 0, qty))
        elif r < 0.88 and dead:
            f.cancel(rng.choice(dead)[0], user)
        elif r < 0.89:
            f.cancel(10_000_000 + rng.randrange(100), user)
        elif r < 0.94:                        # rejects of every validation rule
            kind = rng.randrange(6)
            if kind == 0 and dead:
                f.order(side, price, qty, user=user, symbol=symbol, order_id=rng.choice(dead)[0])
            elif kind == 1:
                f.order(side, price, qty, user=user, symbol=77)
            elif kind == 2:
                f.order(side, price + 1, qty, user=user, symbol=symbol)
            elif kind == 3:
                f.order(side, cents(9_999_999), qty, user=user, symbol=symbol)
            elif kind == 4:
                f.order(side, price, 0, user=user, symbol=symbol)
            else:
                f.order(side, price, qty, user=user, symbol=symbol, stop_price=price)
        elif r < 0.96:
            scope = rng.choice(list(MassCancelScope))
            f.mass_cancel(int(scope), user=user, symbol=symbol)
            gone = [e for s in symbols for e in live[s] if
                    (scope == MassCancelScope.USER and e[1] == user)
                    or (s == symbol and scope == MassCancelScope.SYMBOL)
                    or (s == symbol and scope == MassCancelScope.USER_SYMBOL and e[1] == user)]
            for s in symbols:
                live[s] = [e for e in live[s] if e not in gone]
            book = live[symbol]
            dead.extend(gone)
        elif r < 0.985:
            f.admin(int(AdminAction.HALT), symbol)
            f.order(side, price, qty, user=user, symbol=symbol)        # rejected: halted
            f.admin(int(AdminAction.RESUME), symbol)
        elif r < 0.993:
            f.admin(int(AdminAction.END_OF_DAY), rng.choice((symbol, ALL_SYMBOLS)))
        else:
            f.admin(int(AdminAction.KILL), symbol)
            dead.extend(book)
            book.clear()
            f.admin(int(AdminAction.RESUME), symbol)
    return f.commands
