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
from ..ledger.postings import HOUSE_ACCOUNT, FeeSchedule, execution_of
from .limits import fee_allowance_per_share

__all__ = ["RiskGate", "OpenOrder", "RISK_REASONS"]

#: The reject reasons the gate gives (the engine never does).
RISK_REASONS = frozenset({RejectReason.INSUFFICIENT_BUYING_POWER, RejectReason.POSITION_LIMIT,
                          RejectReason.ORDER_SIZE_LIMIT, RejectReason.ORDER_NOTIONAL_LIMIT,
                          RejectReason.NO_RISK_LIMITS})

# Field indexes by name, bound once (gatebook.wire.positions): the gate is on the hot path.
_N, _U, _J = INTERNAL.NEW_ORDER, INTERNAL.REPLACE, INTERNAL.REJECTED
_N_SEQ, _N_TS, _N_SYMBOL, _N_ORDER_ID = _N.seq, _N.ts, _N.symbol, _N.order_id
_N_USER, _N_SIDE, _N_TYPE, _N_TIF = _N.user, _N.side, _N.order_type, _N.tif
_N_PRICE, _N_STOP, _N_QTY = _N.price, _N.stop_price, _N.qty
_U_SEQ, _U_TS, _U_ORDER_ID, _U_USER, _U_PRICE, _U_QTY = (_U.seq, _U.ts, _U.order_id, _U.user,
                                                         _U.price, _U.qty)
_A_SYMBOL, _A_ORDER_ID, _A_USER = INTERNAL.ACCEPTED.symbol, INTERNAL.ACCEPTED.order_id, \
    INTERNAL.ACCEPTED.user
_A_SIDE, _A_TYPE, _A_PRICE, _A_QTY = (INTERNAL.ACCEPTED.side, INTERNAL.ACCEPTED.order_type,
                                      INTERNAL.ACCEPTED.price, INTERNAL.ACCEPTED.qty)
_E_AGGRESSOR, _E_AGGRESSOR_LEAVES = INTERNAL.EXECUTED.aggressor_id, \
    INTERNAL.EXECUTED.aggressor_leaves
_E_RESTING, _E_RESTING_LEAVES = INTERNAL.EXECUTED.resting_id, INTERNAL.EXECUTED.resting_leaves
_C_ORDER_ID = INTERNAL.CANCELLED.order_id
_R_ORDER_ID, _R_PRICE, _R_QTY = (INTERNAL.REPLACED.order_id, INTERNAL.REPLACED.price,
                                 INTERNAL.REPLACED.qty)
_S_ORDER_ID = INTERNAL.STOP_TRIGGERED.order_id
_T_SYMBOL, _T_HALTED = INTERNAL.TRADING_STATE.symbol, INTERNAL.TRADING_STATE.halted
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
        buys = (self.fees.buy_maker, self.fees.buy_taker)
        sells = (self.fees.sell_maker, self.fees.sell_taker)
        self._buy_allowance = {}        # price -> fee allowance per share, as prices recur
        self._buy_fees = buys
        # A sell can fill above its limit: its fees are bounded at the band's top.
        self._sell_hold = {symbol: fee_allowance_per_share(sells, spec.price_max)
                           for symbol, spec in self.specs.items()}

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
        symbol, user = command[_N_SYMBOL], command[_N_USER]
        spec = self.specs.get(symbol) if type(symbol) is int else None
        if new_order_reject_reason(spec, symbol in self.halted, self.used_ids, command[_N_SEQ],
                                   command[_N_TS], symbol, command[_N_ORDER_ID], user,
                                   command[_N_SIDE], command[_N_TYPE], command[_N_TIF],
                                   command[_N_PRICE], command[_N_STOP], command[_N_QTY]):
            return 0                    # the engine rejects it with its own reason
        price = command[_N_PRICE] if command[_N_TYPE] in _PRICED else spec.price_max
        return self._check(user, symbol, command[_N_SIDE], price, command[_N_QTY], None)

    def _check_replace(self, command):
        order = self.orders.get(command[_U_ORDER_ID])
        if (order is None or order.user != command[_U_USER] or order.waiting_stop
                or order.symbol in self.halted):
            return 0                    # the engine's checks decide
        spec = self.specs[order.symbol]
        if replace_reject_reason(spec, command[_U_PRICE], command[_U_QTY]):
            return 0
        return self._check(order.user, order.symbol, order.side, command[_U_PRICE],
                           command[_U_QTY], order)

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
            allowance = self._buy_allowance.get(price)
            if allowance is None:
                allowance = self._buy_allowance[price] = \
                    price + fee_allowance_per_share(self._buy_fees, price)
            return leaves * allowance
        return leaves * self._sell_hold[symbol]

    def _reject(self, command, reason):
        code = command[CODE]
        if code == NEW_ORDER.code:
            symbol, order_id, user = command[_N_SYMBOL], command[_N_ORDER_ID], command[_N_USER]
        else:
            order_id, user = command[_U_ORDER_ID], command[_U_USER]
            symbol = self.orders[order_id].symbol
        seq, ts = (_N_SEQ, _N_TS) if code == NEW_ORDER.code else (_U_SEQ, _U_TS)
        event = [0] * len(_J)
        event[CODE], event[_J.seq], event[_J.ts] = REJECTED.code, command[seq], command[ts]
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
                order_type = event[_A_TYPE]
                price = (event[_A_PRICE] if order_type in _PRICED
                         else self.specs[event[_A_SYMBOL]].price_max)
                self.used_ids.add(event[_A_ORDER_ID])
                order = OpenOrder(event[_A_USER], event[_A_SYMBOL], event[_A_SIDE], price, 0,
                                  order_type in _STOPS)
                self.orders[event[_A_ORDER_ID]] = order
                self._resize(order, event[_A_QTY])
            elif code == _CANCELLED:
                order = self.orders.get(event[_C_ORDER_ID])
                if order is not None:
                    self._resize(order, 0)
                    del self.orders[event[_C_ORDER_ID]]
            elif code == _REPLACED:
                order = self.orders[event[_R_ORDER_ID]]
                order.price = event[_R_PRICE]
                self._resize(order, event[_R_QTY])
            elif code == _STOP_TRIGGERED:
                self.orders[event[_S_ORDER_ID]].waiting_stop = False
            elif code == _TRADING_STATE:
                (self.halted.add if event[_T_HALTED] else self.halted.discard)(event[_T_SYMBOL])

    def _executed(self, event):
        for order_id, leaves in ((event[_E_AGGRESSOR], event[_E_AGGRESSOR_LEAVES]),
                                 (event[_E_RESTING], event[_E_RESTING_LEAVES])):
            order = self.orders.get(order_id)
            if order is not None:
                self._resize(order, leaves)
                if not leaves:
                    del self.orders[order_id]
        # The ledger's postings (host/ledger/postings.py), summed here without building
        # each leg: tests/test_risk.py holds these balances to the ledger's.
        fill = execution_of(event, self.fees)
        notional = fill.price * fill.qty
        cash, positions = self.cash, self.positions
        cash[fill.buyer] = cash.get(fill.buyer, 0) - notional - fill.buyer_fee
        cash[fill.seller] = cash.get(fill.seller, 0) + notional - fill.seller_fee
        if fill.buyer_fee or fill.seller_fee:
            cash[HOUSE_ACCOUNT] = cash.get(HOUSE_ACCOUNT, 0) + fill.buyer_fee + fill.seller_fee
        bought, sold = (fill.buyer, fill.symbol), (fill.seller, fill.symbol)
        positions[bought] = positions.get(bought, 0) + fill.qty
        positions[sold] = positions.get(sold, 0) - fill.qty

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
