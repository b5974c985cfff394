"""Instructions per command on the hybrid host's path, counted by callgrind, not the clock.

A shared machine moves wall-clock figures by tens of percent; callgrind's instruction
counts do not move. `instructions_per_command` runs a fresh process under
``valgrind --tool=callgrind --instr-atstart=no`` that loads a pickled flow, builds the
hybrid host (its lanes from a picklable factory the caller gives, so this module imports
no transport) or the golden engine alone, and switches callgrind's instrumentation
on just around the run (a two-line C helper issuing callgrind's client requests, built
with the system's ``cc`` against valgrind's ``callgrind.h``). Start-up, imports and
building the lanes run uninstrumented, so only the run is counted, and quickly: a
simulated lane is a child process callgrind does not follow, so the count is this host's
own work (front end, router, merger, the link's codec, the engine).

``python -m gatebook.sim.cosim.link_bench --callgrind`` prints the figures for the
lane's Verilator harness.
"""

import ctypes
import hashlib
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..compiled import PURE_PYTHON_ENV
from ..runtime import quiet_gc
from ..symbols import DEFAULT_SYMBOLS

__all__ = ["instructions_per_command", "callgrind_available"]

_HEADER = Path("/usr/include/valgrind/callgrind.h")
_TOGGLE_SOURCE = """#include <valgrind/callgrind.h>
void gatebook_instrument_on(void) { CALLGRIND_ZERO_STATS; CALLGRIND_START_INSTRUMENTATION; }
void gatebook_instrument_off(void) { CALLGRIND_STOP_INSTRUMENTATION; }
"""


def callgrind_available():
    """None when valgrind, its callgrind.h and a C compiler are installed, else why not."""
    if shutil.which("valgrind") is None:
        return "no valgrind"
    if not _HEADER.exists():
        return f"no {_HEADER} (Debian valgrind)"
    if shutil.which("cc") is None:
        return "no C compiler"
    return None


def _toggle_library():
    """The helper's shared library, built once per source into the temp folder."""
    digest = hashlib.sha256(_TOGGLE_SOURCE.encode()).hexdigest()[:16]
    library = Path(tempfile.gettempdir()) / f"gatebook-callgrind-toggle-{digest}.so"
    if not library.exists():
        source = library.with_suffix(".c")
        source.write_text(_TOGGLE_SOURCE)
        partial = library.with_suffix(f".{os.getpid()}.tmp")
        subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", str(partial), str(source)],
                       check=True, capture_output=True)
        partial.replace(library)            # atomic: a concurrent build never loads half
    return library


def instructions_per_command(commands, link_factory=None, *, depth=16, homes=(1,), window=16,
                             pure=False, workdir=None):
    """Instructions per command of one run of `commands`, under callgrind.

    Parameters
    ----------
    commands : sequence of tuple
        Stamped commands.
    link_factory : callable or None
        ``link_factory(depth)`` makes one lane's `LaneLink` (one per home); it is pickled
        to the measured process (a class, or a `functools.partial` of one, pickles by
        name). None counts the golden engine alone (`MatchingEngine.apply` per command).
    depth, homes, window : int, tuple of int, int
        The lanes' window depth, their home symbols, and the hybrid host's commands in flight.
    pure : bool
        Run every compiled module's Python source (``GATEBOOK_PURE_PYTHON=1``).
    workdir : path, optional
        Where the pickled flow goes (a new temporary folder by default).

    Returns
    -------
    float
        Instructions this process executed during the run, per command.
    """
    why = callgrind_available()
    if why:
        raise RuntimeError(f"callgrind: {why}")
    library = _toggle_library()
    workdir = workdir or tempfile.mkdtemp(prefix="gb-hybrid-callgrind-")
    flow = os.path.join(workdir, f"flow{len(commands)}.pkl")
    with open(flow, "wb") as out:
        pickle.dump((list(commands), link_factory, depth, tuple(homes), window), out)
    env = {name: value for name, value in os.environ.items() if name != PURE_PYTHON_ENV}
    if pure:
        env[PURE_PYTHON_ENV] = "1"
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--callgrind-out-file=/dev/null",
         sys.executable, "-c", "from gatebook.host.hybrid.bench import _replay; _replay()",
         flow, str(library)],
        capture_output=True, text=True, env=env)
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"callgrind run failed:\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", "")) / len(commands)


def _replay():
    """The child of `instructions_per_command` (argv: pickled flow, toggle library)."""
    from gatebook.host.engine import MatchingEngine
    from .exchange import HybridExchange
    with open(sys.argv[1], "rb") as source:
        commands, link_factory, depth, homes, window = pickle.load(source)
    toggle = ctypes.CDLL(sys.argv[2])
    counted = [0]

    def count(events):
        counted[0] += len(events)
    with quiet_gc():
        if link_factory is None:
            target = MatchingEngine(DEFAULT_SYMBOLS)
            apply = target.apply

            def run(flow):
                for command in flow:
                    apply(command)
        else:
            target = HybridExchange(DEFAULT_SYMBOLS, [link_factory(depth) for _ in homes],
                                    homes, window=window)
            run = target.run
        target.subscribe(count)
        toggle.gatebook_instrument_on()
        run(commands)
        toggle.gatebook_instrument_off()
        if link_factory is not None:
            target.close()
