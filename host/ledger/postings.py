"""What one execution does to the accounts: double-entry postings, fees included.

An EXECUTED event (gatebook.wire.internal) moves cash from the buyer to the
seller and shares from the seller to the buyer. Both sides may pay a fee,
set per side (buy, sell) and per liquidity flag (maker: the resting order;
taker: the aggressor), which goes to the exchange's own account,
`HOUSE_ACCOUNT`. Every amount is an integer in the units the events carry:
cash in price units x shares (a price unit is 1/10000 of the currency, as
ITCH's Price(4)), positions in shares. For every execution the cash postings
sum to zero and so do the share postings: that is what double entry means
here, and `tests/test_ledger_postings.py` checks it on random executions.

This module is pure: the ledger writer, `gatebook ledger reconcile` and the
demo all take their numbers from `postings`, so they cannot disagree.
"""

import tomllib
from dataclasses import dataclass, field
from typing import NamedTuple

from gatebook.wire.enums import Side
from gatebook.wire.positions import INTERNAL

__all__ = ["HOUSE_ACCOUNT", "CASH", "POSITION", "Fee", "FeeSchedule", "Execution", "Posting",
           "execution_of", "postings", "BALANCE_LIMIT", "Unrepresentable", "load_fees"]

#: The exchange's fee account: outside the 32-bit user ids, so no user can be it.
HOUSE_ACCOUNT = -1
#: Posting books: cash (price units x shares) and a position in one symbol (shares).
CASH, POSITION = "cash", "position"
#: Balances and amounts are signed 64-bit integers in both stores.
BALANCE_LIMIT = (1 << 63) - 1

_E = INTERNAL.EXECUTED
_BUY = int(Side.BUY)


class Unrepresentable(ValueError):
    """An execution whose amounts do not fit the ledger's signed 64-bit integers."""


@dataclass(frozen=True)
class Fee:
    """One fee rule: `per_share` price units per share plus `rate_ppm` parts per
    million of the notional (price x shares), rounded half away from zero. Negative
    values are rebates (the exchange pays)."""

    per_share: int = 0
    rate_ppm:  int = 0

    def __post_init__(self):
        if type(self.per_share) is not int or type(self.rate_ppm) is not int:
            raise ValueError("fees are integers (price units per share, parts per million)")

    def of(self, qty, notional):
        """The fee, in price units x shares, for a fill of `qty` shares worth `notional`."""
        scaled = abs(notional * self.rate_ppm)
        rate_part = (scaled + 500_000) // 1_000_000
        if notional * self.rate_ppm < 0:
            rate_part = -rate_part
        return qty * self.per_share + rate_part


@dataclass(frozen=True)
class FeeSchedule:
    """The fee each side pays, by liquidity flag. The default charges nothing."""

    buy_maker:  Fee = field(default_factory=Fee)
    buy_taker:  Fee = field(default_factory=Fee)
    sell_maker: Fee = field(default_factory=Fee)
    sell_taker: Fee = field(default_factory=Fee)

    @classmethod
    def from_mapping(cls, mapping):
        """From {"buy_maker": {"per_share": 0, "rate_ppm": 20}, ...} (a TOML table, say);
        ValueError naming an unknown rule or field."""
        rules = {}
        for name, values in (mapping or {}).items():
            if name not in cls.__dataclass_fields__:
                raise ValueError(f"unknown fee rule {name!r}: expected one of "
                                 f"{', '.join(cls.__dataclass_fields__)}")
            unknown = set(values) - {"per_share", "rate_ppm"}
            if unknown:
                raise ValueError(f"fee rule {name}: unknown field(s) {', '.join(sorted(unknown))}")
            rules[name] = Fee(**values)
        return cls(**rules)


def load_fees(path):
    """The FeeSchedule in a TOML file (its [fees] table, or its top level); none without
    a path. The one reader of fee files: the ledger writer, reconcile and the risk gate
    must charge the same. Raises OSError, or ValueError saying what is wrong."""
    if not path:
        return FeeSchedule()
    with open(path, "rb") as file:
        try:
            data = tomllib.load(file)
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"{path}: not valid TOML: {error}") from None
    table = data.get("fees", data)
    if not isinstance(table, dict) or not all(isinstance(rule, dict) for rule in table.values()):
        raise ValueError(f"{path}: fees are tables [buy_maker], [buy_taker], [sell_maker], "
                         f"[sell_taker]")
    try:
        return FeeSchedule.from_mapping(table)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from None


class Execution(NamedTuple):
    """One execution as the ledger keeps it (one row of its `executions` table)."""
    match_id:  int
    seq:       int
    ts:        int
    symbol:    int
    price:     int
    qty:       int
    buyer:     int
    seller:    int
    buyer_fee:  int
    seller_fee: int
    aggressor_side: int


class Posting(NamedTuple):
    """One leg of an execution's double entry (one row of the `postings` table)."""
    match_id: int
    leg:      int           # 0.. within the execution
    account:  int
    book:     str           # CASH or POSITION
    symbol:   int
    amount:   int           # signed: what the account gains


def execution_of(event, fees):
    """The Execution an EXECUTED event tuple records, its fees worked out.

    Raises Unrepresentable when its notional or a fee does not fit 63 bits
    (a 32-bit price times a 32-bit quantity can reach 2^64).
    """
    price, qty = event[_E.price], event[_E.qty]
    notional = price * qty
    buyer_takes = event[_E.aggressor_side] == _BUY
    if buyer_takes:
        buyer, seller = event[_E.aggressor_user], event[_E.resting_user]
        buyer_fee, seller_fee = fees.buy_taker.of(qty, notional), fees.sell_maker.of(qty, notional)
    else:
        buyer, seller = event[_E.resting_user], event[_E.aggressor_user]
        buyer_fee, seller_fee = fees.buy_maker.of(qty, notional), fees.sell_taker.of(qty, notional)
    if max(notional, abs(buyer_fee), abs(seller_fee), notional + abs(buyer_fee)) > BALANCE_LIMIT:
        raise Unrepresentable(f"execution {event[_E.match_id]} at seq {event[_E.seq]}: "
                              f"{qty} x {price} = {notional} does not fit the ledger's "
                              f"signed 64-bit amounts")
    return Execution(event[_E.match_id], event[_E.seq], event[_E.ts], event[_E.symbol], price,
                     qty, buyer, seller, buyer_fee, seller_fee, event[_E.aggressor_side])


def postings(execution):
    """The double-entry legs of one Execution: cash and shares between buyer and
    seller, each side's fee to HOUSE_ACCOUNT (legs with a zero amount left out)."""
    match_id, symbol = execution.match_id, execution.symbol
    notional = execution.price * execution.qty
    legs = [
        (execution.buyer,  CASH,     -notional),
        (execution.seller, CASH,     notional),
        (execution.buyer,  POSITION, execution.qty),
        (execution.seller, POSITION, -execution.qty),
    ]
    if execution.buyer_fee:
        legs += [(execution.buyer, CASH, -execution.buyer_fee),
                 (HOUSE_ACCOUNT, CASH, execution.buyer_fee)]
    if execution.seller_fee:
        legs += [(execution.seller, CASH, -execution.seller_fee),
                 (HOUSE_ACCOUNT, CASH, execution.seller_fee)]
    return [Posting(match_id, leg, account, book, symbol, amount)
            for leg, (account, book, amount) in enumerate(legs)]
