"""Which form of the risk gate loads: Cython-compiled or its Python source.

host/risk/gate.py is compiled from its own source in pure-Python mode (gate.pxd types
it), as the engine is (host/compiled.py, setup.py). The compiled module sits beside the
.py and Python's import system would always prefer it, so `install` puts a finder in
front that loads the source instead when `gatebook.host.compiled.source_reason` says so:
``GATEBOOK_PURE_PYTHON=1``, no compiled module, or one built from another source (its
recorded digest differs). `load_pure` loads the source beside the compiled one, for the
tests that hold one to the other.
"""

import importlib.util
import sys
from pathlib import Path

from .. import compiled

__all__ = ["GATE_MODULE", "PURE_GATE_MODULE", "install", "gate_build", "load_pure"]

#: The compiled module's name, and the name its source form loads under beside it.
GATE_MODULE = "gatebook.host.risk.gate"
PURE_GATE_MODULE = "gatebook.host.risk.pure_gate"

_FOLDER = Path(__file__).resolve().parent


class _GateSourceFinder:
    """Meta-path finder: the gate from gate.py where `source_reason` says so."""

    def __init__(self):
        self.reason = compiled.source_reason("gate", _FOLDER)

    def find_spec(self, fullname, path=None, target=None):
        if fullname == PURE_GATE_MODULE or (fullname == GATE_MODULE and self.reason):
            source = _FOLDER / "gate.py"
            return compiled.source_spec(fullname, source)
        return None


_finder = None


def install():
    """Put the finder in front of the import system (once); host/risk/__init__ calls it."""
    global _finder
    if _finder is None:
        _finder = _GateSourceFinder()
        sys.meta_path.insert(0, _finder)


def gate_build():
    """One line saying which form of the gate this process runs, and why."""
    install()
    gate = importlib.import_module(GATE_MODULE)
    if compiled.is_compiled(gate):
        return "compiled (Cython, pure-Python mode)"
    return f"pure Python: {_finder.reason or 'loaded from source'}"


def load_pure():
    """The gate module from its Python source, as `PURE_GATE_MODULE` (its own imports are
    the ones the package loaded: the same engine, limits and ledger)."""
    install()
    return importlib.import_module(PURE_GATE_MODULE)
