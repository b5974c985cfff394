"""Which form of the log's record encoding loads: Cython-compiled or its Python source.

host/wal/format.py is compiled from its own source in pure-Python mode (format.pxd types
its `RecordBatch`, which writes each field of a command and its events straight into the
writer's buffer), as the engine is (host/compiled.py, setup.py). The compiled module sits
beside the .py and Python's import system would always prefer it, so `install` puts a
finder in front that loads the source instead when `gatebook.host.compiled.source_reason`
says so: ``GATEBOOK_PURE_PYTHON=1``, no compiled module, or one built from another source
(its recorded digest differs). `load_pure` loads the source beside the compiled one, for
the tests that hold one to the other.
"""

import importlib
import sys
from pathlib import Path

from .. import compiled

__all__ = ["FORMAT_MODULE", "PURE_FORMAT_MODULE", "install", "format_build", "load_pure"]

#: The compiled module's name, and the name its source form loads under beside it.
FORMAT_MODULE = "gatebook.host.wal.format"
PURE_FORMAT_MODULE = "gatebook.host.wal.pure_format"

_FOLDER = Path(__file__).resolve().parent


class _FormatSourceFinder:
    """Meta-path finder: the record encoding from format.py where `source_reason` says so."""

    def __init__(self):
        self.reason = compiled.source_reason("format", _FOLDER)

    def find_spec(self, fullname, path=None, target=None):
        if fullname == PURE_FORMAT_MODULE or (fullname == FORMAT_MODULE and self.reason):
            return compiled.source_spec(fullname, _FOLDER / "format.py")
        return None


_finder = None


def install():
    """Put the finder in front of the import system (once); host/wal/__init__ calls it."""
    global _finder
    if _finder is None:
        _finder = _FormatSourceFinder()
        sys.meta_path.insert(0, _finder)


def format_build():
    """One line saying which form of the record encoding this process runs, and why."""
    install()
    module = importlib.import_module(FORMAT_MODULE)
    if compiled.is_compiled(module):
        return "compiled (Cython, pure-Python mode)"
    return f"pure Python: {_finder.reason or 'loaded from source'}"


def load_pure():
    """format.py run as Python, as `PURE_FORMAT_MODULE` (it imports only the wire tables,
    so nothing else loads twice)."""
    install()
    return importlib.import_module(PURE_FORMAT_MODULE)
