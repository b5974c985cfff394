"""The board top elaborates and has the ports a build expects (no synthesis, no toolchain)."""

import importlib.util

import pytest
from amaranth.back import rtlil

from gatebook.boards import BOARDS, board
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
@pytest.mark.parametrize("name", sorted(BOARDS))
def test_board_top_prepares(name):
    """The platform's build plan: the LEDs and the clock pin are constrained, no tool runs."""
    spec = board(name)
    plan = spec.platform().prepare(BoardTop(spec, 2), name="top")
    lpf = plan.files["top.lpf"]
    assert sum(line.startswith("LOCATE COMP \"led_") for line in lpf.splitlines()) == spec.LEDS
    assert "FREQUENCY PORT" in lpf
    assert "module \\top.lane_top.lane\n" in plan.files["top.il"]
