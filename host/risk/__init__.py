"""Pre-trade risk: per-account buying power, position limits, order size and notional.

`gate.RiskGate` stands in front of a MatchingEngine and refuses, with a reason of
its own, an order that would break its account's `limits.AccountLimits`; open
orders hold buying power until they fill, are cancelled or expire. Built and
tested standalone; not yet wired where `gatebook run` feeds commands to the engine.
"""

from .gate import RISK_REASONS, RiskGate
from .limits import AccountLimits

__all__ = ["RiskGate", "AccountLimits", "RISK_REASONS"]
