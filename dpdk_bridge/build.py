"""Compile the cffi extension against Debian's libdpdk and load it.

The extension is built out of tree, into a cache directory keyed by a hash of
everything that goes into it (declarations, every file in dpdk_bridge/csrc/,
the header generated from the wire tables, compiler and pkg-config flags,
Python and cffi versions), so:

- `scripts/bootstrap` builds it right after `pip install -e .[test]` by running
  `python -m gatebook.dpdk_bridge.build`; the first import then finds it ready;
- an editable install picks up edits to the C in `csrc/` or to a wire table
  on the next import (a new hash means a new build), with no reinstall;
- a machine without libdpdk-dev still installs and runs Gatebook: only
  importing the bridge's DPDK side fails, with pkg-config's own words.

A build at import runs in a child Python, so compiler output and setuptools'
deprecation warnings stay out of the importing process (pytest runs with
warnings as errors), and a concurrent build by another process is harmless:
each compiles in its own temporary directory and renames the result in place.
"""

import hashlib
import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ._csrc import CDEF, CSRC, GENERATED_HEADER, MODULE_NAME, PARTS, PREAMBLE, source_texts
from ._csrc import write_generated_header
from .errors import DpdkUnavailable

__all__ = ["pkg_config", "cache_root", "cache_dir", "source_key", "build", "load", "COMPILE_FLAGS"]

_PACKAGE = "libdpdk"

# csrc/ compiles without a warning under these (tests/test_dpdk_csrc.py holds
# each file to -Werror; cffi's own wrapper file is clean today too). No
# -Werror in the build itself: another DPDK's headers must not stop it.
COMPILE_FLAGS = ["-O2", "-Wall", "-Wextra"]


def pkg_config():
    """(cflags, libs) for libdpdk, or DpdkUnavailable saying why not."""
    if shutil.which("pkg-config") is None:
        raise DpdkUnavailable("pkg-config is not installed, so libdpdk cannot be found "
                              "(Debian: apt-get install pkg-config libdpdk-dev)")
    flags = []
    for option in ("--cflags", "--libs"):
        done = subprocess.run(["pkg-config", option, _PACKAGE], capture_output=True, text=True)
        if done.returncode != 0:
            said = " ".join(done.stderr.split())
            raise DpdkUnavailable(f"pkg-config finds no {_PACKAGE} ({said}); "
                                  f"on Debian: apt-get install libdpdk-dev")
        flags.append(done.stdout.split())
    return flags[0], flags[1]


def cache_root():
    """Where compiled extensions live: `$GATEBOOK_CACHE_DIR`, else
    `$XDG_CACHE_HOME/gatebook` or `~/.cache/gatebook`."""
    return Path(os.environ.get("GATEBOOK_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "gatebook"))


def source_key(cflags, libs, csrc=CSRC):
    """A hash of everything the extension is built from, for these flags:
    the declarations, each C file in `csrc` by name and text, the generated
    header, the flags, and the Python and cffi versions."""
    import cffi
    parts = [CDEF, PREAMBLE, GENERATED_HEADER]
    for name, text in source_texts(csrc):
        parts += [name, text]
    parts += [" ".join(cflags + COMPILE_FLAGS), " ".join(libs), sys.version, cffi.__version__]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def cache_dir(cflags, libs):
    """The directory the extension for these flags lives in."""
    return cache_root() / f"dpdk_bridge-{source_key(cflags, libs)}"


def built_extension(directory, module_name):
    """The extension module `module_name` built into `directory`, or None."""
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = directory / f"{module_name}{suffix}"
        if path.exists():
            return path
    return None


def _built(directory):
    return built_extension(directory, MODULE_NAME)


def build(verbose=False):
    """Compile the extension unless it is already cached; return its path."""
    import cffi
    cflags, libs = pkg_config()
    target = cache_dir(cflags, libs)
    path = _built(target)
    if path is not None:
        return path
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="build-", dir=target.parent))
    try:
        generated = work / "include"
        generated.mkdir()
        write_generated_header(generated)
        ffi = cffi.FFI()
        ffi.cdef(CDEF)
        ffi.set_source(MODULE_NAME, PREAMBLE, sources=[str(CSRC / name) for name in PARTS],
                       include_dirs=[str(generated), str(CSRC)],
                       extra_compile_args=cflags + COMPILE_FLAGS, extra_link_args=libs)
        built = Path(ffi.compile(tmpdir=str(work), verbose=verbose))
        staged = Path(tempfile.mkdtemp(prefix="stage-", dir=target.parent))
        shutil.copy2(built, staged / built.name)
        try:
            os.rename(staged, target)
        except OSError:                    # another process finished first
            shutil.rmtree(staged, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return _built(target)


def load():
    """The compiled module (its `ffi` and `lib`), building it first if needed."""
    cflags, libs = pkg_config()
    path = _built(cache_dir(cflags, libs))
    if path is None:
        done = subprocess.run([sys.executable, "-m", "gatebook.dpdk_bridge.build"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise DpdkUnavailable("building the DPDK bridge failed:\n"
                                  + (done.stderr or done.stdout)[-4000:])
        path = _built(cache_dir(cflags, libs))
    spec = importlib.util.spec_from_file_location(MODULE_NAME, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    try:
        path = build(verbose="-v" in sys.argv)
    except DpdkUnavailable as error:
        print(f"dpdk_bridge: DPDK unavailable, only the kernel-socket backend will run: {error}")
        return 0
    print(f"dpdk_bridge: built {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
