"""The Ethernet boards' top: MAC, link endpoint and lane on the board's RGMII PHY, elaborated
with the board's platform (Verilog and the build plan; nothing is synthesised: a build takes
an hour here). Checks the pins go through the ECP5's DDR flip-flops, the design runs on the
PHY's 125 MHz receive clock, and `gatebook build --board NAME` builds this top.
"""

import importlib.util
import re

import pytest

needs_amaranth_boards = pytest.mark.skipif(
    importlib.util.find_spec("amaranth_boards") is None,
    reason="amaranth-boards not installed (pip install -e '.[boards]')")

# board -> the PHY's pins: RXC, RX_CTL, RXD[3:0], TXC, TX_CTL, TXD[3:0] (amaranth-boards)
ETHERNET_BOARDS = {
    "ecpix5-85": "E11 A11 B11 A10 B10 A9 A12 C9 D8 C8 B8 A8",
    "colorlight-5a75b": "M1 N6 N1 M5 N5 M6 M2 M3 L1 L3 P2 L4",
}


@needs_amaranth_boards
def test_the_ecpix5_top_converts_to_verilog_with_ddr_flip_flops_on_every_rgmii_pin():
    from amaranth.back import verilog

    from gatebook.boards import ecpix5_85 as spec
    text = verilog.convert(spec.top(spec, 2), platform=spec.platform(), name="top", ports=[])
    instances = re.findall(r"^\s*(IDDRX1F|ODDRX1F)\s", text, re.M)
    # RXD[3:0] and RX_CTL in; TXD[3:0], TX_CTL and TXC out
    assert instances.count("IDDRX1F") == 5 and instances.count("ODDRX1F") == 6
    assert "module \\top.unit.mac" in text and "module \\top.unit.endpoint.lane" in text


# Each board's plan elaborates the whole unit (~5 s): the default run builds the ECPIX-5's,
# the long run every Ethernet board's.
@needs_amaranth_boards
@pytest.mark.parametrize("name", [name if name == "ecpix5-85" else
                                  pytest.param(name, marks=pytest.mark.long)
                                  for name in sorted(ETHERNET_BOARDS)])
def test_gatebook_build_builds_the_ethernet_top_at_the_phys_clock(name):
    from gatebook.boards import BOARDS
    from gatebook.boards.build import prepare
    from gatebook.cli import build_parser
    assert name in BOARDS
    args = build_parser().parse_args(["build", "--board", name, "--depth", "2"])
    assert args.board == name
    _, plan = prepare(name, 2)
    lpf = plan.files["top.lpf"]
    assert 'FREQUENCY PORT "eth_rgmii_0__rx_clk__io" 125000000.0 HZ;' in lpf
    assert len(re.findall(r"FREQUENCY", lpf)) == 2         # RXC and the oscillator (PLL's input)
    for pin in ETHERNET_BOARDS[name].split():
        assert f'SITE "{pin}";' in lpf, pin
    netlist = plan.files["top.il"]
    assert "module \\top.unit.mac.receiver" in netlist
    assert len(re.findall(r"cell \\IDDRX1F", netlist)) == 5
    assert len(re.findall(r"cell \\ODDRX1F", netlist)) == 6


@needs_amaranth_boards
def test_the_mac_only_top_is_the_mac_on_the_same_pins_without_the_lane():
    """`gatebook build --mac-only`'s plan: the board's RGMII pins, both 125 MHz constraints,
    the MAC's receiver and transmitter, and no link endpoint or lane."""
    from gatebook.boards.build import prepare
    from gatebook.boards.cli import _mac_only_top
    _, plan = prepare("colorlight-5a75b", 4, top=_mac_only_top)
    assert 'FREQUENCY PORT "eth_rgmii_0__rx_clk__io" 125000000.0 HZ;' in plan.files["top.lpf"]
    netlist = plan.files["top.il"]
    assert "module \\top.unit.mac.receiver" in netlist
    assert "module \\top.unit.mac.transmitter" in netlist
    assert not re.search(r"module \\top\.unit\.(endpoint|lane)", netlist)
    assert len(re.findall(r"cell \\IDDRX1F", netlist)) == 5


def test_mac_only_is_refused_for_a_board_without_a_phy(capsys):
    from gatebook.cli import main
    assert main(["build", "--board", "ulx3s-85f", "--mac-only"]) == 2
    assert "has no Ethernet PHY" in capsys.readouterr().err
