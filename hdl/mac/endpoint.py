"""The MAC in front of the link endpoint: RGMII pin pairs at one edge, the lane inside.

# Ref: docs/hardware.md ("The Ethernet MAC", "The link endpoint").

`MacEndpoint(depth, mac)` is what a board carries between its PHY's pins and nothing
else: `gatebook.hdl.mac.mac.EthernetMac` strips preamble and FCS and drops bad frames
(their last byte flagged `error`, which the endpoint's receiver drops and counts under
`fcs`), `gatebook.hdl.link_endpoint.LaneEndpoint` checks the link frames, runs the lane
and writes event frames, and the MAC pads them and adds the FCS.
"""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..link_endpoint import ENDPOINT_COUNTERS, LaneEndpoint
from .gmii import MAC_DROPS
from .mac import DDR_BIT, DDR_NIBBLE, EthernetMac

__all__ = ["MacEndpoint", "MAC_COUNTERS", "UNIT_COUNTERS"]

# The MAC's counters, as `MacEndpoint` passes them on (`EthernetMac` calls its drops `drops`).
MAC_COUNTERS = {
    "mac_drops": Out(MAC_DROPS),
    "rx_frames": Out(32),
    "tx_frames": Out(32),
    "underruns": Out(32),
}
# Every counter of the unit a board carries: the MAC's and the link endpoint's.
UNIT_COUNTERS = {**MAC_COUNTERS, **ENDPOINT_COUNTERS}


class MacEndpoint(wiring.Component):
    """`EthernetMac` and `LaneEndpoint(depth, mac)`, joined.

    Parameters
    ----------
    depth : int
        The lane's window depth.
    mac : str or int
        The endpoint's MAC address (the source of its event frames).
    rx_domain : str
        The PHY's receive clock domain (made by the pads).
    buffer : int
        Bytes the MAC buffers between the PHY's clock and the core's.
    **endpoint
        Passed to `LaneEndpoint` (`evict`, `capacity`, `mtu`).

    Attributes
    ----------
    rxd, rx_ctl, txd, tx_ctl :
        The RGMII pin pairs (`EthernetMac`).
    mac_drops : Out(MAC_DROPS)
        Frames the MAC dropped, per `gatebook.hdl.mac.gmii.MacDrop`.
    rx_frames, tx_frames, underruns : Out(32)
        The MAC's frame counters.
    drops : Out(DROPS)
        Frames the endpoint dropped, per `gatebook.hdl.link_rx.DropReason` (its `fcs`
        counts every frame the MAC flagged).
    frames, answered, sent, sessions, idle :
        The endpoint's (`LaneEndpoint`).
    """

    def __init__(self, depth, mac, *, rx_domain="rx", buffer=2048, **endpoint):
        self.depth = depth
        self.mac = EthernetMac(rx_domain=rx_domain, buffer=buffer)
        self.endpoint = LaneEndpoint(depth, mac, **endpoint)
        super().__init__({
            "rxd":    In(DDR_NIBBLE),
            "rx_ctl": In(DDR_BIT),
            "txd":    Out(DDR_NIBBLE),
            "tx_ctl": Out(DDR_BIT),
            **UNIT_COUNTERS,
        })

    def elaborate(self, platform):
        m = Module()
        mac, endpoint = self.mac, self.endpoint
        m.submodules.mac = mac
        m.submodules.endpoint = endpoint
        wiring.connect(m, mac.o, endpoint.i)
        wiring.connect(m, endpoint.o, mac.i)
        m.d.comb += [
            mac.rxd.eq(self.rxd),
            mac.rx_ctl.eq(self.rx_ctl),
            self.txd.eq(mac.txd),
            self.tx_ctl.eq(mac.tx_ctl),
            self.mac_drops.eq(mac.drops),
            self.idle.eq(endpoint.idle & ~mac.o.valid),
        ]
        for name in MAC_COUNTERS.keys() - {"mac_drops"}:
            m.d.comb += getattr(self, name).eq(getattr(mac, name))
        for name in ENDPOINT_COUNTERS.keys() - {"idle"}:
            m.d.comb += getattr(self, name).eq(getattr(endpoint, name))
        return m
