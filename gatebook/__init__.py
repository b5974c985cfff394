"""Gatebook: an FPGA-offloaded exchange matching engine with a software golden model.

What a library user needs, in one place (docs/api.md shows a whole session)::

    from gatebook import MatchingEngine, DEFAULT_SYMBOLS, Sequencer, ManualClock, new_order, named

- the engine and its symbols: `MatchingEngine`, `SymbolSpec`, `DEFAULT_SYMBOLS`;
- the sequencer and its clocks: `Sequencer`, `WallClock`, `ManualClock`;
- unstamped commands by field name: `new_order`, `cancel`, `replace`, `mass_cancel`,
  `admin` (stamp them with `Sequencer.stamped`);
- the enums: `Side`, `OrderType`, `TimeInForce`, `RejectReason`, `CancelReason`,
  `MassCancelScope`, `AdminAction`, `ALL_SYMBOLS`;
- events by name: `named(event)` gives `Accepted`, `Executed`, `Level`, ... views;
- the book as text: `format_l1`, `format_l2`, `format_l3`, `format_trades`, `format_price`;
- the write-ahead log: `JournaledExchange`, `recover`, `RecoveryReport`, `Durability`;
- a whole running exchange (port, sessions, log, lanes, market data) from a config:
  `build_exchange(load_config(path))`, `ExchangeConfig`.

Importing this package stays cheap: the log (which loads a histogram library) and
the exchange builder are imported on first use, and nothing here loads amaranth, cffi or scapy.
"""

from importlib import import_module
from typing import Any

from .host.clock import ManualClock, WallClock
from .host.engine import MatchingEngine
from .host.sequencer import Sequencer, admin, cancel, mass_cancel, new_order, replace
from .host.symbols import DEFAULT_SYMBOLS, SymbolSpec
from .host.views import format_l1, format_l2, format_l3, format_price, format_trades
from .wire.enums import (ALL_SYMBOLS, AdminAction, CancelReason, MassCancelScope, OrderType,
                         RejectReason, Side, TimeInForce)
from .wire.named import (Accepted, Cancelled, Done, Executed, Level, Rejected, Replaced,
                         StopTriggered, Trade, TradingState, named)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    # the engine and its symbols
    "MatchingEngine", "SymbolSpec", "DEFAULT_SYMBOLS",
    # ordering the inputs
    "Sequencer", "WallClock", "ManualClock",
    "new_order", "cancel", "replace", "mass_cancel", "admin",
    # enums
    "Side", "OrderType", "TimeInForce", "RejectReason", "CancelReason", "MassCancelScope",
    "AdminAction", "ALL_SYMBOLS",
    # events by name
    "named", "Accepted", "Rejected", "Executed", "Cancelled", "Replaced", "StopTriggered",
    "Trade", "Level", "TradingState", "Done",
    # views of a book
    "format_l1", "format_l2", "format_l3", "format_trades", "format_price",
    # the write-ahead log (imported on first use)
    "JournaledExchange", "recover", "RecoveryReport", "Durability",
    # a whole exchange from its config (imported on first use)
    "build_exchange", "ExchangeConfig", "load_config",
]

# Name -> module that defines it, for names imported only when first asked for.
_LAZY = {
    "JournaledExchange": "gatebook.host.wal",
    "recover":           "gatebook.host.wal",
    "RecoveryReport":    "gatebook.host.wal",
    "Durability":        "gatebook.host.wal",
    "build_exchange":    "gatebook.host.builder",
    "ExchangeConfig":    "gatebook.host.config",
    "load_config":       "gatebook.host.config",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'gatebook' has no attribute {name!r}")
    if _LAZY[name] == "gatebook.host.wal":
        # A log `gatebook run` wrote holds OUCH (and other shipped protocols')
        # origins: register their codecs so `recover` and the journal read them.
        import_module("gatebook.host.protocols").register_shipped()
    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value          # later look-ups skip this function
    return value


def __dir__() -> "list[str]":
    return sorted(set(globals()) | set(__all__))
