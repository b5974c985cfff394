"""Pre-trade risk in front of the matching engine.

`RiskGate(engine, symbols, limits).apply(command)` checks a NEW_ORDER or REPLACE
against the account's limits (limits.py) and either hands it to the engine or
answers with a REJECTED event of its own (reasons 32..36 of RejectReason); every
other command goes to the engine as it is. It learns everything else from the
engine's events, so it holds no state the engine does not confirm:

- ACCEPTED opens an order, EXECUTED sets each side's open quantity from the
  event's `*_leaves` and moves cash and shares exactly as the ledger posts them
  (host/ledger/postings.py, fees included), CANCELLED closes it, REPLACED resizes
  it, TRADING_STATE tracks halts;
- each open order reserves what its open shares could still cost: for a buy, its
  limit price (the symbol's highest price for market and stop orders) plus the
  most its fees could be, per share; for a sell, its fees only. Reservations are
  released as orders fill, are cancelled or expire.

So after every event: `buying_power + cash - reserved >= 0` for every account,
and `position + open buys <= max_position`, `position - open sells >=
-max_position` per symbol (tests/test_risk.py checks both on random flows, with
cash and positions equal to the ledger's).

An order the engine would reject anyway (bad price, unknown symbol, duplicate
id, halted symbol) is passed to it unchecked, so the engine's own reason wins, as
the order of checks in docs/matching.md says. Not wired into `gatebook run` yet.
"""

from gatebook.wire.enums import OrderType, RejectReason, Side
from gatebook.wire.internal import (ACCEPTED, CANCELLED, EXECUTED, NEW_ORDER, REJECTED,
                                    REPLACE, REPLACED, STOP_TRIGGERED, TRADING_STATE)
from gatebook.wire.positions import CODE, INTERNAL

from ..engine import new_order_reject_reason, replace_reject_reason
from ..ledger.postings import CASH, FeeSchedule, execution_of, postings
from .limits import fee_allowance_per_share

__all__ = ["RiskGate", "OpenOrder", "RISK_REASONS"]

#: The reject reasons the gate gives (the engine never does).
RISK_REASONS = frozenset({RejectReason.INSUFFICIENT_BUYING_POWER, RejectReason.POSITION_LIMIT,
                          RejectReason.ORDER_SIZE_LIMIT, RejectReason.ORDER_NOTIONAL_LIMIT,
                          RejectReason.NO_RISK_LIMITS})

_N, _U, _A = INTERNAL.NEW_ORDER, INTERNAL.REPLACE, INTERNAL.ACCEPTED
_E, _C, _R = INTERNAL.EXECUTED, INTERNAL.CANCELLED, INTERNAL.REPLACED
_T, _S, _J = INTERNAL.TRADING_STATE, INTERNAL.STOP_TRIGGERED, INTERNAL.REJECTED
_BUY = int(Side.BUY)
_PRICED = (int(OrderType.LIMIT), int(OrderType.STOP_LIMIT))
_STOPS = (int(OrderType.STOP), int(OrderType.STOP_LIMIT))


class OpenOrder:
    """An order the engine holds, as the gate accounts for it."""

    __slots__ = ("user", "symbol", "side", "price", "leaves", "waiting_stop", "reserved")

    def __init__(self, user, symbol, side, price, leaves, waiting_stop):
        self.user, self.symbol, self.side, self.price = user, symbol, side, price
        self.leaves, self.waiting_stop, self.reserved = leaves, waiting_stop, 0


class RiskGate:
    """Checks orders against per-account limits before `engine.apply`.

    Parameters
    ----------
    engine : MatchingEngine
        The engine behind the gate; fed only through the gate from now on.
    symbols : iterable of SymbolSpec
        The engine's symbols (their price bands bound what market orders cost).
    limits : dict
        user id -> AccountLimits. An order of a user without limits is refused
        (NO_RISK_LIMITS) unless `default_limits` is given.
    fees : FeeSchedule
        The ledger's fees, so the cash the gate tracks is the ledger's.
    cash, positions : dict
        Starting balances, as the ledger holds them (`LedgerStore.balances()`):
        {user: cash}, {(user, symbol): shares}.
    """

    def __init__(self, engine, symbols, limits, *, default_limits=None, fees=None, cash=None,
                 positions=None):
        self.engine = engine
        self.specs = {spec.symbol_id: spec for spec in symbols}
        self.limits = dict(limits)
        self.default_limits = default_limits
        self.fees = fees or FeeSchedule()
        self.cash = dict(cash or {})
        self.positions = dict(positions or {})
        self.reserved = {}              # user -> cash its open orders could still take
        self.open_buys = {}             # (user, symbol) -> open buy shares
        self.open_sells = {}            # (user, symbol) -> open sell shares
        self.orders = {}                # order id -> OpenOrder
        self.used_ids = set()           # every order id the engine accepted
        self.halted = set()             # symbols halted
        self.rejected = {}              # RejectReason -> orders the gate refused
        self._buy_fees = (self.fees.buy_maker, self.fees.buy_taker)
        self._sell_fees = (self.fees.sell_maker, self.fees.sell_taker)

    # -- the gate -----------------------------------------------------------------------

    def apply(self, command):
        """The events of `command`: a REJECTED of the gate's own, or the engine's."""
        code = command[CODE] if command else None
        reason = 0
        if code == NEW_ORDER.code:
            reason = self._check_new_order(command)
        elif code == REPLACE.code:
            reason = self._check_replace(command)
        if reason:
            self.rejected[reason] = self.rejected.get(reason, 0) + 1
            return [self._reject(command, reason)]
        events = self.engine.apply(command)
        self.observe(events)
        return events

    def limits_of(self, user):
        return self.limits.get(user, self.default_limits)

    def available(self, user):
        """Buying power left: the credit line plus cash, less what open orders hold."""
        limits = self.limits_of(user)
        credit = limits.buying_power if limits is not None else 0
        return credit + self.cash.get(user, 0) - self.reserved.get(user, 0)

    def _check_new_order(self, command):
        symbol, user = command[_N.symbol], command[_N.user]
        spec = self.specs.get(symbol) if type(symbol) is int else None
        if new_order_reject_reason(spec, symbol in self.halted, self.used_ids, command[_N.seq],
                                   command[_N.ts], symbol, command[_N.order_id], user,
                                   command[_N.side], command[_N.order_type], command[_N.tif],
                                   command[_N.price], command[_N.stop_price], command[_N.qty]):
            return 0                    # the engine rejects it with its own reason
        price = command[_N.price] if command[_N.order_type] in _PRICED else spec.price_max
        return self._check(user, symbol, command[_N.side], price, command[_N.qty], None)

    def _check_replace(self, command):
        order = self.orders.get(command[_U.order_id])
        if (order is None or order.user != command[_U.user] or order.waiting_stop
                or order.symbol in self.halted):
            return 0                    # the engine's checks decide
        spec = self.specs[order.symbol]
        if replace_reject_reason(spec, command[_U.price], command[_U.qty]):
            return 0
        return self._check(order.user, order.symbol, order.side, command[_U.price],
                           command[_U.qty], order)

    def _check(self, user, symbol, side, price, qty, replacing):
        """The risk reason an order of `qty` at `price` would break, or 0 (`replacing`: the
        open order it replaces, whose holds it would give back)."""
        limits = self.limits_of(user)
        if limits is None:
            return RejectReason.NO_RISK_LIMITS
        if qty > limits.max_order_qty:
            return RejectReason.ORDER_SIZE_LIMIT
        if price * qty > limits.max_order_notional:
            return RejectReason.ORDER_NOTIONAL_LIMIT
        key = (user, symbol)
        freed = replacing.leaves if replacing is not None else 0
        position = self.positions.get(key, 0)
        if side == _BUY:
            if position + self.open_buys.get(key, 0) - freed + qty > limits.max_position:
                return RejectReason.POSITION_LIMIT
        elif position - self.open_sells.get(key, 0) + freed - qty < -limits.max_position:
            return RejectReason.POSITION_LIMIT
        held = replacing.reserved if replacing is not None else 0
        if self._reservation(symbol, side, price, qty) > self.available(user) + held:
            return RejectReason.INSUFFICIENT_BUYING_POWER
        return 0

    def _reservation(self, symbol, side, price, leaves):
        """What `leaves` open shares could still cost their owner, fees included."""
        if side == _BUY:
            return leaves * (price + fee_allowance_per_share(self._buy_fees, price))
        # A sell can fill above its limit: its fees are bounded at the band's top.
        top = self.specs[symbol].price_max
        return leaves * fee_allowance_per_share(self._sell_fees, top)

    def _reject(self, command, reason):
        code = command[CODE]
        if code == NEW_ORDER.code:
            symbol, order_id, user = command[_N.symbol], command[_N.order_id], command[_N.user]
        else:
            order_id, user = command[_U.order_id], command[_U.user]
            symbol = self.orders[order_id].symbol
        stamp = _N if code == NEW_ORDER.code else _U
        event = [0] * len(_J)
        event[CODE], event[_J.seq], event[_J.ts] = REJECTED.code, command[stamp.seq], command[stamp.ts]
        event[_J.command], event[_J.symbol], event[_J.order_id] = code, symbol, order_id
        event[_J.user], event[_J.reason] = user, int(reason)
        return tuple(event)

    # -- what the engine says -------------------------------------------------------------

    def observe(self, events):
        """Update orders, holds, cash and positions from one command's events."""
        for event in events:
            code = event[CODE]
            if code == _EXECUTED:
                self._executed(event)
            elif code == _ACCEPTED:
                order_type = event[_A.order_type]
                price = (event[_A.price] if order_type in _PRICED
                         else self.specs[event[_A.symbol]].price_max)
                self.used_ids.add(event[_A.order_id])
                order = OpenOrder(event[_A.user], event[_A.symbol], event[_A.side], price, 0,
                                  order_type in _STOPS)
                self.orders[event[_A.order_id]] = order
                self._resize(order, event[_A.qty])
            elif code == _CANCELLED:
                order = self.orders.get(event[_C.order_id])
                if order is not None:
                    self._resize(order, 0)
                    del self.orders[event[_C.order_id]]
            elif code == _REPLACED:
                order = self.orders[event[_R.order_id]]
                order.price = event[_R.price]
                self._resize(order, event[_R.qty])
            elif code == _STOP_TRIGGERED:
                self.orders[event[_S.order_id]].waiting_stop = False
            elif code == _TRADING_STATE:
                (self.halted.add if event[_T.halted] else self.halted.discard)(event[_T.symbol])

    def _executed(self, event):
        for order_id, leaves in ((event[_E.aggressor_id], event[_E.aggressor_leaves]),
                                 (event[_E.resting_id], event[_E.resting_leaves])):
            order = self.orders.get(order_id)
            if order is not None:
                self._resize(order, leaves)
                if not leaves:
                    del self.orders[order_id]
        for posting in postings(execution_of(event, self.fees)):
            if posting.book == CASH:
                self.cash[posting.account] = self.cash.get(posting.account, 0) + posting.amount
            else:
                key = (posting.account, posting.symbol)
                self.positions[key] = self.positions.get(key, 0) + posting.amount

    def _resize(self, order, leaves):
        """Set an order's open shares, moving its holds with them."""
        key = (order.user, order.symbol)
        opened = self.open_buys if order.side == _BUY else self.open_sells
        opened[key] = opened.get(key, 0) + leaves - order.leaves
        reserved = self._reservation(order.symbol, order.side, order.price, leaves)
        self.reserved[order.user] = self.reserved.get(order.user, 0) + reserved - order.reserved
        order.leaves, order.reserved = leaves, reserved


_EXECUTED, _ACCEPTED, _CANCELLED = EXECUTED.code, ACCEPTED.code, CANCELLED.code
_REPLACED, _STOP_TRIGGERED, _TRADING_STATE = REPLACED.code, STOP_TRIGGERED.code, TRADING_STATE.code
