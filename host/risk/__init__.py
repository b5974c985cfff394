"""Pre-trade risk: per-account buying power, position limits, order size and notional.

`gate.RiskGate` stands in front of a MatchingEngine and refuses, with a reason of
its own, an order that would break its account's `limits.AccountLimits`; open
orders hold buying power until they fill, are cancelled or expire. `settings` reads
the `[risk]` section of an exchange config; `gatebook run` builds the gate from it
(host/builder.py). The gate is compiled from its source where built (`loading`).
"""

# Before the gate loads: choose its compiled or its source form (loading.py).
from .loading import install as _install_gate_finder

_install_gate_finder()

from .gate import RISK_REASONS, RiskGate  # noqa: E402 (after the finder)
from .limits import AccountLimits  # noqa: E402

__all__ = ["RiskGate", "AccountLimits", "RISK_REASONS"]
