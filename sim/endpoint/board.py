"""`python -m gatebook.sim.endpoint.board [--depth N]`: the link endpoint on the ULX3S, for its size and Fmax.

The same flow as `gatebook build` (`gatebook.boards.build.build`: Amaranth's build with the
open tools the board's platform names, nextpnr's report), with `top=EndpointBoardTop` in
place of the lane's board top: `gatebook.hdl.link_endpoint.LaneEndpoint(depth)` with an
LFSR at its byte input (data, `first`, `last`, `error`, `valid`) and at its output's
`ready`, and every output byte and counter folded into a checksum on the LEDs, so nothing is optimised away. The
bytes are noise: this measures size and clock speed, as `gatebook.boards.top.LaneTop` does for
the lane alone.
"""

import argparse
import sys

from amaranth.hdl import Elaboratable, Module, Mux, Signal, Value
from amaranth.lib import io

from gatebook.hdl.link_endpoint import LaneEndpoint

__all__ = ["EndpointBoardTop", "main"]

_LFSR_TAPS = 0x80200003         # as gatebook.boards.top: x^32 + x^22 + x^2 + x + 1
_MAC = "02:00:00:00:e0:01"


class EndpointBoardTop(Elaboratable):
    """`LaneEndpoint(depth)` between an LFSR and a checksum on the board's LEDs."""

    def __init__(self, board, depth):
        self.board = board
        self.depth = depth

    def elaborate(self, platform):
        m = Module()
        m.submodules.ep = ep = LaneEndpoint(self.depth, _MAC)
        lfsr = Signal(32, init=1)
        m.d.sync += lfsr.eq(Mux(lfsr[0], (lfsr >> 1) ^ _LFSR_TAPS, lfsr >> 1))
        m.d.comb += [
            ep.i.payload.data.eq(lfsr[:8]),
            ep.i.payload.first.eq(lfsr[8] & lfsr[9] & lfsr[10]),
            ep.i.payload.last.eq(lfsr[11] & lfsr[14] & lfsr[15]),
            ep.i.payload.error.eq(lfsr[16] & lfsr[17] & lfsr[18] & lfsr[19]),
            ep.i.valid.eq(lfsr[20]),
            ep.o.ready.eq(lfsr[13]),
        ]
        fold = Value.cast(ep.o.payload) ^ ep.frames ^ ep.answered ^ ep.sent ^ ep.sessions
        drops = Value.cast(ep.drops)
        for k in range(0, len(drops), 32):
            fold = fold ^ drops[k:k + 32]
        checksum = Signal(32)
        with m.If(ep.o.valid & ep.o.ready):
            m.d.sync += checksum.eq(checksum.rotate_left(1) ^ fold)
        summary = 0
        for k in range(0, 32, self.board.LEDS):
            summary ^= checksum[k:k + self.board.LEDS]
        for k in range(self.board.LEDS):
            m.submodules[f"led_{k}"] = led = io.Buffer("o", platform.request("led", k, dir="-"))
            m.d.comb += led.o.eq(summary[k])
        return m


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m gatebook.sim.endpoint.board",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--board", default="ulx3s-85f")
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--out", help="build directory (default build/boards/BOARD_endpoint_dDEPTH)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    from gatebook.boards.build import build, utilisation_lines
    from gatebook.sim.runner import ROOT
    out = args.out or ROOT / "build" / "boards" / f"{args.board}_endpoint_d{args.depth}"
    try:
        report = build(args.board, args.depth, out, seed=args.seed, top=EndpointBoardTop)
    except RuntimeError as error:
        print(f"{parser.prog}: {error}", file=sys.stderr)
        return 1
    print(f"LaneEndpoint({args.depth}) on {args.board}, built in {report['seconds']:.0f} s")
    print("\n".join(utilisation_lines(report)))
    for clock, (achieved, constraint) in report["fmax"].items():
        print(f"  Fmax {achieved:.1f} MHz for {clock} (constraint {constraint} MHz)")
    for path in report["critical"][:1]:
        print(f"  critical path: {path['start']} -> {path['end']}: {path['logic_levels']} "
              f"levels, {path['carry_hops']} carry hops, {path['logic_ns']:.1f} ns logic + "
              f"{path['routing_ns']:.1f} ns routing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
