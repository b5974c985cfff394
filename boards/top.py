"""A matching lane on a board, with something at its pins.

`LaneTop` wraps one `gatebook.hdl.matcher.Matcher(depth)`. Its stream ports need a
source and a sink for a real build, or synthesis would remove the whole lane.
For now both are stand-ins:

- **stimulus**: a 32-bit LFSR shifts one pseudo-random bit per clock into a
  shift register as wide as the command payload; that register is the lane's
  `i.payload`, and two other LFSR bits drive `i.valid` and `o.ready` (random
  back-pressure). The commands are noise, not a valid order flow: this top
  measures size and clock speed, not matching;
- **sink**: every beat the lane writes is folded (XOR of its 32-bit words, the
  checksum rotated one bit per beat) into a 32-bit checksum, shown on the LEDs
  as the XOR of its bytes, so no event bit is optimised away.

What it does not do yet: no host link (a real deployment puts a NIC/PCIe or
UART command path here), no router, one lane.
"""

from amaranth.hdl import Cat, Elaboratable, Module, Mux, Shape, Signal, Value
from amaranth.lib import io, wiring
from amaranth.lib.wiring import Out

from gatebook.hdl.layouts import COMMAND
from gatebook.hdl.matcher import Matcher

__all__ = ["LaneTop", "BoardTop"]

_LFSR_TAPS = 0x80200003          # x^32 + x^22 + x^2 + x + 1, maximal length (Galois form)


class LaneTop(wiring.Component):
    """One lane driven by an LFSR stimulus, its events folded into a checksum.

    Parameters
    ----------
    depth : int
        The lane's window depth (`gatebook.hdl.matcher.Matcher(depth)`).
    leds : int
        Width of the checksum summary.

    Attributes
    ----------
    leds : Out(leds)
        XOR of the checksum's bytes (wrapped to `leds` bits).
    """

    def __init__(self, depth, leds=8):
        self.depth = depth
        super().__init__({"leds": Out(leds)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.lane = lane = Matcher(self.depth)

        lfsr = Signal(32, init=1)
        m.d.sync += lfsr.eq(Mux(lfsr[0], (lfsr >> 1) ^ _LFSR_TAPS, lfsr >> 1))
        stimulus = Signal(Shape.cast(COMMAND).width)
        m.d.sync += stimulus.eq(Cat(lfsr[0], stimulus[:-1]))
        m.d.comb += [
            Value.cast(lane.i.payload).eq(stimulus),
            lane.i.valid.eq(lfsr[7]),
            lane.o.ready.eq(lfsr[13]),
        ]

        beat = Value.cast(lane.o.payload)
        fold = 0
        for k in range(0, len(beat), 32):
            fold ^= beat[k:k + 32]
        checksum = Signal(32)
        with m.If(lane.o.valid & lane.o.ready):
            m.d.sync += checksum.eq(checksum.rotate_left(1) ^ fold)

        summary = 0
        for k in range(0, 32, len(self.leds)):
            summary ^= checksum[k:k + len(self.leds)]
        m.d.comb += self.leds.eq(summary)
        return m


class BoardTop(Elaboratable):
    """`LaneTop` with its `leds` on a board's LED pins; the lane runs on the board's clock.

    Parameters
    ----------
    board : module
        A module of the `gatebook.boards` package (`LEDS` names how many LEDs it has).
    depth : int
        The lane's window depth.
    """

    def __init__(self, board, depth):
        self.board = board
        self.depth = depth

    def elaborate(self, platform):
        m = Module()
        m.submodules.lane_top = top = LaneTop(self.depth, leds=self.board.LEDS)
        for k in range(self.board.LEDS):
            m.submodules[f"led_{k}"] = led = io.Buffer("o", platform.request("led", k, dir="-"))
            m.d.comb += led.o.eq(top.leds[k])
        return m
