"""Pre-trade risk in front of the matching engine.

`RiskGate(engine, symbols, limits).apply(command)` checks a NEW_ORDER or REPLACE
against the account's limits (limits.py) and either hands it to the engine or
answers with a REJECTED event of its own (reasons 32..36 of RejectReason); every
other command goes to the engine as it is. It learns everything else from the
engine's events, so it holds no state the engine does not confirm:

- ACCEPTED opens an order, EXECUTED sets each side's open quantity from the
  event's `*_leaves` and moves cash and shares exactly as the ledger posts them
  (host/ledger/postings.py, fees included), CANCELLED closes it, REPLACED resizes
  it;
- each open order reserves what its open shares could still cost: for a buy, its
  limit price (the symbol's highest price for market and stop orders) plus the
  most its fees could be, per share; for a sell, its fees only. Reservations are
  released as orders fill, are cancelled or expire.

So after every event: `buying_power + cash - reserved >= 0` for every account,
and `position + open buys <= max_position`, `position - open sells >=
-max_position` per symbol (tests/test_risk.py checks both on random flows, with
cash and positions equal to the ledger's).

An order the engine would reject anyway for what it is (bad price, unknown symbol,
duplicate id, ...) is passed to it unchecked, so the engine's own reason wins, as
the order of checks in docs/matching.md says. A halt is not such a reason: a halted
symbol may resume on this very order (the circuit breaker's pause ends), so an
order there is checked like any other.

This file is compiled by Cython in pure-Python mode (gate.pxd types it; setup.py);
`GATEBOOK_PURE_PYTHON=1` runs it as Python.
"""

from gatebook.wire.enums import OrderType, RejectReason, Side
from gatebook.wire.internal import (ACCEPTED, CANCELLED, EXECUTED, NEW_ORDER, REJECTED,
                                    REPLACE, REPLACED, STOP_TRIGGERED)
from gatebook.wire.positions import CODE, INTERNAL

from ..engine import new_order_reject_reason, replace_reject_reason
from ..ledger.postings import HOUSE_ACCOUNT, Fee, FeeSchedule
from .limits import AccountLimits, fee_allowance_per_share

__all__ = ["RiskGate", "OpenOrder", "Account", "Exposure", "RISK_REASONS"]

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
_J_SEQ, _J_TS, _J_COMMAND, _J_SYMBOL = _J.seq, _J.ts, _J.command, _J.symbol
_J_ORDER_ID, _J_USER, _J_REASON, _J_SIZE = _J.order_id, _J.user, _J.reason, len(_J)
_A_SYMBOL, _A_ORDER_ID, _A_USER = INTERNAL.ACCEPTED.symbol, INTERNAL.ACCEPTED.order_id, \
    INTERNAL.ACCEPTED.user
_A_SIDE, _A_TYPE, _A_PRICE, _A_QTY = (INTERNAL.ACCEPTED.side, INTERNAL.ACCEPTED.order_type,
                                      INTERNAL.ACCEPTED.price, INTERNAL.ACCEPTED.qty)
_E = INTERNAL.EXECUTED
_E_AGGRESSOR, _E_AGGRESSOR_LEAVES = _E.aggressor_id, _E.aggressor_leaves
_E_RESTING, _E_RESTING_LEAVES = _E.resting_id, _E.resting_leaves
_E_PRICE, _E_QTY, _E_SYMBOL, _E_SIDE = _E.price, _E.qty, _E.symbol, _E.aggressor_side
_E_AGGRESSOR_USER, _E_RESTING_USER = _E.aggressor_user, _E.resting_user
_C_ORDER_ID = INTERNAL.CANCELLED.order_id
_R_ORDER_ID, _R_PRICE, _R_QTY = (INTERNAL.REPLACED.order_id, INTERNAL.REPLACED.price,
                                 INTERNAL.REPLACED.qty)
_S_ORDER_ID = INTERNAL.STOP_TRIGGERED.order_id
_CODE = CODE
_BUY = int(Side.BUY)
_LIMIT, _STOP_LIMIT, _STOP = int(OrderType.LIMIT), int(OrderType.STOP_LIMIT), int(OrderType.STOP)
_NEW_ORDER, _REPLACE, _REJECTED = NEW_ORDER.code, REPLACE.code, REJECTED.code
_EXECUTED, _ACCEPTED, _CANCELLED = EXECUTED.code, ACCEPTED.code, CANCELLED.code
_REPLACED, _STOP_TRIGGERED = REPLACED.code, STOP_TRIGGERED.code
_INSUFFICIENT_BUYING_POWER = int(RejectReason.INSUFFICIENT_BUYING_POWER)
_POSITION_LIMIT, _ORDER_SIZE_LIMIT = int(RejectReason.POSITION_LIMIT), \
    int(RejectReason.ORDER_SIZE_LIMIT)
_ORDER_NOTIONAL_LIMIT = int(RejectReason.ORDER_NOTIONAL_LIMIT)
_NO_RISK_LIMITS = int(RejectReason.NO_RISK_LIMITS)
_FEE_RULES = ("buy_maker", "buy_taker", "sell_maker", "sell_taker")
_U32, _U64, _POSITION_CAP = (1 << 32) - 1, (1 << 64) - 1, 1 << 62


def _fee(per_share, rate_ppm, qty, notional):
    """`Fee(per_share, rate_ppm).of(qty, notional)` (host/ledger/postings.py), without
    building a Fee: the same rounding, half away from zero."""
    if not rate_ppm:
        return qty * per_share
    scaled = notional * rate_ppm
    if scaled < 0:
        return qty * per_share - (-scaled + 500_000) // 1_000_000
    return qty * per_share + (scaled + 500_000) // 1_000_000


class Exposure:
    """One account's shares in one symbol: held, and on open orders either way."""

    __slots__ = ("position", "open_buys", "open_sells")

    def __init__(self, position=0):
        self.position, self.open_buys, self.open_sells = position, 0, 0


class Account:
    """One account as the gate follows it: its limits, cash, holds and exposures.

    The limits' four numbers are copied in (`set_limits`): the checks read them on
    every order, and an attribute of this class is a field, not a lookup."""

    __slots__ = ("limits", "cash", "reserved", "symbols", "buying_power", "max_position",
                 "max_order_qty", "max_order_notional")

    def __init__(self, limits, cash=0):
        self.cash, self.reserved = cash, 0
        self.symbols = {}               # symbol -> Exposure
        self.set_limits(limits)

    def set_limits(self, limits):
        """Check this account's orders against `limits` (AccountLimits or None) from now on."""
        self.limits = limits
        if limits is not None:
            # Capped where no order can reach (2**32 shares at 2**32, 2**62 shares held),
            # so they fit the C integers the compiled checks compare them as.
            self.buying_power = limits.buying_power
            self.max_position = min(limits.max_position, _POSITION_CAP)
            self.max_order_qty = min(limits.max_order_qty, _U32)
            self.max_order_notional = min(limits.max_order_notional, _U64)

    def exposure(self, symbol):
        """The account's Exposure in `symbol` (made on first use)."""
        exposure = self.symbols.get(symbol)
        if exposure is None:
            exposure = self.symbols[symbol] = Exposure()
        return exposure


class OpenOrder:
    """An order the engine holds, as the gate accounts for it: `hold` is what each of its
    open shares reserves, `reserved` what they reserve together."""

    __slots__ = ("user", "symbol", "side", "price", "leaves", "waiting_stop", "reserved", "hold",
                 "account", "exposure")

    def __init__(self, user, symbol, side, price, waiting_stop, hold, account, exposure):
        self.user, self.symbol, self.side, self.price = user, symbol, side, price
        self.leaves, self.waiting_stop, self.reserved, self.hold = 0, waiting_stop, 0, hold
        self.account, self.exposure = account, exposure


class RiskGate:
    """Checks orders against per-account limits before `engine.apply`.

    Parameters
    ----------
    engine : MatchingEngine
        The engine behind the gate; fed only through the gate from now on. Orders it
        already holds are taken over (a restored engine's), with their holds.
    symbols : iterable of SymbolSpec
        The engine's symbols (their price bands bound what market orders cost).
    limits : dict
        user id -> AccountLimits. An order of a user without limits is refused
        (NO_RISK_LIMITS) unless `default_limits` is given.
    fees : FeeSchedule
        The ledger's fees, so the cash the gate tracks is the ledger's.
    cash, positions : dict
        Starting balances, as the ledger holds them (`LedgerStore.balances()`), or as a
        snapshot kept them (`export`): {account: cash}, {(user, symbol): shares}.
    """

    def __init__(self, engine, symbols, limits, *, default_limits=None, fees=None, cash=None,
                 positions=None):
        self.engine = engine
        self._engine_apply = engine.apply
        self.specs = {spec.symbol_id: spec for spec in symbols}
        self.accounts = {}              # user (HOUSE_ACCOUNT too) -> Account
        self.orders = {}                # order id -> OpenOrder
        self.rejected = {}              # RejectReason -> orders the gate refused
        # The engine's own set of ids it accepted (read, never written, here): a duplicate
        # id is the engine's reject. A matcher without one gets the gate's own copy.
        engine_ids = getattr(engine, "used_ids", None)
        self._own_ids = engine_ids is None
        self.used_ids = set() if engine_ids is None else engine_ids
        self.configure(limits, default_limits, fees)
        for user, amount in (cash or {}).items():
            self._account(user).cash = amount
        for (user, symbol), qty in (positions or {}).items():
            self._account(user).exposure(symbol).position = qty
        self._take_over(engine)

    def configure(self, limits, default_limits=None, fees=None):
        """Set the limits and fees from now on; balances, orders and holds stay."""
        self.limits = dict(limits)
        self.default_limits = default_limits
        self.fees = fees or FeeSchedule()
        rules = [getattr(self.fees, name) for name in _FEE_RULES]
        (self._buy_maker, self._buy_taker, self._sell_maker, self._sell_taker) = [
            (rule.per_share, rule.rate_ppm) for rule in rules]
        self._buy_fees = (self.fees.buy_maker, self.fees.buy_taker)
        sells = (self.fees.sell_maker, self.fees.sell_taker)
        # A sell can fill above its limit: its fees are bounded at the band's top.
        self._sell_hold = {symbol: fee_allowance_per_share(sells, spec.price_max)
                           for symbol, spec in self.specs.items()}
        self._buy_allowance = {}
        rates = [rule.rate_ppm for rule in self._buy_fees]
        # Without a rate, a buy's fee allowance does not depend on its price.
        self._buy_flat = max(0, *(rule.per_share for rule in self._buy_fees)) \
            if max(0, *rates) == 0 else -1
        for user, account in self.accounts.items():
            account.set_limits(self.limits.get(user, default_limits))
        for order in self.orders.values():              # holds under the new fees
            order.hold = self._hold(order.symbol, order.side, order.price)
            self._resize(order, order.leaves)

    # -- balances, as dicts (tests, snapshots, people) ---------------------------------------

    @property
    def cash(self):
        """{account: cash} of every account the gate has seen."""
        return {user: account.cash for user, account in self.accounts.items()}

    @property
    def reserved(self):
        """{user: what its open orders could still cost}."""
        return {user: account.reserved for user, account in self.accounts.items()}

    @property
    def positions(self):
        """{(user, symbol): shares held}."""
        return {(user, symbol): exposure.position for user, account in self.accounts.items()
                for symbol, exposure in account.symbols.items()}

    def limits_of(self, user):
        """The AccountLimits `user`'s orders are checked against, or None."""
        return self.limits.get(user, self.default_limits)

    def available(self, user):
        """Buying power left: the credit line plus cash, less what open orders hold."""
        limits = self.limits.get(user, self.default_limits)
        account = self.accounts.get(user)
        credit = limits.buying_power if limits is not None else 0
        return credit + (account.cash - account.reserved if account is not None else 0)

    def _account(self, user):
        account = self.accounts.get(user)
        if account is None:
            account = self.accounts[user] = Account(self.limits.get(user, self.default_limits))
        return account

    # -- the gate -----------------------------------------------------------------------

    def apply(self, command):
        """The events of `command`: a REJECTED of the gate's own, or the engine's."""
        code = command[CODE] if command else None
        reason = 0
        if code == _NEW_ORDER:
            reason = self._check_new_order(command)
        elif code == _REPLACE:
            reason = self._check_replace(command)
        if reason:
            self.rejected[reason] = self.rejected.get(reason, 0) + 1
            return [self._reject(command, reason)]
        events = self._engine_apply(command)
        self.observe(events)
        return events

    def _check_new_order(self, command):
        symbol = command[_N_SYMBOL]
        spec = self.specs.get(symbol) if type(symbol) is int else None
        if spec is None:
            return 0                    # the engine rejects it: unknown symbol
        order_type = command[_N_TYPE]
        price = command[_N_PRICE] if order_type == _LIMIT or order_type == _STOP_LIMIT \
            else spec.price_max
        try:
            reason = self._check(command[_N_USER], symbol, command[_N_SIDE], price,
                                 command[_N_QTY], None)
        except TypeError:               # a field that is no number: the engine's to refuse
            return 0
        # The engine's checks run only for an order the gate would refuse: if the engine
        # would refuse it anyway, its reason wins (the passing orders it checks itself).
        if reason and new_order_reject_reason(
                spec, False, self.used_ids, command[_N_SEQ], command[_N_TS], symbol,
                command[_N_ORDER_ID], command[_N_USER], command[_N_SIDE], order_type,
                command[_N_TIF], command[_N_PRICE], command[_N_STOP], command[_N_QTY]):
            return 0
        return reason

    def _check_replace(self, command):
        order = self.orders.get(command[_U_ORDER_ID]) if type(command[_U_ORDER_ID]) is int \
            else None
        if order is None or order.user != command[_U_USER] or order.waiting_stop:
            return 0                    # the engine's checks decide
        try:
            reason = self._check(order.user, order.symbol, order.side, command[_U_PRICE],
                                 command[_U_QTY], order)
        except TypeError:
            return 0
        if reason and replace_reject_reason(self.specs[order.symbol], command[_U_PRICE],
                                            command[_U_QTY]):
            return 0
        return reason

    def _check(self, user, symbol, side, price, qty, replacing):
        """The risk reason an order of `qty` at `price` would break, or 0 (`replacing`: the
        open order it replaces, whose holds it would give back)."""
        account = self.accounts.get(user)
        if account is None:
            if self.limits.get(user, self.default_limits) is None:
                return _NO_RISK_LIMITS
            account = self._account(user)
        elif account.limits is None:
            return _NO_RISK_LIMITS
        if type(qty) is not int or type(price) is not int or not 0 < qty <= 0xFFFFFFFF \
                or not 0 < price <= 0xFFFFFFFF:
            return 0                    # no order the engine takes: its reject
        shares, at = qty, price         # in range now: C integers when compiled
        if shares > account.max_order_qty:
            return _ORDER_SIZE_LIMIT
        notional = at                   # unsigned when compiled: 2**32 x 2**32 takes 64 bits
        if notional * shares > account.max_order_notional:
            return _ORDER_NOTIONAL_LIMIT
        exposure = account.exposure(symbol)
        freed = replacing.leaves if replacing is not None else 0
        if side == _BUY:
            if exposure.position + exposure.open_buys - freed + shares > account.max_position:
                return _POSITION_LIMIT
        elif exposure.position - exposure.open_sells + freed - shares < -account.max_position:
            return _POSITION_LIMIT
        held = replacing.reserved if replacing is not None else 0
        if qty * self._hold(symbol, side, price) > (account.buying_power + account.cash
                                                    - account.reserved + held):
            return _INSUFFICIENT_BUYING_POWER
        return 0

    def _hold(self, symbol, side, price):
        """What one open share could still cost its owner, fees included."""
        if side == _BUY:
            if self._buy_flat >= 0:
                return price + self._buy_flat
            allowance = self._buy_allowance.get(price)
            if allowance is None:
                allowance = price + fee_allowance_per_share(self._buy_fees, price)
                self._buy_allowance[price] = allowance
            return allowance
        return self._sell_hold[symbol]

    def _reject(self, command, reason):
        code = command[CODE]
        event = [0] * _J_SIZE
        event[CODE], event[_J_COMMAND], event[_J_REASON] = _REJECTED, code, reason
        if code == _NEW_ORDER:
            event[_J_SEQ], event[_J_TS] = command[_N_SEQ], command[_N_TS]
            event[_J_SYMBOL], event[_J_ORDER_ID] = command[_N_SYMBOL], command[_N_ORDER_ID]
            event[_J_USER] = command[_N_USER]
        else:
            event[_J_SEQ], event[_J_TS] = command[_U_SEQ], command[_U_TS]
            event[_J_SYMBOL] = self.orders[command[_U_ORDER_ID]].symbol
            event[_J_ORDER_ID], event[_J_USER] = command[_U_ORDER_ID], command[_U_USER]
        return tuple(event)

    # -- what the engine says -------------------------------------------------------------

    def observe(self, events):
        """Update orders, holds, cash and positions from one command's events."""
        for event in events:
            code = event[_CODE]
            if code == _EXECUTED:
                self._executed(event)
            elif code == _ACCEPTED:
                self._opened(event[_A_ORDER_ID], event[_A_USER], event[_A_SYMBOL],
                             event[_A_SIDE], event[_A_TYPE], event[_A_PRICE], event[_A_QTY],
                             event[_A_TYPE] == _STOP or event[_A_TYPE] == _STOP_LIMIT)
            elif code == _CANCELLED:
                order = self.orders.pop(event[_C_ORDER_ID], None)
                if order is not None:
                    self._resize(order, 0)
            elif code == _REPLACED:
                order = self.orders[event[_R_ORDER_ID]]
                order.price = event[_R_PRICE]
                order.hold = self._hold(order.symbol, order.side, order.price)
                self._resize(order, event[_R_QTY])
            elif code == _STOP_TRIGGERED:
                self.orders[event[_S_ORDER_ID]].waiting_stop = False

    def _opened(self, order_id, user, symbol, side, order_type, price, qty, waiting_stop):
        if order_type != _LIMIT and order_type != _STOP_LIMIT:
            price = self.specs[symbol].price_max
        if self._own_ids:
            self.used_ids.add(order_id)
        account = self._account(user)
        # Made without __init__'s argument parsing, a third of an open's cost compiled.
        order = OpenOrder.__new__(OpenOrder)
        order.user, order.symbol, order.side, order.price = user, symbol, side, price
        order.leaves, order.reserved, order.waiting_stop = 0, 0, waiting_stop
        order.hold, order.account = self._hold(symbol, side, price), account
        order.exposure = account.exposure(symbol)
        self.orders[order_id] = order
        self._resize(order, qty)

    def _executed(self, event):
        orders = self.orders
        aggressor = orders.get(event[_E_AGGRESSOR])
        if aggressor is not None:
            leaves = event[_E_AGGRESSOR_LEAVES]
            self._resize(aggressor, leaves)
            if not leaves:
                del orders[event[_E_AGGRESSOR]]
        resting = orders.get(event[_E_RESTING])
        if resting is not None:
            leaves = event[_E_RESTING_LEAVES]
            self._resize(resting, leaves)
            if not leaves:
                del orders[event[_E_RESTING]]
        # The ledger's postings (host/ledger/postings.py), summed here without building
        # each leg: tests/test_risk.py holds these balances to the ledger's.
        price, qty, symbol = event[_E_PRICE], event[_E_QTY], event[_E_SYMBOL]
        notional = price * qty
        # Each side's account and exposure from its order, when the gate holds it.
        if event[_E_SIDE] == _BUY:
            buying, selling = aggressor, resting
            buyer, seller = event[_E_AGGRESSOR_USER], event[_E_RESTING_USER]
            buyer_fee = _fee(self._buy_taker[0], self._buy_taker[1], qty, notional)
            seller_fee = _fee(self._sell_maker[0], self._sell_maker[1], qty, notional)
        else:
            buying, selling = resting, aggressor
            buyer, seller = event[_E_RESTING_USER], event[_E_AGGRESSOR_USER]
            buyer_fee = _fee(self._buy_maker[0], self._buy_maker[1], qty, notional)
            seller_fee = _fee(self._sell_taker[0], self._sell_taker[1], qty, notional)
        if buying is not None:
            account, exposure = buying.account, buying.exposure
        else:
            account = self._account(buyer)
            exposure = account.exposure(symbol)
        account.cash = account.cash - notional - buyer_fee
        exposure.position = exposure.position + qty
        if selling is not None:
            account, exposure = selling.account, selling.exposure
        else:
            account = self._account(seller)
            exposure = account.exposure(symbol)
        account.cash = account.cash + notional - seller_fee
        exposure.position = exposure.position - qty
        if buyer_fee or seller_fee:
            account = self._account(HOUSE_ACCOUNT)
            account.cash = account.cash + buyer_fee + seller_fee

    def _resize(self, order, leaves):
        """Set an order's open shares, moving its holds with them."""
        exposure = order.exposure
        if order.side == _BUY:
            exposure.open_buys = exposure.open_buys + leaves - order.leaves
        else:
            exposure.open_sells = exposure.open_sells + leaves - order.leaves
        reserved = leaves * order.hold
        account = order.account
        account.reserved = account.reserved + reserved - order.reserved
        order.leaves, order.reserved = leaves, reserved

    # -- snapshots --------------------------------------------------------------------------

    def _take_over(self, engine):
        """Open the orders a (restored) engine already holds, with their holds."""
        for symbol in sorted(getattr(engine, "books", {})):
            book = engine.books[symbol]
            for side in (0, 1):
                for _, level in book.orders_at(side):
                    for order in level:
                        self._opened(order.order_id, order.user, symbol, order.side,
                                     order.order_type, order.price, order.qty, False)
                for order in book.live_stops(side):
                    self._opened(order.order_id, order.user, symbol, order.side,
                                 order.order_type, order.price, order.qty, True)

    def export(self):
        """The gate's own state for a snapshot (`gatebook.host.wal.snapshot.SnapshotState.risk`):
        what the engine's books cannot give back. A copy: call between commands."""
        default = self.default_limits
        return (None if default is None else _limits_tuple(default),
                {user: _limits_tuple(limits) for user, limits in self.limits.items()},
                tuple((rule.per_share, rule.rate_ppm)
                      for rule in (getattr(self.fees, name) for name in _FEE_RULES)),
                {user: amount for user, amount in self.cash.items() if amount},
                {key: qty for key, qty in self.positions.items() if qty})

    @classmethod
    def restore(cls, engine, symbols, saved):
        """The gate a snapshot's `risk` state (`export`) describes, in front of `engine`
        restored from the same snapshot."""
        default, limits, fees, cash, positions = saved
        schedule = FeeSchedule(**{name: Fee(*rule) for name, rule in zip(_FEE_RULES, fees)})
        return cls(engine, symbols, {user: AccountLimits(*values)
                                     for user, values in limits.items()},
                   default_limits=None if default is None else AccountLimits(*default),
                   fees=schedule, cash=cash, positions=positions)


def _limits_tuple(limits):
    return (limits.buying_power, limits.max_position, limits.max_order_qty,
            limits.max_order_notional)
