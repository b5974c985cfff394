"""The FPGA end of the host <-> pipeline packet link: frames in, a lane, frames out.

# Ref: gatebook/wire/link_frame.py (the framing), host/net/link.py (`PacketLaneLink`,
#      the host's end), docs/hardware.md ("The link endpoint").

`LaneEndpoint(depth, mac)` is what sits behind a NIC's MAC: command frames arrive
as bytes (`gatebook.hdl.link_rx.LinkReceiver` checks them and cuts them into records),
`gatebook.hdl.matcher.Matcher(depth)` matches, and `gatebook.hdl.link_tx.LinkTransmitter` packs the
lane's output into event frames to the last command frame's sender, answering
each command frame as `PacketLaneLink` expects (`lanes=N`: several symbols, a lane
each, behind one router, `gatebook.hdl.multi_lane`). A command frame numbered 0
after others is a new host session: once everything before it is answered,
the lane and the transmitter are reset (an empty lane, event frames from 0).
"""

from amaranth.hdl import Module, ResetInserter, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .link_header import BYTE, MTU, RX_BYTE, byte_stream
from .link_rx import DROPS, DropReason, LinkReceiver
from .link_tx import LinkTransmitter
from .matcher import Matcher
from .multi_lane import MultiLane

__all__ = ["LaneEndpoint", "LinkReceiver", "LinkTransmitter", "DropReason", "ENDPOINT_COUNTERS"]

# The endpoint's counters as signature members: `LaneEndpoint` has them, and so has every
# component that passes them on (`gatebook.hdl.mac.endpoint.MacEndpoint`, the benches' tops).
ENDPOINT_COUNTERS = {
    "drops":    Out(DROPS),
    "frames":   Out(32),
    "answered": Out(32),
    "sent":     Out(32),
    "sessions": Out(32),
    "idle":     Out(1),
}


class LaneEndpoint(wiring.Component):
    """Receiver, lane and transmitter: Ethernet frames at both edges, one byte per beat.

    Parameters
    ----------
    depth : int
        The lane's window depth.
    mac : str or int
        The endpoint's MAC: the source of its event frames.
    evict : bool
        Build the lane with eviction (`gatebook.hdl.matcher.Matcher`).
    capacity : int
        Records the receiver's FIFO holds (at least one frame's).
    mtu : int
        Largest payload of an event frame.
    lanes : int or None
        None: one `Matcher` (one symbol). A number: `gatebook.hdl.multi_lane.MultiLane`
        with that many lanes, a symbol each, behind the same receiver and transmitter.

    Attributes
    ----------
    i : In(stream.Signature(RX_BYTE))
        Frames from the MAC (`error` on a last byte: the MAC found a bad FCS).
    o : Out(stream.Signature(BYTE))
        Event frames to the MAC.
    drops : Out(DROPS)
        Frames the receiver dropped, per `DropReason`.
    frames, answered, sent : Out(32)
        Command frames committed and answered, event frames sent, in this session.
    sessions : Out(32)
        Host sessions begun after the first (lane resets).
    idle : Out(1)
        No frame partly received, every committed command frame answered, nothing
        buffered or in the lane.
    """

    def __init__(self, depth, mac, *, evict=True, capacity=128, mtu=MTU, lanes=None):
        self.depth = depth
        self.mac = mac
        self.lane = (Matcher(depth, evict=evict) if lanes is None
                     else MultiLane(depth, lanes, evict=evict))
        self.rx = LinkReceiver(capacity)
        self.tx = LinkTransmitter(mac, mtu)
        super().__init__({
            "i": In(byte_stream(RX_BYTE)),
            "o": Out(byte_stream(BYTE)),
            **ENDPOINT_COUNTERS,
        })

    def elaborate(self, platform):
        m = Module()
        rx, lane, tx = self.rx, self.lane, self.tx
        m.submodules.rx = rx
        m.submodules.lane = ResetInserter(rx.restart)(lane)
        m.submodules.tx = ResetInserter(rx.restart)(tx)
        wiring.connect(m, wiring.flipped(self.i), rx.i)
        wiring.connect(m, rx.o, lane.i)
        wiring.connect(m, lane.o, tx.i)
        wiring.connect(m, tx.o, wiring.flipped(self.o))
        idle = Signal()
        m.d.comb += [
            tx.drained.eq(lane.idle & ~rx.queued),
            tx.frames.eq(rx.frames),
            tx.peer.eq(rx.peer),
            idle.eq(tx.idle & (tx.answered == rx.frames) & ~rx.queued & lane.idle
                    & ~lane.o.valid),
            rx.idle.eq(idle),
            self.idle.eq(idle & ~rx.framing),
            self.drops.eq(rx.drops),
            self.frames.eq(rx.frames),
            self.answered.eq(tx.answered),
            self.sent.eq(tx.sent),
        ]
        with m.If(rx.restart):
            m.d.sync += self.sessions.eq(self.sessions + 1)
        return m
