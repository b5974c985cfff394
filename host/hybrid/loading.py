"""Which form of the hybrid host loads: Cython-compiled or its Python source.

host/hybrid/exchange.py (router, merger: the host's work per command) and frontend.py
(validation state, per command) are each compiled from their own source in pure-Python
mode (the .pxd beside each types it), as the engine is (host/compiled.py, setup.py's
SUBPACKAGE_MODULES). A compiled module sits beside its .py and Python's import system would
always prefer it, so `install` puts a finder in front that loads a module's source instead
when `gatebook.host.compiled.source_reason` says so: ``GATEBOOK_PURE_PYTHON=1``, no compiled
module, or one built from another source (its recorded digest differs). The two call each
other through Python, so either may load in either form. `load_pure` loads a module's source
beside the compiled one, as ``gatebook.host.hybrid.pure_<module>``, for the tests that hold
one to the other.
"""

import importlib
import sys
from pathlib import Path

from .. import compiled

__all__ = ["COMPILED_MODULES", "PACKAGE", "install", "exchange_build", "load_pure"]

#: The modules of this package compiled from their own source.
COMPILED_MODULES = ("frontend", "exchange")
#: Their package: module `m` loads as PACKAGE.m, its source form beside it as PACKAGE.pure_m.
PACKAGE = "gatebook.host.hybrid"

_FOLDER = Path(__file__).resolve().parent


class _HybridSourceFinder:
    """Meta-path finder: a compiled module from its .py where `source_reason` says so."""

    def __init__(self):
        self.reasons = {module: compiled.source_reason(module, _FOLDER)
                        for module in COMPILED_MODULES}

    def find_spec(self, fullname, path=None, target=None):
        package, _, name = fullname.rpartition(".")
        if package != PACKAGE:
            return None
        module = name[len("pure_"):] if name.startswith("pure_") else name
        if module in self.reasons and (module != name or self.reasons[module]):
            return compiled.source_spec(fullname, _FOLDER / f"{module}.py")
        return None


_finder = None


def install():
    """Put the finder in front of the import system (once); host/hybrid/__init__ calls it."""
    global _finder
    if _finder is None:
        _finder = _HybridSourceFinder()
        sys.meta_path.insert(0, _finder)


def exchange_build(module="exchange"):
    """One line saying which form of `module` (of COMPILED_MODULES) runs here, and why."""
    install()
    loaded = importlib.import_module(f"{PACKAGE}.{module}")
    if compiled.is_compiled(loaded):
        return "compiled (Cython, pure-Python mode)"
    return f"pure Python: {_finder.reasons[module] or 'loaded from source'}"


def load_pure(module="exchange"):
    """`module` (one of COMPILED_MODULES) from its Python source, as PACKAGE.pure_<module>.

    Its own imports are the ones the package loaded: the pure exchange calls the front end,
    engine and links the package runs.
    """
    if module not in COMPILED_MODULES:
        raise ValueError(f"{module!r} is not one of {COMPILED_MODULES}")
    install()
    return importlib.import_module(f"{PACKAGE}.pure_{module}")
