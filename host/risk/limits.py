"""Per-account risk limits, and what an open order holds against them.

Units are the ledger's (host/ledger/postings.py): cash in price units x shares,
positions in shares, all integers.
"""

from dataclasses import dataclass

__all__ = ["AccountLimits", "fee_allowance_per_share"]


@dataclass(frozen=True)
class AccountLimits:
    """What one account may do.

    Parameters
    ----------
    buying_power : int
        Credit beyond the account's cash: an order is accepted only if what it
        could cost (its notional at its limit price, or the symbol's highest price
        for market and stop orders, plus the most its fees could be) fits in
        `buying_power + cash - reserved`, `reserved` being what the account's open
        orders could still cost.
    max_position : int
        Shares long or short per symbol, counting open orders as if filled.
    max_order_qty : int
        Shares in one order (new or replaced).
    max_order_notional : int
        Price x shares of one order (market and stop orders at the symbol's highest price).
    """

    buying_power:       int
    max_position:       int
    max_order_qty:      int
    max_order_notional: int

    def __post_init__(self):
        for name in ("buying_power", "max_position", "max_order_qty", "max_order_notional"):
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, not {value!r}")


def fee_allowance_per_share(rules, price):
    """The most any of `rules` (Fee) can charge per share of a fill at `price` or below.

    Linear in shares, so what an order's unfilled shares hold back always covers
    the fees of any split of fills (each fill's fee is rounded on its own): for a
    fill of q shares at p <= price, q*per_share + round(q*p*rate/1e6) is at most
    q*(max per_share, 0) + q*ceil(price*max(rate, 0)/1e6).
    """
    per_share = max(0, *(rule.per_share for rule in rules))
    rate = max(0, *(rule.rate_ppm for rule in rules))
    return per_share + -(-price * rate // 1_000_000)
