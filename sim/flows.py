"""Command flows for the pipeline benches: directed scenarios and seeded random ones.

A flow is a list of sequenced command tuples (gatebook.wire.internal), the
same input the golden engine takes, so every implementation runs the same
flows (STYLE principle 9). Symbol 1 (GATE: tick 100, band 10_0000..200_0000)
is the one the hardware lane owns; symbol 2 stands for everything else.
"""

import random

from gatebook.wire import internal
from gatebook.wire.enums import AdminAction, MassCancelScope, OrderType, Side, TimeInForce

__all__ = ["Flow", "cents", "directed", "window_pressure", "random_flow", "SYMBOL", "OTHER"]

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
    f.order(BUY, cents(10002), 10, user=3)          # maybe still the host's
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

    The command right after a handover always reaches the lane before it has
    the symbol back (NOT_OWNED), so a harmless cancel stands there.
    """
    f = Flow()
    ids = [f.order(BUY, cents(10000 - i), 10, user=1 + i % 3) for i in range(depth + 1)]
    f.cancel(999_999)                                   # punted: the symbol is in transit
    f.cancel(ids[0])                                    # after the reload: frees a slot
    f.order(BUY, cents(10000 - depth - 5), 10, user=2)     # behind the host's deeper bids
    f.order(BUY, cents(10001), 10, user=2)                 # better than all: rests in the window
    f.order(SELL, cents(9990), 15 * depth, user=4, tif=IOC)   # through the window: sweep
    f.order(SELL, cents(10000), 5, user=4)
    f.market(BUY, 3, user=4)
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
