"""docs/boards.md's table is made by `gatebook build --table` from the recorded builds
(boards/reports/), and the command refuses records it cannot read with a clear error.
"""

import json
import pathlib
import re

import pytest

from gatebook.cli import main

ROOT = pathlib.Path(__file__).resolve().parent.parent
REPORTS = ROOT / "boards" / "reports"


def _doc_table():
    """The table between docs/boards.md's markers."""
    text = (ROOT / "docs" / "boards.md").read_text()
    found = re.search(r"<!-- made by: gatebook build --table boards/reports -->\n(.*?)\n"
                      r"<!-- end of table -->", text, re.S)
    assert found, "docs/boards.md has lost its table markers"
    return found.group(1).strip()


def test_the_doc_s_table_is_the_command_s(capsys):
    assert main(["build", "--table", str(REPORTS)]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == _doc_table()
    records = sorted(REPORTS.glob("*.json"))
    assert len(printed.splitlines()) == 2 + len(records)       # header, rule, a row each
    for path in records:
        record = json.loads(path.read_text())
        row = next(line for line in printed.splitlines()
                   if line.startswith(f"| {record['board']} | {record['depth']} |"))
        if "utilisation" in record:         # (a build stopped inside yosys has none)
            luts, available = record["utilisation"]["TRELLIS_COMB"]
            assert f"{luts:,} ({100 * luts / available:.0f} %) |" in row
        if "stopped" in record:              # did not finish: says so, and gives no Fmax
            assert f"not finished: {record['stopped']}" in row and "core" not in row
        elif "fmax" in record:               # placed and routed
            achieved, target = record["fmax"]["clk"]
            assert f"core {achieved:.1f} ({target:.0f})" in row
        else:                                # synthesis only: fits or not
            assert "synthesis only" in row
            assert ("does not fit" in row) == (luts > available)
        assert record["source"] in row and "+dirty" not in row    # built from a commit


@pytest.mark.parametrize("junk", [
    b"not json at all",
    b"[1, 2, 3]",
    b'{"board": "x"}',
    b'{"board": "x", "depth": 1, "fmax": {"c": [1]}, "utilisation": {}}',
    b'{"board": "x", "depth": 1, "fmax": {"c": ["fast", 1]}, "utilisation": {}}',
    b"\xff\xfe\x00garbage",
])
def test_records_it_cannot_read_are_refused_by_name(junk, tmp_path, capsys):
    (tmp_path / "summary.json").write_bytes(junk)
    assert main(["build", "--table", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("gatebook build: unreadable build record:") and "Traceback" not in err


def test_no_records_and_no_board_are_errors_not_tracebacks(tmp_path, capsys):
    assert main(["build", "--table", str(tmp_path / "missing")]) == 1
    assert "no build records at" in capsys.readouterr().err
    assert main(["build", "--table", str(tmp_path)]) == 1            # an empty directory
    assert "no build records in" in capsys.readouterr().err
    assert main(["build"]) == 2
    assert "--board is required" in capsys.readouterr().err


def test_clocks_keep_the_design_s_names(tmp_path):
    """nextpnr reports a clock it put on a global buffer as `$glbnet$NAME`; the record (and
    the table's `core` and `RXC`) use the design's name."""
    from gatebook.boards.build import parse_report
    from gatebook.boards.report import clock_figures, table_row
    step = {"type": "logic", "delay": 1.0, "from": {"cell": "a", "port": "Q"},
            "to": {"cell": "b", "port": "A"}}
    (tmp_path / "top.report.json").write_text(json.dumps({
        "utilization": {"TRELLIS_COMB": {"used": 10, "available": 20}},
        "fmax": {"$glbnet$clk": {"achieved": 90.5, "constraint": 125.0},
                 "$glbnet$rx_clk$44.buf.i": {"achieved": 250.0, "constraint": 125.0}},
        "critical_paths": [
            {"from": "posedge $glbnet$clk", "to": "posedge $glbnet$rx_clk$44.buf.i",
             "path": [step]},                                    # a crossing: not the clock's
            {"from": "posedge $glbnet$clk", "to": "posedge $glbnet$clk",
             "path": [step, {**step, "type": "routing", "delay": 2.5}]}]}))
    report = parse_report(tmp_path / "top.report.json")
    assert set(report["fmax"]) == {"clk", "rx_clk$44.buf.i"}
    assert [(c["clock"], c["to_clock"]) for c in report["critical"]] == [
        ("clk", "rx_clk$44.buf.i"), ("clk", "clk")]
    report.update(board="b", depth=1)
    assert "1.0 ns logic + 2.5 ns routing" in table_row(report)     # clk's own path
    assert [(label, achieved) for label, achieved, _, _ in clock_figures(report)] == [
        ("core", 90.5), ("RXC", 250.0)]


def test_a_mac_only_record_is_refused_from_the_table(tmp_path, capsys):
    """`--mac-only` builds time the MAC alone: their `clk` is not a lane's, so such a record
    never becomes a row of the boards table."""
    record = json.loads((REPORTS / "colorlight-5a75b_d4.json").read_text())
    (tmp_path / "summary.json").write_text(json.dumps({**record, "top": "mac"}))
    assert main(["build", "--table", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "unreadable build record" in err and "--mac-only" in err


def test_a_stopped_build_is_a_row_that_says_where_it_stopped_and_whether_it_fits(tmp_path,
                                                                               capsys):
    """A build past its time limit (or stopped by hand) is recorded with where it got to:
    yosys's counts if synthesis had finished, and whether they fit; no Fmax."""
    base = {"board": "colorlight-5a75b", "depth": 8, "seed": 1, "seconds": 3000.0,
            "source": "abc1234", "stopped": "stopped at the 50-minute limit"}
    counts = dict(base, stage="nextpnr: routing",
                  utilisation={"TRELLIS_COMB": [30000, 24288], "TRELLIS_FF": [9000, 24288],
                               "DP16KD": [20, 56], "MULT18X18D": [0, 28]})
    early = dict(base, depth=16, stage="yosys: LUT mapping (abc)")
    for name, record in (("a", counts), ("b", early)):
        (tmp_path / f"{name}.json").write_text(json.dumps(record))
    assert main(["build", "--table", str(tmp_path)]) == 0
    rows = capsys.readouterr().out.strip().splitlines()[2:]
    assert rows[0].startswith("| colorlight-5a75b | 8 | ~30,000 (124 %) |")
    assert ("not finished: stopped at the 50-minute limit, in nextpnr: routing; "
            "does not fit (LUT4)") in rows[0]
    assert rows[1].startswith("| colorlight-5a75b | 16 | - | - | - | - | not finished: ")
    assert "in yosys: LUT mapping (abc)" in rows[1] and "does not fit" not in rows[1]
    assert rows[0].endswith("| 50 min | abc1234 |")
