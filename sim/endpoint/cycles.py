"""`python -m gatebook.sim.endpoint.cycles [DEPTH]`: what the link endpoint costs, in clocks.

Runs `gatebook.hdl.link_endpoint.LaneEndpoint(depth)` on Amaranth's simulator without stalls
(a MAC that gives and takes a byte every clock) and times, for a few command frames,
where the clocks go: the frame's bytes coming in, its first record reaching the lane,
the answer's first and last byte going out. The RTL's clock counts, so any simulator
gives the same figures; docs/hardware.md quotes this table.
"""

import sys

from amaranth.sim import Simulator

from gatebook.wire import link
from gatebook.wire import link_frame as lf
from gatebook.wire.enums import OrderType, Side, TimeInForce
from gatebook.hdl.link_endpoint import LaneEndpoint
from gatebook.hdl.link_header import RX_BYTE
from gatebook.host.net.link import pack_frames, unpack_frame
from gatebook.sim.flows import BUY, SYMBOL, Flow

from .amaranth_port import ENDPOINT_MAC, HOST_MAC

__all__ = ["measure", "main"]

_FIRST, _LAST = (1 << RX_BYTE[name].offset for name in ("first", "last"))


def _load(side, order_id, price, qty):
    return (link.LOAD.code, SYMBOL, int(side), order_id, 1, int(OrderType.LIMIT),
            int(TimeInForce.GTC), price, 0, qty, order_id)


def scenarios():
    """(name, setup records, measured records): each on a fresh endpoint."""
    book = [_load(Side.SELL, 900, 10_100, 100), (link.OWN.code, SYMBOL, 0, 0, 0)]
    rest, cross, many = Flow(), Flow(), Flow()
    rest.order(BUY, 10_000, 10)
    cross.order(BUY, 10_100, 10)
    for _ in range(16):
        many.cancel(many.order(BUY, 10_000, 10))
    return [
        ("OWN (no event; empty answer)", [], [(link.OWN.code, SYMBOL, 0, 0, 0)]),
        ("resting add (ACCEPTED+LEVEL)", book, rest.commands),
        ("crossing order, one fill", book, cross.commands),
        ("16 × (resting add, its cancel)", book, many.commands),
    ]


def measure(depth, setup, records):
    """Clock marks of one command frame's trip: a dict of clock numbers and sizes."""
    dut = LaneEndpoint(depth, ENDPOINT_MAC)
    beats = []
    for k, frame in enumerate(pack_frames(ENDPOINT_MAC, HOST_MAC, lf.COMMANDS, 0, setup)
                              if setup else []):
        beats.append(None)          # a marker: wait until idle before the measured frame
        beats += _beats(frame)
    (frame,) = pack_frames(ENDPOINT_MAC, HOST_MAC, lf.COMMANDS, 1 if setup else 0, records)
    measured = _beats(frame)
    marks = {"in_bytes": len(frame)}
    out = []

    async def bench(ctx):
        ctx.set(dut.o.ready, 1)
        clock = 0
        # the setup frame, then idle
        for beat in beats:
            if beat is None:
                continue
            ctx.set(dut.i.valid, 1)
            ctx.set(dut.i.payload.as_value(), beat)
            await ctx.tick().until(dut.i.ready)
        ctx.set(dut.i.valid, 0)
        while not ctx.get(dut.idle):
            await ctx.tick()
        pending = list(measured)
        frame_bytes = bytearray()
        while True:
            if pending:
                ctx.set(dut.i.valid, 1)
                ctx.set(dut.i.payload.as_value(), pending[0])
            else:
                ctx.set(dut.i.valid, 0)
            _, _, i_ready, o_valid, o_beat, took, idle = await ctx.tick().sample(
                dut.i.ready, dut.o.valid, dut.o.payload.as_value(),
                dut.rx.o.valid & dut.lane.i.ready, dut.idle)
            clock += 1
            if pending and i_ready:
                if len(pending) == len(measured):
                    marks["first_in"] = clock
                pending.pop(0)
                if not pending:
                    marks["last_in"] = clock
            if took and "lane_takes" not in marks:
                marks["lane_takes"] = clock
            if o_valid:
                marks.setdefault("first_out", clock)
                frame_bytes.append(o_beat & 0xFF)
                if o_beat & (1 << 9):
                    out.append(bytes(frame_bytes))
                    frame_bytes = bytearray()
                    marks["last_out"] = clock
            if idle and not pending and "last_out" in marks:
                return

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    marks["out_bytes"] = sum(len(f) for f in out)
    marks["out_frames"] = len(out)
    marks["events"] = sum(len(unpack_frame(f)[3]) for f in out)
    return marks


def _beats(frame):
    beats = list(frame)
    beats[0] |= _FIRST
    beats[-1] |= _LAST
    return beats


def table(depth):
    rows = ["| command frame | bytes in | events, bytes out (frames) | bytes in (clocks) "
            "| last byte in → lane takes the first record | last byte in → first byte out "
            "| first byte in → last byte out |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, setup, records in scenarios():
        k = measure(depth, setup, records)
        rows.append(f"| {name} | {k['in_bytes']} | {k['events']}, {k['out_bytes']} "
                    f"({k['out_frames']}) | {k['last_in'] - k['first_in'] + 1} "
                    f"| {k['lane_takes'] - k['last_in'] if 'lane_takes' in k else '–'} "
                    f"| {k['first_out'] - k['last_in']} | {k['last_out'] - k['first_in'] + 1} |")
    return "\n".join(rows)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    depth = int(argv[0]) if argv else 4
    print(f"LaneEndpoint({depth}), no stalls, clocks:")
    print(table(depth))
    return 0


if __name__ == "__main__":
    sys.exit(main())
