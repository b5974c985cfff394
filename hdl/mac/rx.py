"""The MAC's receiver: GMII bytes from the PHY in, the frame's bytes (without preamble
and FCS) out, in the PHY's receive clock.

# Ref: IEEE Std 802.3-2018 clause 3.2 (frame format), 3.2.9 (FCS), 4.4.2 (frame sizes);
#      gatebook/hdl/mac/gmii.py.

Cut-through: a byte is passed on five bytes after it arrived, so that when the PHY's
receive enable falls the four bytes still held are the FCS (never passed on) and the
fifth is the frame's last byte, which goes out marked `last`, with `error` set when
the frame is bad. A bad frame's first bytes have then already gone out; the link
endpoint drops a frame whose last byte carries `error` (`gatebook.hdl.link_rx`), so
nothing of it reaches the lane. A frame is bad when its FCS does not match, it is a
runt, it is oversized (cut off at once: its last byte goes out with `error` as the
1519th arrives and the rest is ignored), the PHY flagged an error, or the buffer
behind the receiver ran full. Each dropped frame pulses one counter, by `MacDrop`.

The buffer behind the receiver (`space`) cannot hold the PHY back, so the receiver
keeps one slot spare: a byte that is not a frame's last is written only while two
are free, so a frame it has begun writing can always be ended with an `error` byte.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..link_header import RX_BYTE
from .crc import Crc32
from .gmii import FCS_BYTES, GMII, MAX_FCS_FRAME, MIN_FCS_FRAME, PREAMBLE, SFD, MacDrop

__all__ = ["MacReceiver", "RX_PULSES"]

# One clock's counter increments: a good frame passed on, or a frame dropped for a reason.
RX_PULSES = data.StructLayout({"frames": 1, **{reason.name.lower(): 1 for reason in MacDrop}})
_HELD = FCS_BYTES + 1               # bytes held back: the FCS and the frame's last byte


class MacReceiver(wiring.Component):
    """GMII in, frame bytes out, one clock domain (the PHY's receive clock).

    Parameters
    ----------
    max_frame : int
        Longest frame accepted, FCS included (1518).

    Attributes
    ----------
    gmii : In(GMII)
        The byte the PHY received this clock (`en` is RX_DV, `er` RX_ER).
    o : Out(RX_BYTE)
        A byte of a frame for the buffer, written when `write` is high.
    write : Out(1)
        Write `o` this clock.
    space : In(2)
        Free slots in the buffer: 0, 1, or 2 for two or more.
    pulses : Out(RX_PULSES)
        One clock per frame: passed on good (`frames`) or dropped for a reason.
    """

    gmii:   In(GMII)
    o:      Out(RX_BYTE)
    write:  Out(1)
    space:  In(2)
    pulses: Out(RX_PULSES)

    def __init__(self, max_frame=MAX_FCS_FRAME):
        self.max_frame = max_frame
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.crc = crc = Crc32()
        held = Signal(8 * _HELD)            # the last five bytes, newest lowest
        oldest = held[8 * (_HELD - 1):]
        count = Signal(range(self.max_frame + 2))       # bytes after the SFD
        # What the checks ask of `count`, registered with it: the write decision then
        # starts from flip-flops, not from three compares' carry chains (RXC's path).
        at_limit = Signal()                 # count == max_frame
        holding = Signal()                  # count >= _HELD: the oldest held byte is the frame's
        short = Signal()                    # count < MIN_FCS_FRAME: a runt, should it end here
        opened = Signal()                   # a byte of this frame has been written
        phy_error = Signal()
        byte, en, er = self.gmii.data, self.gmii.en, self.gmii.er

        def pulse(name):
            m.d.comb += getattr(self.pulses, name).eq(1)

        def write(last=0, error=0):
            m.d.comb += [self.write.eq(1), self.o.data.eq(oldest), self.o.first.eq(~opened),
                         self.o.last.eq(last), self.o.error.eq(error)]
            m.d.sync += opened.eq(1)

        def set_count(value):
            m.d.sync += [count.eq(value), at_limit.eq(value == self.max_frame),
                         holding.eq(value >= _HELD), short.eq(value < MIN_FCS_FRAME)]

        def begin():
            m.d.comb += crc.start.eq(1)
            m.d.sync += [opened.eq(0), phy_error.eq(0)]
            set_count(0)
            m.next = "DATA"

        with m.FSM():
            with m.State("IDLE"):
                with m.If(en & er):
                    pulse("phy_error")
                    m.next = "DISCARD"
                with m.Elif(en & (byte == PREAMBLE)):
                    m.next = "PREAMBLE"
                with m.Elif(en & (byte == SFD)):      # a PHY may shrink the preamble to nothing
                    begin()
                with m.Elif(en):
                    pulse("preamble")
                    m.next = "DISCARD"

            with m.State("PREAMBLE"):
                with m.If(~en):
                    pulse("preamble")               # a burst of preamble without an SFD
                    m.next = "IDLE"
                with m.Elif(er):
                    pulse("phy_error")
                    m.next = "DISCARD"
                with m.Elif(byte == SFD):
                    begin()
                with m.Elif(byte != PREAMBLE):
                    pulse("preamble")
                    m.next = "DISCARD"

            with m.State("DATA"):
                with m.If(en):
                    m.d.comb += [crc.valid.eq(1), crc.data.eq(byte)]
                    m.d.sync += [held.eq(Cat(byte, held[:-8])), phy_error.eq(phy_error | er)]
                    set_count(count + 1)
                    with m.If(at_limit):
                        with m.If(opened):
                            write(last=1, error=1)
                        pulse("oversize")
                        m.next = "DISCARD"
                    with m.Elif(holding):
                        with m.If(self.space == 2):
                            write()
                        with m.Else():              # full: end what was written, drop the rest
                            with m.If(opened):
                                write(last=1, error=1)
                            pulse("overflow")
                            m.next = "DISCARD"
                with m.Else():                      # the frame's end: `held` is its last byte and FCS
                    bad = Signal()
                    m.d.comb += bad.eq(phy_error | short | ~crc.match)
                    with m.If(holding & ~opened & (self.space == 0)):
                        pulse("overflow")
                    with m.Else():
                        with m.If(holding):
                            write(last=1, error=bad)
                        with m.If(phy_error):
                            pulse("phy_error")
                        with m.Elif(short):
                            pulse("runt")
                        with m.Elif(~crc.match):
                            pulse("fcs")
                        with m.Else():
                            pulse("frames")
                    m.next = "IDLE"

            with m.State("DISCARD"):
                with m.If(~en):
                    m.next = "IDLE"
        return m

