"""Helpers for the engine tests: stamped commands and expected events by name.

`Exchange` wraps a `MatchingEngine`, stamps each command's seq and ts itself
and remembers who entered which order, so a test reads like a blotter::

    ex = Exchange()
    ex.sell(1, qty=10, price=usd(100))
    got = ex.buy(2, qty=4, price=usd(101))
    assert_events(got, [ex.accepted(), *ex.fill(1, usd(100), 4, taker=2, taker_leaves=0,
                                                  maker=1, maker_leaves=6),
                        ex.level(SELL, usd(100), qty=6, orders=1)])

Every record is built with `gatebook.wire.records.make` from the wire tables,
so no test retypes a layout; expected events carry the seq and ts of the
command last sent.
"""

from decimal import Decimal

from gatebook.wire import internal as W
from gatebook.wire.codec import ProtocolCodec
from gatebook.wire.enums import (ALL_SYMBOLS, AdminAction, CancelReason, MassCancelScope,
                                 OrderType, RejectReason, Side, TimeInForce)
from gatebook.wire.records import describe, make
from gatebook.host.engine import MatchingEngine
from gatebook.host.symbols import DEFAULT_SYMBOLS

__all__ = [
    "GATE", "AAPL", "PENNY", "BUY", "SELL", "LIMIT", "MARKET", "STOP", "STOP_LIMIT",
    "DAY", "GTC", "IOC", "FOK", "ALL_SYMBOLS", "AdminAction", "CancelReason",
    "MassCancelScope", "RejectReason", "EVENT_CODEC", "usd", "Exchange",
    "assert_events", "public_state",
]

GATE, AAPL, PENNY = 1, 2, 4                 # DEFAULT_SYMBOLS ids (tick 100, 100, 1; lot 1, 1, 100)
BUY, SELL = int(Side.BUY), int(Side.SELL)
LIMIT, MARKET, STOP, STOP_LIMIT = (int(t) for t in OrderType)
DAY, GTC, IOC, FOK = (int(t) for t in TimeInForce)

EVENT_CODEC = ProtocolCodec(W.EVENTS)


def usd(amount):
    """Price units (1/10000 currency unit) for a dollar amount given as int or str: usd("100.01")."""
    units = Decimal(str(amount)) * 10_000
    assert units == int(units), amount
    return int(units)


class Exchange:
    """A matching engine driven by commands built from keyword arguments.

    Parameters
    ----------
    symbols : iterable of SymbolSpec
    stp : bool
        Self-trade prevention.
    implementation : engine_implementations.Implementation, optional
        Which engine to drive (the `engine` fixture's); the golden `MatchingEngine`
        itself, as `self.engine`, when not given.
    """

    def __init__(self, symbols=DEFAULT_SYMBOLS, *, stp=False, implementation=None):
        if implementation is None:
            # Read at call time: engine_implementations.golden_build swaps in each build.
            self.engine = MatchingEngine(symbols, self_trade_prevention=stp)
            self._books = lambda: self.engine.books
        else:
            self.engine = implementation.make(tuple(symbols), stp)
            self._books = lambda: implementation.books(self.engine)
        self.next_seq = 1
        self.command = None         # the command last sent
        self.entered = {}           # order id -> NEW_ORDER fields as first entered

    # -- commands ---------------------------------------------------------

    def stamp(self, message, **fields):
        """A command tuple for `message` with the next seq and a ts derived from it."""
        seq = self.next_seq
        self.next_seq += 1
        return make(message, seq=seq, ts=1_700_000_000_000_000_000 + 1000 * seq, **fields)

    def send(self, command):
        self.command = command
        return self.engine.apply(command)

    def order(self, order_id, side, qty, price=0, *, symbol=GATE, user=1, type=LIMIT, tif=DAY,
              stop=0):
        fields = dict(symbol=symbol, order_id=order_id, user=user, side=side, order_type=type,
                      tif=tif, price=price, stop_price=stop, qty=qty)
        self.entered.setdefault(order_id, fields)
        return self.send(self.stamp(W.NEW_ORDER, **fields))

    def buy(self, order_id, qty, price=0, **options):
        return self.order(order_id, BUY, qty, price, **options)

    def sell(self, order_id, qty, price=0, **options):
        return self.order(order_id, SELL, qty, price, **options)

    def cancel(self, order_id, user=None):
        return self.send(self.stamp(W.CANCEL, order_id=order_id, user=self._user(order_id, user)))

    def replace(self, order_id, price, qty, user=None):
        return self.send(self.stamp(W.REPLACE, order_id=order_id, user=self._user(order_id, user),
                                    price=price, qty=qty))

    def mass_cancel(self, scope, *, user=0, symbol=0):
        return self.send(self.stamp(W.MASS_CANCEL, scope=scope, user=user, symbol=symbol))

    def admin(self, action, symbol=ALL_SYMBOLS):
        return self.send(self.stamp(W.ADMIN, action=action, symbol=symbol))

    def _user(self, order_id, user):
        if user is not None:
            return user
        return self.entered[order_id]["user"] if order_id in self.entered else 1

    # -- expected events, stamped like the last command --------------------

    def event(self, message, **fields):
        return make(message, seq=self.command[1], ts=self.command[2], **fields)

    def accepted(self):
        """The ACCEPTED event echoing the last command (a new order)."""
        fields = dict(zip(W.NEW_ORDER.field_names, self.command[1:]))
        return make(W.ACCEPTED, **fields)

    def level(self, side, price, qty, orders, symbol=GATE):
        return self.event(W.LEVEL, symbol=symbol, side=side, price=price, qty=qty, orders=orders)

    def fill(self, match_id, price, qty, *, taker, taker_leaves, maker, maker_leaves):
        """The EXECUTED event and its TRADE print, as a pair."""
        aggressor, resting = self.entered[taker], self.entered[maker]
        symbol, side = aggressor["symbol"], aggressor["side"]
        return [
            self.event(W.EXECUTED, symbol=symbol, match_id=match_id, price=price, qty=qty,
                       aggressor_side=side, aggressor_id=taker, aggressor_user=aggressor["user"],
                       aggressor_leaves=taker_leaves, resting_id=maker,
                       resting_user=resting["user"], resting_leaves=maker_leaves),
            self.event(W.TRADE, symbol=symbol, match_id=match_id, price=price, qty=qty,
                       aggressor_side=side),
        ]

    def cancelled(self, order_id, qty, reason):
        order = self.entered[order_id]
        return self.event(W.CANCELLED, symbol=order["symbol"], order_id=order_id,
                          user=order["user"], qty=qty, reason=int(reason))

    def replaced(self, order_id, price, qty, *, kept_priority):
        order = self.entered[order_id]
        return self.event(W.REPLACED, symbol=order["symbol"], order_id=order_id,
                          user=order["user"], price=price, qty=qty, kept_priority=int(kept_priority))

    def triggered(self, order_id, trigger_price):
        order = self.entered[order_id]
        return self.event(W.STOP_TRIGGERED, symbol=order["symbol"], order_id=order_id,
                          user=order["user"], stop_price=order["stop_price"],
                          trigger_price=trigger_price)

    def rejected(self, reason, *, symbol=0, order_id=0, user=0):
        return self.event(W.REJECTED, command=self.command[0], symbol=symbol, order_id=order_id,
                          user=user, reason=int(reason))

    def trading_state(self, symbol, halted):
        return self.event(W.TRADING_STATE, symbol=symbol, halted=halted)

    def done(self, affected):
        return self.event(W.DONE, command=self.command[0], affected=affected)

    # -- views ------------------------------------------------------------

    def books(self):
        """{symbol: OrderBook} in listing order, every lane's window included."""
        return self._books()

    def book(self, symbol=GATE):
        return self._books()[symbol]

    def queue(self, side, symbol=GATE):
        """L3 by id: [(price, [order id, ...]), ...] best level first, in time priority."""
        return [(price, [o.order_id for o in orders])
                for price, orders in self.book(symbol).orders_at(side)]


def assert_events(got, expected):
    """Exact comparison of event lists; a mismatch is shown one readable line per event."""
    if list(got) != list(expected):
        lines = ["events differ", "got:"]
        lines += [f"  {describe(e)}  [{e[1]},{e[2]}]" for e in got]
        lines += ["expected:"]
        lines += [f"  {describe(e)}  [{e[1]},{e[2]}]" for e in expected]
        raise AssertionError("\n".join(lines))


def public_state(engine):
    """Everything a user can observe about the engine's state, through its public views."""
    state = {"match_id": engine.match_id, "used_ids": sorted(engine.used_ids)}
    for symbol, book in sorted(engine.books.items()):
        state[symbol] = (
            book.halted, book.last_trade_price,
            [book.depth(side) for side in (BUY, SELL)],
            [[(price, [(o.order_id, o.user, o.qty, o.seq) for o in orders])
              for price, orders in book.orders_at(side)] for side in (BUY, SELL)],
            [[(o.order_id, o.qty, o.stop_price) for o in book.live_stops(side)]
             for side in (BUY, SELL)],
        )
    return state
