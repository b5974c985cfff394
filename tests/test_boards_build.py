"""A real board build with the PyPI open toolchain (minutes: opt in with --run-long)."""

import pytest

from gatebook.boards import BOARDS, board
from gatebook.boards.build import build, find_tools, format_summary, parse_report

pytestmark = pytest.mark.long


@pytest.mark.parametrize("name", [name for name in sorted(BOARDS)    # open toolchains only
                                  if not getattr(board(name), "VENDOR", None)])
def test_smallest_lane_places_and_routes(name, tmp_path):
    if find_tools(board(name).platform()) is None:
        pytest.skip(f"the FPGA tools for {name} are not installed (pip install -e '.[boards]')")
    report = build(name, 2, tmp_path / name, quiet=True)
    again = parse_report(tmp_path / name / "top.report.json")
    assert again["utilisation"] == report["utilisation"]
    assert report["utilisation"]["TRELLIS_FF"][0] > 2 * 2 * 272     # the window is registers
    assert all(achieved > 0 and constraint > 0 for achieved, constraint in
               report["fmax"].values())
    if getattr(board(name), "top", None):        # the Ethernet tops: the PLL's core clock
        assert report["fmax"]["clk"][1] == 125
    assert (tmp_path / name / "top.bit").stat().st_size > 0
    assert "Fmax" in format_summary(report, {"resting add": (2.0, 1.0, 1.0, 1.0)})


def test_the_mac_alone_meets_the_phys_125_mhz_on_the_colorlight_s_speed_6_part(tmp_path):
    """The MAC's receive clock (RXC) on the slowest part a board here carries: the
    Colorlight 5A-75B's LFE5U-25F-6, the MAC alone (`gatebook build --mac-only`, under a
    minute). Before its writes, free-slot check and count compares were registered this
    build made 98 MHz; the FIFO's own write pointer now sets it (about 140 MHz)."""
    from gatebook.boards.cli import _mac_only_top
    if find_tools(board("colorlight-5a75b").platform()) is None:
        pytest.skip("the FPGA tools for colorlight-5a75b are not installed")
    report = build("colorlight-5a75b", 4, tmp_path / "mac", quiet=True, top=_mac_only_top)
    rxc = [achieved for net, (achieved, _) in report["fmax"].items() if "rx_clk" in net]
    assert len(rxc) == 1 and rxc[0] >= 125, report["fmax"]


def test_a_build_past_its_time_limit_is_stopped_and_recorded_where_it_got_to(tmp_path,
                                                                           capsys):
    """`--time-limit`: the tools are stopped (none left running) and the record says where;
    `--record-stopped` records a directory whose build was stopped some other way."""
    import json
    import subprocess

    from gatebook.boards.build import stopped_record
    from gatebook.cli import main
    if find_tools(board("ulx3s-85f").platform()) is None:
        pytest.skip("the FPGA tools for ulx3s-85f are not installed")
    out = tmp_path / "stopped"
    assert main(["build", "--board", "ulx3s-85f", "--depth", "2", "--out", str(out),
                 "--time-limit", "0.2"]) == 1
    record = json.loads((out / "summary.json").read_text())
    assert record["stopped"] == "stopped at the 0.2-minute limit" and 12 <= record["seconds"] < 30
    assert record["stage"].startswith("yosys") and "fmax" not in record
    assert "stopped at the 0.2-minute limit" in capsys.readouterr().out
    left = subprocess.run(["pgrep", "-f", str(out)], capture_output=True, text=True).stdout
    assert left == "", "a tool outlived its build"
    assert main(["build", "--board", "ulx3s-85f", "--depth", "2", "--out", str(out),
                 "--record-stopped"]) == 1          # it has its record already
    (out / "summary.json").unlink()
    assert main(["build", "--board", "ulx3s-85f", "--depth", "2", "--out", str(out),
                 "--record-stopped"]) == 0
    by_hand = json.loads((out / "summary.json").read_text())
    assert by_hand["stopped"] == "stopped by hand" and by_hand["stage"] == record["stage"]
    assert "seconds" not in by_hand          # a silent log does not say when a tool stopped
    assert by_hand == stopped_record(out, "ulx3s-85f", 2, "stopped by hand", None)
    (out / "summary.json").unlink()              # a build made from another commit
    assert main(["build", "--board", "ulx3s-85f", "--depth", "2", "--out", str(out),
                 "--record-stopped", "--source", "abc1234"]) == 0
    assert json.loads((out / "summary.json").read_text())["source"] == "abc1234"
