"""The Xilinx board: `gatebook build --board arty-a7-100t` writes a Vivado project (Amaranth's
Tcl script, constraints, Verilog) and runs nothing, since Vivado cannot run here. Checks what a
deployer would hand to Vivado: the part, the flow to a bitstream, the pins and the clock.
"""

import importlib.util
import re

import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("amaranth_boards") is None,
                                reason="amaranth-boards not installed (pip install -e '.[boards]')")


def test_gatebook_build_writes_the_arty_s_vivado_project(tmp_path, capsys):
    from gatebook.cli import main
    out = tmp_path / "arty"
    assert main(["build", "--board", "arty-a7-100t", "--depth", "1", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "Vivado, which is not installed here" in said and "sh build_top.sh" in said
    assert f"openFPGALoader -b arty_a7_100t {out}/top.bit" in said

    tcl = (out / "top.tcl").read_text()
    assert "create_project -force -name top -part xc7a100tcsg324-1\n" in tcl   # the shipped part
    steps = [line.split()[0] for line in tcl.splitlines() if line.split()[:1] and line.split()[0]
             in ("add_files", "read_xdc", "synth_design", "place_design", "route_design",
                 "write_bitstream")]
    assert steps == ["add_files", "read_xdc", "synth_design", "place_design", "route_design",
                     "write_bitstream"]
    assert "vivado" in (out / "build_top.sh").read_text()

    xdc = (out / "top.xdc").read_text()
    assert re.search(r'create_clock -name clk100\S* -period 10\.0 ', xdc)       # 100 MHz
    for led, pin in enumerate(("H5", "J5", "T9", "T10")):
        assert f'set_property LOC {pin} [get_ports "led_{led}__io"]' in xdc

    verilog = (out / "top.v").read_text()
    assert re.search(r"^module top\(", verilog, re.M)
    assert "top.lane_top.lane" in verilog                       # the lane is in the netlist
    assert "top.unit.mac" not in verilog                        # and no MAC (below)
    assert not (out / "top.bit").exists()                       # nothing was built


def test_the_arty_s_phy_is_mii_so_it_carries_no_mac():
    """The generated project is the lane alone (its netlist is checked above): the MAC is
    RGMII only (docs/boards.md)."""
    from gatebook.boards import board
    spec = board("arty-a7-100t")
    assert spec.VENDOR == "Vivado" and not hasattr(spec, "top")
    assert "eth_mii" in {resource.name for resource in spec.platform().resources.values()}
