"""The Ethernet boards' clocks and RGMII delays: the PLL's settings (checked against Project
Trellis' own calculator, `ecppll`, when installed), two 125 MHz constraints in the build plan,
and the delays each board's PHY leaves to the FPGA. Nothing is synthesised here.
"""

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gatebook.boards.ecp5 import delay_taps, pll_parameters

needs_amaranth_boards = pytest.mark.skipif(
    importlib.util.find_spec("amaranth_boards") is None,
    reason="amaranth-boards not installed (pip install -e '.[boards]')")

ECPPLL = (shutil.which("yowasp-ecppll")
          or shutil.which("yowasp-ecppll", path=str(Path(sys.executable).parent)))


def _ecppll(clkin, clkout, phase, tmp_path):
    """{EHXPLLL parameter: value} as Project Trellis' ecppll writes them."""
    out = f"pll_{clkin}_{phase}.v"             # relative: the WebAssembly tool sees its cwd only
    subprocess.run([ECPPLL, "-i", str(clkin), "-o", str(clkout), "--clkout1", str(clkout),
                    "--phase1", str(phase), "-f", out], check=True, capture_output=True,
                   timeout=300, cwd=tmp_path)
    return {name: int(value) for name, value in
            re.findall(r"\.(\w+)\((\d+)\)", (tmp_path / out).read_text())}


@pytest.mark.parametrize("clkin, phase",
                         [(25, 0), (25, 90), (100, 0), (100, 90), (50, 90), (30, 45)])
def test_pll_parameters_are_ecppll_s(clkin, phase, tmp_path):
    p = pll_parameters(clkin, 125, phase)
    assert 400 <= p.vco_mhz <= 800 and p.vco_mhz / p.output_div == 125
    if ECPPLL is None:
        pytest.skip("yowasp-ecppll not installed (the boards extra): checked the VCO only")
    theirs = _ecppll(clkin, 125, phase, tmp_path)
    assert (p.refclk_div, p.feedback_div, p.output_div) == (
        theirs["CLKI_DIV"], theirs["CLKFB_DIV"], theirs["CLKOP_DIV"])
    assert (p.primary_cphase, p.secondary_cphase, p.secondary_fphase) == (
        theirs["CLKOP_CPHASE"], theirs["CLKOS_CPHASE"], theirs["CLKOS_FPHASE"])


def test_impossible_clocks_and_delays_are_refused():
    with pytest.raises(ValueError, match="no EHXPLLL setting"):
        pll_parameters(25, 900)                   # above the VCO's range at any divider
    assert delay_taps(2.0) == 80 and delay_taps(0) == 0
    with pytest.raises(ValueError, match="0-127"):
        delay_taps(4.0)


_plans = {}


def _plan(name):
    """(lpf, rtlil) of board `name`'s Ethernet top at depth 1, elaborated once per run."""
    if name not in _plans:
        from gatebook.boards.build import prepare
        _, plan = prepare(name, 1)
        _plans[name] = plan.files["top.lpf"], plan.files["top.il"]
    return _plans[name]


def _cells(rtlil, kind):
    """The parameter blocks of every `kind` cell in `rtlil`."""
    return re.findall(rf"cell \\{kind} \S+\n(.*?)\n  end", rtlil, re.S)


# board -> (oscillator MHz, CLKI_DIV, CLKOS fine phase, DELAYG taps on the receive pins)
CLOCKING = {"colorlight-5a75b": (25, 1, 0, 80), "ecpix5-85": (100, 4, 2, 0)}


@needs_amaranth_boards
@pytest.mark.parametrize("name", [name if name == "colorlight-5a75b" else
                                  pytest.param(name, marks=pytest.mark.long)
                                  for name in sorted(CLOCKING)])
def test_the_core_clock_comes_from_a_pll_and_both_clocks_are_constrained_to_125_mhz(name):
    mhz, refclk_div, fphase, taps = CLOCKING[name]
    lpf, rtlil = _plan(name)
    # Ports only: yosys keeps one of a net's names, so a NET constraint may name nothing.
    assert "FREQUENCY NET" not in lpf
    frequencies = dict(re.findall(r'FREQUENCY PORT "([^"]+)" ([\d.]+) HZ;', lpf))
    assert frequencies.pop("eth_rgmii_0__rx_clk__io") == "125000000.0"    # the PHY's RXC
    (oscillator, hz), = frequencies.items()
    assert float(hz) == mhz * 1e6
    pll, = _cells(rtlil, "EHXPLLL")
    # nextpnr derives the core clock (lane, MAC, TX pins) from these and the oscillator's port.
    assert f'attribute \\FREQUENCY_PIN_CLKI "{mhz}"' in rtlil
    assert 'attribute \\FREQUENCY_PIN_CLKOP "125"' in rtlil
    assert f"parameter \\CLKI_DIV {refclk_div}" in pll
    assert f"parameter \\CLKOS_FPHASE {fphase}" in pll
    delays = _cells(rtlil, "DELAYG")
    assert len(delays) == (5 if taps else 0)                  # RXD[3:0] and RX_CTL
    assert all(f"parameter \\DEL_VALUE {taps}" in d for d in delays)
    assert len(_cells(rtlil, "IDDRX1F")) == 5 and len(_cells(rtlil, "ODDRX1F")) == 6


@needs_amaranth_boards
def test_every_ethernet_board_says_who_delays_rgmii_and_how_to_program_it():
    from gatebook.boards import BOARDS, board
    for name in BOARDS:
        spec = board(name)
        assert "{bitstream}" in spec.PROGRAM and spec.CABLE
        if getattr(spec, "top", None) is not None:
            # Exactly one side adds each delay: 90 degrees of TXC or the PHY; 2 ns or the PHY.
            assert spec.TX_CLOCK_PHASE in (0, 90) and spec.RX_DELAY_NS in (0, 2.0)


def test_the_programming_lines_name_boards_and_cables_openfpgaloader_knows():
    loader = shutil.which("openFPGALoader")
    if loader is None:
        pytest.skip("openFPGALoader not installed (Debian: apt-get install openfpgaloader)")
    from gatebook.boards import BOARDS, board
    known = {}
    for option in ("--list-boards", "--list-cables"):
        listing = subprocess.run([loader, option], capture_output=True, text=True, timeout=30)
        known[option] = {line.split()[0] for line in listing.stdout.splitlines() if line.split()}
    for name in BOARDS:
        words = board(name).PROGRAM.split()
        for flag, option in (("-b", "--list-boards"), ("-c", "--list-cables")):
            if flag in words:
                assert words[words.index(flag) + 1] in known[option], (name, flag)
