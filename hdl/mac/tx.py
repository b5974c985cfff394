"""The MAC's transmitter: frames from the link endpoint in, GMII bytes out, in the core clock.

# Ref: IEEE Std 802.3-2018 clause 3.2 (preamble, SFD, pad, FCS), 4.4.2 (minFrameSize,
#      interFrameGap); gatebook/hdl/mac/gmii.py.

Cut-through: the endpoint's frame is passed on as it comes, after the preamble and
SFD; a frame shorter than 60 bytes is padded with zeros, the FCS follows (the CRC of
frame and pad, complemented, least significant byte first), then 12 idle byte times.
The transmitter takes the frame's first byte only once the preamble is out, and from
then on one byte every clock (the link endpoint's transmitter sends a whole frame
without a gap). Should a byte not be there (an underrun), the frame is spoiled with
TX_ER, so the far end drops it, the rest of it is taken and thrown away, and
`underruns` counts it.

The CRC takes each byte a clock after it was sent, from the register that sends it, so
the frame's bytes reach the CRC's XOR network from a flip-flop, never straight from
whatever feeds the transmitter (a FIFO's RAM on a loop-back build: RXC's neighbour, the
core clock's MAC path, at 104 MHz on a speed-6 ECP5). The FCS's first byte is then the
CRC with the frame's last byte taken in that clock (`Crc32.crc_next`); the other three
come from its register.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..link_header import BYTE, byte_stream
from .crc import Crc32
from .gmii import FCS_BYTES, GMII, IFG_BYTES, MIN_FRAME, PREAMBLE, PREAMBLE_BYTES, SFD

__all__ = ["MacTransmitter"]


class MacTransmitter(wiring.Component):
    """Frames (bytes) in, GMII out, one byte time per clock.

    Attributes
    ----------
    i : In(stream.Signature(BYTE))
        Frames to send, without preamble or FCS (`last` marks each frame's end).
    gmii : Out(GMII)
        The byte to send this clock (`en` is TX_EN, `er` TX_ER); registered.
    frames : Out(32)
        Frames sent whole.
    underruns : Out(32)
        Frames spoiled because a byte was missing.
    """

    i:         In(byte_stream(BYTE))
    gmii:      Out(GMII)
    frames:    Out(32)
    underruns: Out(32)

    def elaborate(self, platform):
        m = Module()
        m.submodules.crc = crc = Crc32()
        count = Signal(range(max(MIN_FRAME, PREAMBLE_BYTES + 1, IFG_BYTES) + 1))
        send = self.gmii
        sent_byte = Signal()            # `send.data` is a frame or pad byte: the CRC takes it
        sent_first = Signal()           # ... and the frame's first
        m.d.comb += [crc.valid.eq(sent_byte), crc.start.eq(sent_first), crc.data.eq(send.data)]
        m.d.sync += [sent_byte.eq(0), sent_first.eq(0)]      # unless a state below sends one

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.i.valid):
                    m.d.sync += [send.en.eq(1), send.er.eq(0), send.data.eq(PREAMBLE),
                                 count.eq(1)]
                    m.next = "PREAMBLE"
                with m.Else():
                    m.d.sync += send.en.eq(0)

            with m.State("PREAMBLE"):
                m.d.sync += count.eq(count + 1)
                with m.If(count == PREAMBLE_BYTES):
                    m.d.sync += [send.data.eq(SFD), count.eq(0)]
                    m.next = "DATA"

            with m.State("DATA"):
                m.d.comb += self.i.ready.eq(1)
                with m.If(self.i.valid):
                    m.d.sync += [send.data.eq(self.i.payload.data), sent_byte.eq(1),
                                 sent_first.eq(count == 0),
                                 count.eq(count + (count < MIN_FRAME))]
                    with m.If(self.i.payload.last):
                        with m.If(count + 1 < MIN_FRAME):
                            m.next = "PAD"
                        with m.Else():
                            m.d.sync += count.eq(0)
                            m.next = "FCS"
                with m.Else():
                    m.d.sync += [send.er.eq(1), self.underruns.eq(self.underruns + 1)]
                    m.next = "DRAIN"

            with m.State("PAD"):
                m.d.sync += [send.data.eq(0), sent_byte.eq(1), count.eq(count + 1)]
                with m.If(count + 1 == MIN_FRAME):
                    m.d.sync += count.eq(0)
                    m.next = "FCS"

            with m.State("FCS"):
                with m.If(count == 0):          # the CRC takes the frame's last byte now
                    m.d.sync += send.data.eq(crc.crc_next[:8])
                with m.Else():
                    m.d.sync += send.data.eq(crc.crc.word_select(count[:2], 8))
                m.d.sync += count.eq(count + 1)
                with m.If(count == FCS_BYTES - 1):
                    m.d.sync += [count.eq(0), self.frames.eq(self.frames + 1)]
                    m.next = "GAP"

            with m.State("DRAIN"):                  # the rest of a spoiled frame
                m.d.comb += self.i.ready.eq(1)
                m.d.sync += [send.en.eq(0), send.er.eq(0)]
                with m.If(self.i.valid & self.i.payload.last):
                    m.d.sync += count.eq(0)
                    m.next = "GAP"

            with m.State("GAP"):
                m.d.sync += [send.en.eq(0), count.eq(count + 1)]
                with m.If(count == IFG_BYTES - 1):
                    m.next = "IDLE"
        return m
