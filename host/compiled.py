"""Which form of the golden engine is loaded: Cython-compiled or its Python source.

The engine's modules (`COMPILED_MODULES`: host/validation.py, book.py, engine_admin.py,
engine.py) are compiled from their own source by Cython in pure-Python mode when the
package is built (setup.py); the .py files stay installed beside the compiled modules. Python's import system
prefers a compiled module to a .py of the same name, so `gatebook.host` installs, before any
engine module is imported, a finder that loads the source instead when

- the environment sets ``GATEBOOK_PURE_PYTHON=1`` (debugging, profiling line by line), or
- the compiled module is out of step with its source: the build records the source's digest
  beside each compiled module, and an edited .py without a rebuild must never run the old
  compiled code.

`load_pure(name)` loads the source form beside the compiled one, as
``gatebook.host.pure.<name>``, so the differential tests run both in one process.

Only the standard library is imported here: setup.py loads this file by path to record
the same digests it checks.
"""

import hashlib
import importlib.util
import os
import sys
import types
from importlib.machinery import EXTENSION_SUFFIXES, SourceFileLoader
from pathlib import Path

__all__ = ["COMPILED_MODULES", "SOURCE_COMPANIONS", "PURE_PYTHON_ENV", "DIGEST_SUFFIX", "PURE_PACKAGE",
           "source_digest", "compiled_file", "source_reason", "source_spec", "SourceFinder", "install", "engine_build", "is_compiled",
           "load_pure"]

#: host/ modules Cython compiles, in import order (each imports only those before it).
COMPILED_MODULES = ("validation", "book", "engine_admin", "engine")
#: host/ modules the compiled ones import that stay Python: `load_pure` loads them beside
#: the source forms too, so a source engine only ever calls a source book.
SOURCE_COMPANIONS = ("engine_state",)
#: Set to 1 to import the engine's Python source even where the compiled modules are built.
PURE_PYTHON_ENV = "GATEBOOK_PURE_PYTHON"
#: Beside a compiled module ``X.cpython-311-...so``: ``X.cpython-311-...so.source-sha256``.
DIGEST_SUFFIX = ".source-sha256"
#: Package name under which `load_pure` loads the source form beside the compiled one.
PURE_PACKAGE = "gatebook.host.pure"

_HOST = Path(__file__).resolve().parent
_PACKAGE = "gatebook.host"


def source_digest(folder, module):
    """sha256 (hex) of ``<module>.py`` and, if present, ``<module>.pxd`` in `folder`."""
    digest = hashlib.sha256()
    for suffix in (".py", ".pxd"):
        path = Path(folder) / f"{module}{suffix}"
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()


def source_spec(fullname, source):
    """A module spec loading `fullname` from the Python file `source`, whatever is beside it."""
    return importlib.util.spec_from_file_location(
        fullname, source, loader=SourceFileLoader(fullname, str(source)))


def compiled_file(module, folder=_HOST):
    """The compiled module file for `module` in `folder`, or None."""
    for suffix in EXTENSION_SUFFIXES:
        path = Path(folder) / f"{module}{suffix}"
        if path.exists():
            return path
    return None


def source_reason(module, folder=_HOST, environ=os.environ):
    """Why engine module `module` in `folder` must load from its .py, or None.

    None means its compiled form may load: it is built, the environment does not ask for
    the source, and the digest recorded at build time matches the source there now.
    """
    if environ.get(PURE_PYTHON_ENV, "") not in ("", "0"):
        return f"{PURE_PYTHON_ENV}={environ[PURE_PYTHON_ENV]}"
    built = compiled_file(module, folder)
    if built is None:
        return "not compiled (no Cython or no C compiler when it was installed)"
    digest = Path(f"{built}{DIGEST_SUFFIX}")
    if not digest.exists() or digest.read_text().strip() != source_digest(folder, module):
        return "compiled module older than its source (rebuild: pip install -e .)"
    return None


class SourceFinder:
    """Meta-path finder: the engine modules from their .py where `source_reason` says so.

    Parameters
    ----------
    folder : path
        Where the engine modules are (host/, as installed).
    environ : mapping
        The environment to read `PURE_PYTHON_ENV` from.
    """

    def __init__(self, folder=_HOST, environ=os.environ):
        self.folder = Path(folder)
        self.reasons = {}           # module -> why its source loads (None: compiled may load)
        for module in COMPILED_MODULES:
            self.reasons[module] = source_reason(module, self.folder, environ)
        # One module from source makes them all source: a compiled engine must not call
        # into a source book it was not compiled against, nor the reverse.
        first = next((why for why in self.reasons.values() if why), None)
        if first:
            self.reasons = dict.fromkeys(COMPILED_MODULES, first)

    def find_spec(self, fullname, path=None, target=None):
        """A source spec for an engine module that must load from source, else None."""
        package, _, module = fullname.rpartition(".")
        if package == PURE_PACKAGE and module in SOURCE_COMPANIONS:
            source = self.folder / f"{module}.py"
            return source_spec(fullname, source)
        if module not in COMPILED_MODULES:
            return None
        if package == PURE_PACKAGE or (package == _PACKAGE and self.reasons[module]):
            source = self.folder / f"{module}.py"
            return source_spec(fullname, source)
        return None


_finder = None


def install():
    """Put the finder in front of the import system (once); `gatebook.host` calls it."""
    global _finder
    if _finder is None:
        _finder = SourceFinder()
        sys.meta_path.insert(0, _finder)


def is_compiled(module):
    """Whether a loaded module object is a compiled one rather than Python source."""
    return not str(getattr(module, "__file__", "") or "").endswith(".py")


def engine_build():
    """One line saying which form of the engine this process runs, and why.

    Imports the engine, so the answer is what actually loaded.
    """
    install()
    from . import engine
    if is_compiled(engine):
        return "compiled (Cython, pure-Python mode)"
    return f"pure Python: {_finder.reasons['engine'] or 'loaded from source'}"


def load_pure(module):
    """The Python-source form of engine module `module`, as gatebook.host.pure.<module>.

    Its own imports of the other engine modules resolve to their source forms too, so
    ``load_pure("engine").MatchingEngine`` is the whole engine as Python, beside the
    compiled one.
    """
    if module not in COMPILED_MODULES:
        raise ValueError(f"{module!r} is not one of the compiled engine modules")
    install()
    if PURE_PACKAGE not in sys.modules:
        package = types.ModuleType(PURE_PACKAGE, "The engine modules loaded from source.")
        package.__path__ = []
        package.__package__ = PURE_PACKAGE
        sys.modules[PURE_PACKAGE] = package
    return importlib.import_module(f"{PURE_PACKAGE}.{module}")
