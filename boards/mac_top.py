"""The MAC alone on a board's pins, for timing it without the lane: `gatebook build --mac-only`.

# Ref: docs/boards.md ("Timing the MAC alone").

A full board build takes 20 to 90 minutes, most of it placing the lane; the MAC's receive
clock (RXC) and its transmit side can be timed in a minute or two by building
`EthernetBoardTop` with `MacLoopback` in the lane's place: the MAC's received frames go
straight back to its transmitter. The receive side, its FIFO, the counters' crossing and
the transmitter are the same gateware as on the full build; only what sits between the
MAC's two streams differs, so this build's `clk` Fmax is not the lane's.
"""

from amaranth.hdl import Cat, Module, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from gatebook.hdl.link_header import BYTE
from gatebook.hdl.mac.endpoint import MAC_COUNTERS
from gatebook.hdl.mac.mac import DDR_BIT, DDR_NIBBLE, EthernetMac

__all__ = ["MacLoopback"]


class MacLoopback(wiring.Component):
    """`EthernetMac` with its received frames sent straight back; the ports `EthernetBoardTop`
    takes from a unit.

    Parameters
    ----------
    depth : int
        Ignored (the board top hands every unit a window depth).

    Attributes
    ----------
    rxd, rx_ctl, txd, tx_ctl :
        The RGMII pin pairs (`EthernetMac`).
    mac_drops, rx_frames, tx_frames, underruns :
        The MAC's counters.
    drops : Out(1)
        The XOR of every counter bit: the board's only LED output that reads them all,
        so synthesis keeps every counter whole (a counter nothing reads is removed, and
        its timing with it).
    """

    def __init__(self, depth=None):
        super().__init__({
            "rxd":    In(DDR_NIBBLE),
            "rx_ctl": In(DDR_BIT),
            "txd":    Out(DDR_NIBBLE),
            "tx_ctl": Out(DDR_BIT),
            "drops":  Out(1),
            **MAC_COUNTERS,
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.mac = mac = EthernetMac()
        m.d.comb += [mac.rxd.eq(self.rxd), mac.rx_ctl.eq(self.rx_ctl),
                     self.txd.eq(mac.txd), self.tx_ctl.eq(mac.tx_ctl),
                     self.mac_drops.eq(mac.drops), self.rx_frames.eq(mac.rx_frames),
                     self.tx_frames.eq(mac.tx_frames), self.underruns.eq(mac.underruns)]
        # Received bytes back out through a small FIFO with registered outputs, as the link
        # endpoint's transmitter sends them from flip-flops: the transmitter's timing is
        # then its own, not the receive FIFO's RAM's read time. (A bad frame's `error` is
        # lost on the way: this build is for timing.)
        m.submodules.loop = loop = SyncFIFOBuffered(width=BYTE.size, depth=4)
        m.d.comb += [loop.w_data.eq(Cat(mac.o.payload.data, mac.o.payload.first,
                                        mac.o.payload.last)),
                     loop.w_en.eq(mac.o.valid), mac.o.ready.eq(loop.w_rdy),
                     mac.i.payload.eq(loop.r_data), mac.i.valid.eq(loop.r_rdy),
                     loop.r_en.eq(mac.i.ready)]
        every_bit = Signal()
        m.d.comb += every_bit.eq(Value.cast(mac.drops).xor() ^ mac.rx_frames.xor()
                                 ^ mac.tx_frames.xor() ^ mac.underruns.xor())
        m.d.comb += self.drops.eq(every_bit)
        return m
