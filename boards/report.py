"""Build records as text: the table of docs/boards.md, a build's row, how to program a board.

Every `gatebook build` writes its record (`summary.json` in the build directory: the dict
`gatebook.boards.build.build()` returns, with the seed and the source commit); a
`--synth-only` build's record has yosys's cell counts instead of nextpnr's, and no Fmax. This module
reads records back and prints them, so docs/boards.md's table is made by a command
(`gatebook build --table DIR ...`) from the builds that were run, never typed.
"""

import json
import pathlib
import re

from .pnr_report import lane_paths

__all__ = ["load_records", "clock_figures", "table_header", "table_row", "markdown_table",
           "program_lines"]

# nextpnr-ecp5's cell -> the column it fills (a TRELLIS_COMB is one LUT4 and its carry half).
_COLUMNS = (("LUT4", "TRELLIS_COMB"), ("FF", "TRELLIS_FF"), ("BRAM", "DP16KD"),
            ("DSP", "MULT18X18D"))


def load_records(paths):
    """The build records in `paths` (files, or directories searched for `summary.json`),
    sorted by board, then depth."""
    records = []
    for path in map(pathlib.Path, paths):
        if path.is_dir():
            files = sorted(path.rglob("summary.json")) + sorted(path.glob("*.json"))
        else:
            files = [path]
        for file in dict.fromkeys(files):            # a directory may list a file twice
            records.append(json.loads(file.read_text()))
    return sorted(records, key=lambda r: (r["board"], r["depth"], r.get("seed", 1)))


def _clock_label(net):
    """`core` for the Ethernet top's PLL clock (the sync domain's `clk`), `RXC` for the PHY's
    receive clock (whichever of its net's names nextpnr kept), else the net's name."""
    if net == "clk":
        return "core"
    return "RXC" if "rx_clk" in net else re.sub(r"\$\d+", "", net)


def clock_figures(record):
    """[(label, achieved MHz, target MHz, net)] for each constrained clock, the worst (lowest
    share of its target) first; a board's oscillator, which clocks nothing but the PLL, is
    left out when other clocks are there."""
    clocks = [(_clock_label(net), achieved, target, net)
              for net, (achieved, target) in record["fmax"].items()]
    inner = [c for c in clocks if c[0] in ("core", "RXC")]
    return sorted(inner or clocks, key=lambda c: c[1] / c[2])


def _critical(record):
    """The worst clock's critical path, in a few words."""
    paths = lane_paths(record, clock_figures(record)[0][3])
    if not paths:
        return "-"
    c = paths[0]
    # yosys names a cell after the signal it feeds plus the cell kinds it was mapped through
    names = []
    for cell in c["through"]:
        name = re.split(r"_(?:LUT4|TRELLIS|PFUMX|CCU2C|L6MUX21)", cell)[0]
        if name not in names:
            names.append(name)
    through = " > ".join(names[:4]) + (" > ..." if len(names) > 4 else "")
    return (f"{c['logic_levels']} LUT + {c['carry_hops']} carry, {c['logic_ns']:.1f} ns logic "
            f"+ {c['routing_ns']:.1f} ns routing ({through})")


def table_header():
    """The table's two header lines (Markdown)."""
    columns = ["board", "depth", *(label for label, _ in _COLUMNS),
               "Fmax MHz (target)", "critical path", "build", "source"]
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]


def table_row(record):
    """One record as a Markdown table row.

    Raises
    ------
    ValueError
        For a `--mac-only` build's record: its `clk` is not a lane's.
    """
    if record.get("top", "lane") != "lane":
        raise ValueError(f"{record['board']}: a --mac-only record ({record['top']}), "
                         f"not a lane's build")
    cells = [record["board"], str(record["depth"])]
    for _, cell in _COLUMNS:
        if "utilisation" not in record:     # a build stopped before yosys had counted
            cells.append("-")
            continue
        used, available = record["utilisation"].get(cell, (0, 0))
        cells.append(f"{used:,}" + (f" ({100 * used / available:.0f} %)" if used else ""))
    if "fmax" not in record and "utilisation" in record:     # yosys's count, before packing
        cells[2] = "~" + cells[2]
    if "stopped" in record:                 # it did not finish: where, why, and the fit
        over = [label for label, cell in _COLUMNS if "utilisation" in record
                and record["utilisation"][cell][0] > record["utilisation"][cell][1]]
        cells.append(f"not finished: {record['stopped']}, in {record['stage'] or 'yosys'}"
                     + (f"; does not fit ({', '.join(over)})" if over else ""))
        cells.append("-")
    elif "fmax" in record:
        cells.append(", ".join(f"{label} {achieved:.1f} ({target:.0f})"
                               for label, achieved, target, _ in clock_figures(record)))
        cells.append(_critical(record))
    else:                                   # yosys only: the cells say whether it would fit
        over = [label for label, cell in _COLUMNS
                if record["utilisation"][cell][0] > record["utilisation"][cell][1]]
        cells.append(f"does not fit ({', '.join(over)})" if over else "not placed")
        cells.append("synthesis only")
    cells.append(f"{record['seconds'] / 60:.0f} min" if "seconds" in record else "-")
    cells.append(record.get("source") or "-")
    return "| " + " | ".join(cells) + " |"


def markdown_table(records):
    """docs/boards.md's table from build records."""
    return "\n".join(table_header() + [table_row(r) for r in records])


def program_lines(spec, bitstream):
    """How to program and cable board module `spec` with `bitstream`, as lines of text."""
    return [f"program (SRAM, lost at power-off): {spec.PROGRAM.format(bitstream=bitstream)}",
            f"cable: {spec.CABLE}"]
