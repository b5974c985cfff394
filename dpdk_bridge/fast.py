"""Build and load the compiled gateway and replier (`_ouchfast.c`).

The order-entry gateway and the replier have a readable Python reference
(`host/ouch/gateway.py`, `host/ouch/replier.py`) and a compiled twin
that does the same per-message work in one C call. The twin is a plain
CPython extension: it needs a C compiler and Python's headers, not DPDK, so
the kernel-socket backend uses it too.

It is built the way the DPDK bridge is (`dpdk_bridge/build.py`): out of tree,
into `<cache root>/ouchfast-<hash>/`, where the hash covers the C source, the
header generated from the wire tables (`_fastgen.py`), the compiler command
and the Python version. `scripts/bootstrap` builds it (`python -m
gatebook.dpdk_bridge.fast`); an import that finds it missing builds it in a child
Python. Where it cannot be built, `load()` raises `FastPathUnavailable`
with the reason, and the gateway says that it runs the Python path.
"""

import hashlib
import importlib.machinery
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from ._fastgen import fast_header
from .build import built_extension, cache_root

__all__ = ["FastPathUnavailable", "MODULE_NAME", "SOURCE_PATH", "build", "load", "status"]

MODULE_NAME = "_gatebook_ouchfast"
SOURCE_PATH = Path(__file__).with_name("_ouchfast.c")
PARTS = Path(__file__).with_name("ouchfast")      # the .c files SOURCE_PATH includes
_FLAGS = ["-shared", "-fPIC", "-O2", "-Wall", "-Wno-missing-braces"]


class FastPathUnavailable(RuntimeError):
    """The compiled gateway cannot be built or loaded here; the message says why."""


def _compiler():
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")
    if shutil.which(cc[0]) is None:
        raise FastPathUnavailable(f"no C compiler ({cc[0]}); on Debian: apt-get install gcc")
    include = sysconfig.get_paths()["include"]
    if not os.path.exists(os.path.join(include, "Python.h")):
        raise FastPathUnavailable(f"no Python.h in {include}; on Debian: apt-get install "
                                  f"python3-dev")
    return cc, include


def _target(cc, include):
    key = hashlib.sha256("\0".join([
        SOURCE_PATH.read_text(), *(part.read_text() for part in sorted(PARTS.glob("*.c"))),
        fast_header(), " ".join(cc + _FLAGS), include, sys.version,
    ]).encode()).hexdigest()[:16]
    return cache_root() / f"ouchfast-{key}"


def _built(directory):
    return built_extension(directory, MODULE_NAME)


def build():
    """Compile the extension unless it is cached; return its path."""
    cc, include = _compiler()
    target = _target(cc, include)
    path = _built(target)
    if path is not None:
        return path
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="build-", dir=target.parent))
    try:
        (work / "gb_tables.h").write_text(fast_header())
        name = MODULE_NAME + importlib.machinery.EXTENSION_SUFFIXES[0]
        done = subprocess.run(cc + _FLAGS + [f"-I{include}", f"-I{work}", str(SOURCE_PATH),
                                              "-o", str(work / name)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise FastPathUnavailable(f"compiling {SOURCE_PATH.name} failed:\n"
                                      + (done.stderr or done.stdout)[-4000:])
        staged = Path(tempfile.mkdtemp(prefix="stage-", dir=target.parent))
        shutil.copy2(work / name, staged / name)
        try:
            os.rename(staged, target)
        except OSError:                    # another process finished first
            shutil.rmtree(staged, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return _built(target)


_loaded = None


def load():
    """The compiled module, building it first (in a child Python) if needed;
    FastPathUnavailable says why not."""
    global _loaded
    if _loaded is not None:
        return _loaded
    path = _built(_target(*_compiler()))
    if path is None:
        done = subprocess.run([sys.executable, "-m", "gatebook.dpdk_bridge.fast"],
                              capture_output=True, text=True)
        path = _built(_target(*_compiler()))
        if path is None:
            raise FastPathUnavailable((done.stdout + done.stderr).strip()[-4000:]
                                      or "the build left no extension")
    spec = importlib.util.spec_from_file_location(MODULE_NAME, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _loaded = module
    return module


def status():
    """(module or None, one line saying which gateway path runs and why)."""
    if os.environ.get("GATEBOOK_GATEWAY") == "python":
        return None, "python (GATEBOOK_GATEWAY=python)"
    try:
        return load(), "compiled (dpdk_bridge/_ouchfast.c)"
    except FastPathUnavailable as error:
        return None, f"python (compiled gateway unavailable: {str(error).splitlines()[0]})"


def main():
    try:
        path = build()
    except FastPathUnavailable as error:
        print(f"gatebook.dpdk_bridge.fast: not built, the gateway runs its Python path: {error}")
        return 0
    print(f"gatebook.dpdk_bridge.fast: built {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
