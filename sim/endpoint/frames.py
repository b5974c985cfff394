"""Frames for the link endpoint's benches: a window to load, every kind of bad frame, and
what the lane alone writes (the reference for what the endpoint sends).

Shared by the Amaranth tests (tests/test_hdl_link_endpoint.py) and the cocotb bench
of the endpoint's Verilog (`gatebook.sim.endpoint.test_endpoint_cocotb`), so both check the same
frames against the same reasons (STYLE principle 3).
"""

import random

from gatebook.wire import link
from gatebook.wire import link_frame as lf
from gatebook.wire.enums import OrderType, Side, TimeInForce
from gatebook.hdl.link_header import LINK_HEADER
from gatebook.hdl.link_rx import DropReason
from gatebook.host.net.link import pack_frames, unpack_frame
from gatebook.sim.flows import SYMBOL, hybrid_flow

from .amaranth_port import ENDPOINT_MAC, HOST_MAC

__all__ = ["command_frames", "load", "book", "reclaim", "bad_frames", "lane_output"]


def command_frames(records, first_seq=0):
    """Command frames from the host to the endpoint, numbered from `first_seq`."""
    return pack_frames(ENDPOINT_MAC, HOST_MAC, lf.COMMANDS, first_seq, records)


def load(side, order_id, price, qty, prio):
    return (link.LOAD.code, SYMBOL, int(side), order_id, 1, int(OrderType.LIMIT),
            int(TimeInForce.GTC), price, 0, qty, prio)


def book(depth):
    """LOAD a full window (`depth` orders a side) and OWN the symbol."""
    bids = [load(Side.BUY, 100 + k, 10_000 - k, 10, k + 1) for k in range(depth)]
    asks = [load(Side.SELL, 200 + k, 10_100 + k, 10, k + 1) for k in range(depth)]
    return bids + asks + [(link.OWN.code, SYMBOL, 0, 0, 0)]


def reclaim(seq=0):
    """A HOST marker with handover: the lane hands its window back."""
    return (link.HOST.code, seq, 0, SYMBOL, 1)


def bad_frames(seed=7, first_seq=1):
    """(good frame numbered `first_seq`, [(DropReason, frame), ...]): each frame breaks one
    rule of the receiver's; garbage is seeded."""
    rng = random.Random(seed)
    good = command_frames(hybrid_flow(5, 3, symbols=(SYMBOL,)), first_seq)[0]
    records_at = LINK_HEADER.size
    count = len(unpack_frame(good)[3])

    def header(name, value):
        offset, width, order = LINK_HEADER.fields[name]
        return good[:offset] + value.to_bytes(width, order) + good[offset + width:]

    return good, [
        (DropReason.ETHERTYPE, header("ethertype", 0x0800)),
        (DropReason.MAGIC, header("magic", 0x5858)),
        (DropReason.VERSION, header("version", lf.VERSION + 1)),
        (DropReason.CHANNEL, header("channel", lf.EVENTS)),
        (DropReason.SEQUENCE, header("frame_seq", first_seq + 6)),
        (DropReason.UNKNOWN_TYPE, good[:records_at] + b"\x00" + good[records_at + 1:]),
        (DropReason.TRUNCATED, good[:-1]),
        (DropReason.TRUNCATED, good[:20]),
        (DropReason.COUNT, header("count", count + 1)),
        (DropReason.COUNT, header("count", count - 1)),
        (DropReason.COUNT, header("count", 1000)),
        (DropReason.ETHERTYPE, bytes(rng.randrange(256) for _ in range(rng.randrange(30, 200)))),
        (DropReason.TRUNCATED, bytes(rng.randrange(256) for _ in range(9))),
    ]


def lane_output(depth, records):
    """What the lane alone (Amaranth's simulator) writes for `records`."""
    from gatebook.sim.hybrid.amaranth_link import AmaranthLink
    lane = AmaranthLink(depth)
    try:
        lane.send(records)
        return lane.run()
    finally:
        lane.close()
