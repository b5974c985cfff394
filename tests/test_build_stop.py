"""A build stopped with SIGTERM (a service manager, `kill`, a CI timeout) stops its tools too:
yosys and nextpnr run in their own session, out of reach of a signal to the build's group."""

import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from gatebook.boards import board
from gatebook.boards.build import find_tools


def _working_in(directory):
    """Pids of the processes whose working directory is `directory`."""
    pids = []
    for proc in pathlib.Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and os.readlink(proc / "cwd") == str(directory):
                pids.append(int(proc.name))
        except OSError:                  # gone, or not ours to read
            continue
    return pids


def _command(pid):
    try:
        return pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "(gone)"


def test_a_terminated_build_leaves_no_tool_running(tmp_path):
    if find_tools(board("colorlight-5a75b").platform()) is None:
        pytest.skip("the FPGA tools are not installed (pip install -e '.[boards]')")
    out = tmp_path / "build"
    build = subprocess.Popen(
        [sys.executable, "-c", "import sys; from gatebook.cli import main; sys.exit(main())",
         "build", "--board", "colorlight-5a75b", "--depth", "1", "--out", str(out),
         "--synth-only"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        # elaborating, then yosys starts in `out` (Amaranth's extract steps into `out` for
        # a moment too: the build itself in `out` is not yosys)
        while not set(_working_in(out)) - {build.pid}:
            assert build.poll() is None and time.monotonic() < deadline, "yosys never started"
            time.sleep(0.2)
        build.send_signal(signal.SIGTERM)
        assert build.wait(timeout=30) == 128 + signal.SIGTERM
        deadline = time.monotonic() + 10
        while _working_in(out) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = {pid: _command(pid) for pid in _working_in(out)}
        assert left == {}, f"still running in the build directory: {left}"   # yosys went too
    finally:
        build.kill()
        for pid in _working_in(out):                 # the old code's orphan, if it failed
            os.kill(pid, signal.SIGKILL)
