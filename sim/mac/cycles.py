"""`python -m gatebook.sim.mac.cycles`: what the MAC adds to a frame's trip, in clocks.

Runs `gatebook.hdl.mac.mac.EthernetMac` on Amaranth's simulator, the PHY's receive clock at
the core's 125 MHz but a quarter cycle late, the endpoint's side always ready, and times a
frame each way at the MAC's pin pairs (a board's DDR flip-flops add a clock each way):

- receive: the frame's first byte after the SFD at the pins -> that byte on `o`; the
  last FCS byte at the pins -> the frame's last byte on `o` (the link endpoint sees it);
- transmit: the frame's first byte offered on `i` -> TX_EN; -> that byte at the pins;
  its last byte taken -> the last FCS byte at the pins.

The RTL's clocks, so any simulator gives the same figures; docs/hardware.md quotes them.
"""

import sys

from amaranth.hdl import ClockDomain, Module
from amaranth.sim import Simulator

from gatebook.hdl.mac.gmii import MIN_FRAME, PREAMBLE_BYTES
from gatebook.hdl.mac.mac import EthernetMac

from .model import wire_frame

__all__ = ["measure", "main"]

_PERIOD = 8e-9


def measure(size=MIN_FRAME):
    """{mark: core clock} of one `size`-byte frame received and one sent."""
    mac = EthernetMac()
    m = Module()
    m.domains.rx = ClockDomain("rx")
    m.submodules.mac = mac
    frame = bytes(range(size))
    wire = wire_frame(frame)
    sfd_at = PREAMBLE_BYTES
    clock, marks = [0], {}

    async def phy(ctx):
        await ctx.tick().repeat(20)                 # the receive clock out of reset
        for k, byte in enumerate(wire):
            ctx.set(mac.rxd.as_value(), byte)
            ctx.set(mac.rx_ctl.as_value(), 0b11)
            if k == sfd_at + 1:
                marks["rx_first_in"] = clock[0]
            if k == len(wire) - 1:
                marks["rx_fcs_in"] = clock[0]
            await ctx.tick("rx")
        ctx.set(mac.rx_ctl.as_value(), 0)

    async def core(ctx):
        ctx.set(mac.o.ready, 1)
        pending = list(enumerate(frame))
        sending = False
        while "tx_fcs_out" not in marks or "rx_last_out" not in marks:
            if clock[0] == 40 and not sending:
                sending = True
                marks["tx_first_in"] = clock[0]
            if sending and pending:
                k, byte = pending[0]
                ctx.set(mac.i.valid, 1)
                ctx.set(mac.i.payload.data, byte)
                ctx.set(mac.i.payload.last, k == len(frame) - 1)
            else:
                ctx.set(mac.i.valid, 0)
            _, _, i_ready, o_valid, o_beat, txd, tx_ctl = await ctx.tick().sample(
                mac.i.ready, mac.o.valid, mac.o.payload, mac.txd.as_value(), mac.tx_ctl.as_value())
            clock[0] += 1
            if sending and pending and i_ready:
                if pending.pop(0)[0] == len(frame) - 1:
                    marks["tx_last_in"] = clock[0]
            if o_valid:
                marks.setdefault("rx_first_out", clock[0])
                if o_beat.last:
                    marks["rx_last_out"] = clock[0]
            if tx_ctl & 1:
                marks.setdefault("tx_en", clock[0])
                out = marks.setdefault("tx_bytes", [])
                out.append(clock[0])
            elif "tx_bytes" in marks and "tx_fcs_out" not in marks:
                marks["tx_fcs_out"] = marks["tx_bytes"][-1]
        marks["tx_first_out"] = marks["tx_bytes"][PREAMBLE_BYTES + 1]
        del marks["tx_bytes"]

    sim = Simulator(m)
    sim.add_clock(_PERIOD)
    sim.add_clock(_PERIOD, phase=_PERIOD / 4, domain="rx")
    sim.add_testbench(phy, background=True)
    sim.add_testbench(core)
    sim.run()
    return marks


def latencies(size=MIN_FRAME):
    """{what: clocks} of `measure(size)`."""
    k = measure(size)
    return {
        "receive, first byte at the pins -> out to the endpoint": k["rx_first_out"] - k["rx_first_in"],
        "receive, last FCS byte at the pins -> frame's last byte out": k["rx_last_out"] - k["rx_fcs_in"],
        "transmit, first byte offered -> TX_EN": k["tx_en"] - k["tx_first_in"],
        "transmit, first byte offered -> at the pins": k["tx_first_out"] - k["tx_first_in"],
        "transmit, last byte taken -> last FCS byte at the pins": k["tx_fcs_out"] - k["tx_last_in"],
    }


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    size = int(argv[0]) if argv else MIN_FRAME
    print(f"EthernetMac, a {size}-byte frame each way, clocks at 125 MHz (8 ns):")
    for what, clocks in latencies(size).items():
        print(f"  {what:58} {clocks:3}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
