"""Which form of the log's record encoding loads: Cython-compiled or its Python source.

host/wal/batch.py (`RecordBatch`, which writes each field of a command and its events
straight into the writer's buffer) is compiled from its own source in pure-Python mode
(batch.pxd types it), as the engine is (host/compiled.py, setup.py). The compiled module sits
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

__all__ = ["BATCH_MODULE", "PURE_BATCH_MODULE", "install", "batch_build", "load_pure"]

#: The compiled module's name, and the name its source form loads under beside it.
BATCH_MODULE = "gatebook.host.wal.batch"
PURE_BATCH_MODULE = "gatebook.host.wal.pure_batch"

_FOLDER = Path(__file__).resolve().parent


class _BatchSourceFinder:
    """Meta-path finder: the record encoding from batch.py where `source_reason` says so."""

    def __init__(self):
        self.reason = compiled.source_reason("batch", _FOLDER)

    def find_spec(self, fullname, path=None, target=None):
        if fullname == PURE_BATCH_MODULE or (fullname == BATCH_MODULE and self.reason):
            return compiled.source_spec(fullname, _FOLDER / "batch.py")
        return None


_finder = None


def install():
    """Put the finder in front of the import system (once); host/wal/__init__ calls it."""
    global _finder
    if _finder is None:
        _finder = _BatchSourceFinder()
        sys.meta_path.insert(0, _finder)


def batch_build():
    """One line saying which form of the record encoding this process runs, and why."""
    install()
    module = importlib.import_module(BATCH_MODULE)
    if compiled.is_compiled(module):
        return "compiled (Cython, pure-Python mode)"
    return f"pure Python: {_finder.reason or 'loaded from source'}"


def load_pure():
    """batch.py run as Python, as `PURE_BATCH_MODULE` (its imports are the ones the
    package loaded: the same format and wire tables)."""
    install()
    return importlib.import_module(PURE_BATCH_MODULE)
