"""The `[risk]` section of an exchange config, and the limits it gives each user.

    [risk]
    fees = "fees.toml"              # the ledger's fees (`gatebook ledger run --fees`)
    buying_power = 10000000000      # defaults for every account ...
    max_position = 100000
    max_order_qty = 10000
    max_order_notional = 1000000000
    [risk.accounts.alice]           # ... and one account's own (any of the four)
    buying_power = 0

`parse_risk` checks the table (host/config.py calls it while reading a config file);
`limits_by_user` resolves account names against the accounts file when the exchange is
built (host/builder.py).
"""

import os
from dataclasses import dataclass

from .limits import AccountLimits

__all__ = ["RiskConfig", "RISK_LIMIT_KEYS", "parse_risk", "limits_by_user"]

#: The per-account limits `[risk]` sets (gatebook.host.risk.AccountLimits' fields).
RISK_LIMIT_KEYS = ("buying_power", "max_position", "max_order_qty", "max_order_notional")
# Limits are kept in snapshots as 64-bit fields, and sums of them must stay exact there.
_RISK_LIMIT_MAX = 1 << 62


@dataclass(frozen=True)
class RiskConfig:
    """Pre-trade risk in front of the matching engine (`[risk]`, docs/ledger.md).

    `defaults` are the limits of every account without its own, as ((key, value), ...)
    over RISK_LIMIT_KEYS, all four or none (none: such accounts' orders are refused);
    `accounts` the overrides, ((account, ((key, value), ...)), ...) where account is a
    name in the accounts file or a user id, and any key it does not set comes from
    `defaults`. `fees` is the ledger's fee file (`gatebook ledger run --fees`), so
    buying power counts fees as the ledger will."""

    defaults: tuple | None = None
    accounts: tuple = ()
    fees:     str | None = None



def _integer(low, high):
    def check(value):
        # TOML's true/false are Python bools, which are ints: not a limit.
        if type(value) is not int:
            raise ValueError(f"must be an integer, not {value!r}")
        if not low <= value <= high:
            raise ValueError(f"{value} is outside {low}..{high}")
        return value
    return check


def _text(value):
    if not isinstance(value, str) or not value or "\x00" in value:
        raise ValueError(f"must be non-empty text, not {value!r}")
    return value


def parse_risk(table, source="config", base="."):
    """A RiskConfig from a config's `[risk]` table; ValueError names the key and why."""
    if not isinstance(table, dict):
        raise ValueError(f"{source}: risk must be a section [risk], not a value")
    limit = _integer(0, _RISK_LIMIT_MAX)
    defaults, accounts, fees = {}, [], None
    for key, value in table.items():
        where = f"{source}: [risk] {key}"
        if key in RISK_LIMIT_KEYS:
            try:
                defaults[key] = limit(value)
            except ValueError as error:
                raise ValueError(f"{where}: {error}") from None
        elif key == "fees":
            try:
                fees = os.path.join(base, _text(value))
            except ValueError as error:
                raise ValueError(f"{where}: {error}") from None
        elif key == "accounts":
            if not isinstance(value, dict):
                raise ValueError(f"{where} must be tables [risk.accounts.NAME]")
            for account, limits in value.items():
                accounts.append((account, _account_limits(account, limits, limit, source)))
        else:
            raise ValueError(f"{where}: unknown key (known: {', '.join(RISK_LIMIT_KEYS)}, "
                             f"fees, accounts)")
    if defaults and len(defaults) != len(RISK_LIMIT_KEYS):
        missing = [key for key in RISK_LIMIT_KEYS if key not in defaults]
        raise ValueError(f"{source}: [risk] sets some default limits but not "
                         f"{', '.join(missing)}: set all four, or none (then only "
                         f"[risk.accounts.NAME] may trade)")
    for account, limits in accounts:
        if not defaults and len(limits) != len(RISK_LIMIT_KEYS):
            missing = [key for key in RISK_LIMIT_KEYS if key not in dict(limits)]
            raise ValueError(f"{source}: [risk.accounts.{account}] needs "
                             f"{', '.join(missing)} ([risk] sets no defaults)")
    return RiskConfig(tuple((key, defaults[key]) for key in RISK_LIMIT_KEYS) if defaults
                      else None, tuple(accounts), fees)


def _account_limits(account, limits, limit, source):
    where = f"{source}: [risk.accounts.{account}]"
    if not account or len(account) > 16 or not account.isprintable():
        raise ValueError(f"{where}: an account is a name of the accounts file or a user id")
    if not isinstance(limits, dict):
        raise ValueError(f"{where} must be a table")
    checked = []
    for key, value in limits.items():
        if key not in RISK_LIMIT_KEYS:
            raise ValueError(f"{where}: unknown key {key} (known: {', '.join(RISK_LIMIT_KEYS)})")
        try:
            checked.append((key, limit(value)))
        except ValueError as error:
            raise ValueError(f"{where} {key}: {error}") from None
    return tuple(checked)


def limits_by_user(risk, user_ids):
    """({user id: AccountLimits}, default AccountLimits or None) of a RiskConfig.

    `user_ids` maps the accounts file's names to user ids; an account given as digits is
    a user id itself. ValueError names an account that is neither.
    """
    defaults = dict(risk.defaults or ())
    limits = {}
    for account, values in risk.accounts:
        if account in user_ids:
            user = user_ids[account]
        elif account.isdigit() and 0 < int(account) < 1 << 32:
            user = int(account)
        else:
            raise ValueError(f"[risk.accounts.{account}]: no account of that name in the "
                            f"accounts file, and not a user id")
        limits[user] = AccountLimits(**{**defaults, **dict(values)})
    return limits, AccountLimits(**defaults) if defaults else None
