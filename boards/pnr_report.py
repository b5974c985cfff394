"""nextpnr's JSON report of a board build, read and printed.

`parse_report()` turns nextpnr's `--report` JSON into utilisation, Fmax per clock (by the
design's net names) and the critical paths in a few words; `format_summary()` prints them
with, given the lane's clock counts, the cycle table in nanoseconds. `gatebook.boards.build`
runs the build that writes the report and re-exports these names.
"""

import json
import pathlib

__all__ = ["parse_report", "lane_paths", "utilisation_lines", "format_summary"]

# nextpnr's cell names for what the summary reports, by the place-and-route tool.
_CELLS = {
    "nextpnr-ecp5": (("LUT4 (TRELLIS_COMB)", "TRELLIS_COMB"), ("FF (TRELLIS_FF)", "TRELLIS_FF"),
                     ("BRAM (DP16KD)", "DP16KD"), ("IO", "TRELLIS_IO")),
    "nextpnr-ice40": (("LUT4+FF (ICESTORM_LC)", "ICESTORM_LC"),
                      ("BRAM (ICESTORM_RAM)", "ICESTORM_RAM"), ("IO", "SB_IO")),
}


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
