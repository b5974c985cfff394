"""A 1G Ethernet MAC on RGMII: the PHY's DDR pin pairs at one edge, frame byte streams in
the core's clock at the other.

# Ref: RGMII v2.0 (Hewlett-Packard, 2002): TXD[3:0]/RXD[3:0] carry bits 3:0 of a byte
#      at the clock's rising edge and bits 7:4 at its falling edge; TX_CTL/RX_CTL carry
#      the enable at the rising edge and enable XOR error at the falling edge.
#      IEEE Std 802.3-2018 clauses 3, 4 and 35; gatebook/hdl/mac/gmii.py.

The pins themselves are not here: the MAC takes and gives the core side of double data
rate buffers, a pair per pin (`[0]` the rising edge's bit, `[1]` the falling edge's),
the shape of `amaranth.lib.io.DDRBuffer`'s `i` and `o`. On an ECP5 those buffers are
IDDRX1F and ODDRX1F (what Amaranth's Lattice platform makes of a `DDRBuffer`); in a
simulation they are `gatebook.hdl.mac.pads`, flip-flops on both edges. The receive side
runs in the PHY's receive clock (`rx_domain`, made by the pads) up to an `AsyncFIFO`;
everything after it, and the transmit side, runs in the core clock (`sync`, 125 MHz:
the transmit pins are clocked by it).
"""

from amaranth.hdl import Array, Cat, DomainRenamer, Module, Mux, ResetSignal, Signal
from amaranth.lib import data, wiring
from amaranth.lib.cdc import ResetSynchronizer
from amaranth.lib.fifo import AsyncFIFO
from amaranth.lib.wiring import In, Out

from ..link_header import BYTE, RX_BYTE, byte_stream
from .cdc import CounterCrossing
from .gmii import MAC_DROPS, MAX_FCS_FRAME, MacDrop
from .rx import RX_PULSES, MacReceiver
from .tx import MacTransmitter

__all__ = ["EthernetMac", "DDR_NIBBLE", "DDR_BIT"]

DDR_NIBBLE = data.ArrayLayout(4, 2)         # RXD/TXD: [0] at the rising edge, [1] at the falling
DDR_BIT = data.ArrayLayout(1, 2)            # RX_CTL/TX_CTL


class EthernetMac(wiring.Component):
    """RGMII in and out; received frames (without preamble and FCS) out, frames to send in.

    Parameters
    ----------
    rx_domain : str
        The clock domain of the PHY's receive clock (RXC), defined by the caller.
    buffer : int
        Bytes the receive side buffers into the core's clock (a power of two).
    max_frame : int
        Longest frame received, FCS included.

    Attributes
    ----------
    rxd, rx_ctl : In(DDR_NIBBLE), In(DDR_BIT)
        The receive pins' pairs, in `rx_domain`.
    txd, tx_ctl : Out(DDR_NIBBLE), Out(DDR_BIT)
        The transmit pins' pairs, in the core clock.
    o : Out(stream.Signature(RX_BYTE))
        Frames received; `error` on a frame's last byte: drop it (`drops` says why).
    i : In(stream.Signature(BYTE))
        Frames to send, without preamble, padding or FCS.
    drops : Out(MAC_DROPS)
        Received frames dropped, per `MacDrop`.
    rx_frames, tx_frames, underruns : Out(32)
        Good frames received; frames sent; frames spoiled on sending (a missing byte).
    """

    rxd:       In(DDR_NIBBLE)
    rx_ctl:    In(DDR_BIT)
    txd:       Out(DDR_NIBBLE)
    tx_ctl:    Out(DDR_BIT)
    o:         Out(byte_stream(RX_BYTE))
    i:         In(byte_stream(BYTE))
    drops:     Out(MAC_DROPS)
    rx_frames: Out(32)
    tx_frames: Out(32)
    underruns: Out(32)

    def __init__(self, *, rx_domain="rx", buffer=2048, max_frame=MAX_FCS_FRAME):
        self.rx_domain = rx_domain
        self.buffer = buffer
        self.receiver = MacReceiver(max_frame)
        self.transmitter = MacTransmitter()
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        rx_domain, depth = self.rx_domain, self.buffer
        m.submodules.rx_reset = ResetSynchronizer(ResetSignal("sync"), domain=rx_domain)

        # -- receive: PHY clock up to the FIFO, core clock after it ------------------------
        rx = self.receiver
        m.submodules.receiver = DomainRenamer({"sync": rx_domain})(rx)
        # The pins' pairs are registered once more in the fabric, and the receiver's writes
        # once before the FIFO: the routes from the pads' IOLOGIC, and the FIFO's write
        # pointer, each get a clock of their own (RXC, at 125 MHz on a speed-6 ECP5).
        m.d[rx_domain] += [
            rx.gmii.data.eq(Cat(self.rxd[0], self.rxd[1])),
            rx.gmii.en.eq(self.rx_ctl[0]),
            rx.gmii.er.eq(self.rx_ctl[0] ^ self.rx_ctl[1]),
        ]
        m.submodules.fifo = fifo = AsyncFIFO(width=RX_BYTE.size, depth=depth,
                                             w_domain=rx_domain, r_domain="sync")
        staged = Signal(RX_BYTE)
        staged_write = Signal()
        m.d[rx_domain] += [staged.eq(rx.o), staged_write.eq(rx.write)]
        # `w_level` is a register, a write behind: count the last clock's write in too, and
        # the staged byte being written now.
        wrote = Signal()
        m.d[rx_domain] += wrote.eq(fifo.w_en & fifo.w_rdy)
        pending = Signal(2)
        m.d.comb += pending.eq(wrote + staged_write)

        def below(limit):
            # level = w_level + pending < limit, without an adder before the compare
            return Array(fifo.w_level < limit - k for k in range(3))[pending]

        # The free slots are registered too, so the receiver's write decision does not start
        # from the level's compare. They are a clock old: a slot fewer than the level says,
        # for the byte the receiver may have decided to write that clock.
        space = Signal(2)
        m.d[rx_domain] += space.eq(Mux(below(fifo.depth - 2), 2,
                                       Mux(below(fifo.depth - 1), 1, 0)))
        m.d.comb += [
            fifo.w_data.eq(staged),
            fifo.w_en.eq(staged_write),
            rx.space.eq(space),
            self.o.payload.eq(fifo.r_data),
            self.o.valid.eq(fifo.r_rdy),
            fifo.r_en.eq(self.o.ready),
        ]
        m.submodules.counters = counters = CounterCrossing(RX_PULSES, from_domain=rx_domain)
        m.d.comb += [counters.pulse.eq(rx.pulses), self.rx_frames.eq(counters.total.frames)]
        for reason in MacDrop:
            name = reason.name.lower()
            m.d.comb += getattr(self.drops, name).eq(getattr(counters.total, name))

        # -- transmit: all in the core clock ------------------------------------------------
        tx = self.transmitter
        m.submodules.transmitter = tx
        wiring.connect(m, wiring.flipped(self.i), tx.i)
        m.d.comb += [
            self.txd[0].eq(tx.gmii.data[:4]),
            self.txd[1].eq(tx.gmii.data[4:]),
            self.tx_ctl[0].eq(tx.gmii.en),
            self.tx_ctl[1].eq(tx.gmii.en ^ tx.gmii.er),
            self.tx_frames.eq(tx.frames),
            self.underruns.eq(tx.underruns),
        ]
        return m
