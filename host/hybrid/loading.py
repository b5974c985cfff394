"""Which form of the hybrid host loads: Cython-compiled or its Python source.

host/hybrid/exchange.py (front end calls, router, merger: the host's work per command) is
compiled from its own source in pure-Python mode (exchange.pxd types it), as the engine is
(host/compiled.py, setup.py's SUBPACKAGE_MODULES). The compiled module sits beside the .py
and Python's import system would always prefer it, so `install` puts a finder in front that
loads the source instead when `gatebook.host.compiled.source_reason` says so:
``GATEBOOK_PURE_PYTHON=1``, no compiled module, or one built from another source (its
recorded digest differs). `load_pure` loads the source beside the compiled one, as
`PURE_EXCHANGE_MODULE`, for the tests that hold one to the other.
"""

import importlib
import sys
from pathlib import Path

from .. import compiled

__all__ = ["EXCHANGE_MODULE", "PURE_EXCHANGE_MODULE", "install", "exchange_build", "load_pure"]

#: The compiled module's name, and the name its source form loads under beside it.
EXCHANGE_MODULE = "gatebook.host.hybrid.exchange"
PURE_EXCHANGE_MODULE = "gatebook.host.hybrid.pure_exchange"

_FOLDER = Path(__file__).resolve().parent


class _ExchangeSourceFinder:
    """Meta-path finder: the hybrid exchange from exchange.py where `source_reason` says so."""

    def __init__(self):
        self.reason = compiled.source_reason("exchange", _FOLDER)

    def find_spec(self, fullname, path=None, target=None):
        if fullname == PURE_EXCHANGE_MODULE or (fullname == EXCHANGE_MODULE and self.reason):
            return compiled.source_spec(fullname, _FOLDER / "exchange.py")
        return None


_finder = None


def install():
    """Put the finder in front of the import system (once); host/hybrid/__init__ calls it."""
    global _finder
    if _finder is None:
        _finder = _ExchangeSourceFinder()
        sys.meta_path.insert(0, _finder)


def exchange_build():
    """One line saying which form of the hybrid exchange this process runs, and why."""
    install()
    exchange = importlib.import_module(EXCHANGE_MODULE)
    if compiled.is_compiled(exchange):
        return "compiled (Cython, pure-Python mode)"
    return f"pure Python: {_finder.reason or 'loaded from source'}"


def load_pure():
    """The exchange module from its Python source, as `PURE_EXCHANGE_MODULE` (its own
    imports are the ones the package loaded: the same engine, front end and links)."""
    install()
    return importlib.import_module(PURE_EXCHANGE_MODULE)
