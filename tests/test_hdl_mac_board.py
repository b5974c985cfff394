"""The ECPIX-5's top: MAC, link endpoint and lane on the board's RGMII PHY, elaborated with the
board's platform (Verilog and the build plan; nothing is synthesised: a build takes an hour
here). Checks the pins go through the ECP5's DDR flip-flops, the design runs on the PHY's
125 MHz receive clock, and `gatebook build --board ecpix5-85` builds this top.
"""

import importlib.util
import re

import pytest

needs_amaranth_boards = pytest.mark.skipif(
    importlib.util.find_spec("amaranth_boards") is None,
    reason="amaranth-boards not installed (pip install -e '.[boards]')")


@needs_amaranth_boards
def test_the_ecpix5_top_puts_every_rgmii_pin_through_a_ddr_flip_flop():
    from amaranth.back import verilog

    from gatebook.boards import ecpix5_85 as board
    text = verilog.convert(board.top(board, 2), platform=board.platform(), name="top", ports=[])
    instances = re.findall(r"^\s*(IDDRX1F|ODDRX1F)\s", text, re.M)
    # RXD[3:0] and RX_CTL in; TXD[3:0], TX_CTL and TXC out
    assert instances.count("IDDRX1F") == 5 and instances.count("ODDRX1F") == 6
    assert "module \\top.unit.mac" in text and "module \\top.unit.endpoint.lane" in text


@needs_amaranth_boards
def test_gatebook_build_for_the_ecpix5_builds_the_ethernet_top_at_the_phys_clock():
    from gatebook.boards import BOARDS
    from gatebook.boards.build import prepare
    from gatebook.cli import build_parser
    assert "ecpix5-85" in BOARDS
    args = build_parser().parse_args(["build", "--board", "ecpix5-85", "--depth", "2"])
    assert args.board == "ecpix5-85"
    _, plan = prepare("ecpix5-85", 2)
    lpf = plan.files["top.lpf"]
    assert re.search(r'FREQUENCY NET "rx_clk\S*" 125000000\.0 HZ;', lpf)
    for pin in ("E11", "A11", "B11", "A10", "B10", "A9", "A12", "C9", "D8", "C8", "B8", "A8"):
        assert f'SITE "{pin}";' in lpf, pin
    assert "module \\top.unit.mac.receiver" in plan.files["top.il"]
