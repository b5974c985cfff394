"""cocotb test module: the link endpoint's Verilog serving a packet link, frames and all
(run by `python -m gatebook.sim.cosim --endpoint gateware`).

The simulator (Icarus or Verilator) runs `gatebook.hdl.link_endpoint.LaneEndpoint(depth, mac)`;
this module parses nothing: every Ethernet frame the interface receives goes into the
endpoint's input byte by byte (`first`/`last` marking it), and every frame the endpoint
writes goes out on the interface as it was written. The endpoint checks the frames,
drives the lane and answers (docs/hardware.md, "The link endpoint"). Settings come from
the environment the launcher sets: GATEBOOK_COSIM_IFACE, GATEBOOK_COSIM_MAC,
GATEBOOK_DEPTH, GATEBOOK_STALL, GATEBOOK_SEED, GATEBOOK_COSIM_SECONDS; GATEBOOK_TRACE=1
prints every frame that goes in and the counters after each burst.
"""

import ctypes
import os
import random
import select
import signal
import time
from collections import deque

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly

from gatebook.dpdk_bridge.raw import RawSocketPort
from gatebook.wire import link_frame as lf
from gatebook.hdl.link_endpoint import DropReason
from gatebook.hdl.link_header import BYTE, RX_BYTE
from gatebook.host.net.link import pack_frames
from gatebook.sim.hybrid.cocotb_link import CANCEL_CODE, LOAD_CODE, reset

from .endpoint import ETH_P_ALL
_FIRST, _LAST = (1 << RX_BYTE[name].offset for name in ("first", "last"))
_O_LAST = 1 << BYTE["last"].offset
_POLL = 256                     # clocks between looks at the interface while busy


def _settling_frame(mac):
    """A frame that makes every window's order-id CAM hit once (see `cocotb_link.settle`:
    Icarus runs no `always @*` block at time 0); the endpoint is reset after it."""
    entry = (1, 0, 1, 1, 0, 0, 1_000_000, 0, 1, 1)
    records = [(LOAD_CODE,) + entry, (LOAD_CODE,) + entry[:1] + (1, 2) + entry[3:],
               (CANCEL_CODE, 1, 0, 1, 1), (CANCEL_CODE, 2, 0, 2, 1)]
    return pack_frames(mac, "02:00:00:00:00:00", lf.COMMANDS, 0, records)


def _high(handle):
    """A 1-bit output that is 1; X reads as 0 (Icarus leaves a combinational output X until
    one of its inputs first changes, which the settling frame sees to)."""
    value = handle.value
    return value.is_resolvable and bool(value)


def _beats(frame):
    beats = list(frame)
    beats[0] |= _FIRST
    beats[-1] |= _LAST
    return beats


class _Serve:
    """Clocks the endpoint while it has bytes to take or frames to write."""

    def __init__(self, dut, port, stall, seed):
        self.dut, self.port = dut, port
        self.stall, self.rng = stall, random.Random(seed)
        self.inbox = deque()
        self.frame = bytearray()
        self.cycles = self.frames_in = self.frames_out = 0
        self.sessions = 0

    async def reset(self):
        await reset(self.dut)

    async def clock_until_idle(self, send=True):
        """Feed the queued bytes, send what comes out; return when all is answered."""
        dut, rng, stall, inbox = self.dut, self.rng, self.stall, self.inbox
        presenting, since_poll = False, 0
        while True:
            await FallingEdge(dut.clk)
            if inbox and not presenting:
                presenting = not stall or rng.random() >= stall
                if presenting:
                    dut.i__payload.value = inbox[0]
            dut.i__valid.value = int(presenting)
            ready = not stall or rng.random() >= stall
            dut.o__ready.value = int(ready)
            await ReadOnly()
            self.cycles += 1
            if presenting and _high(dut.i__ready):
                inbox.popleft()
                presenting = False
            o_valid = _high(dut.o__valid)
            if o_valid and ready:
                beat = dut.o__payload.value
                if not beat.is_resolvable:
                    raise AssertionError(f"output byte with X/Z bits at clock {self.cycles}: {beat}")
                beat = beat.to_unsigned()
                self.frame.append(beat & 0xFF)
                if beat & _O_LAST:
                    if send and self.port.send([bytes(self.frame)]) != 1:
                        raise AssertionError("the interface did not take an event frame")
                    self.frames_out += send
                    self.frame = bytearray()
            if not inbox and not presenting and not o_valid and _high(dut.idle):
                break
            since_poll += 1
            if since_poll >= _POLL and send:
                since_poll = 0
                self.take(self.port.recv(64))
        await FallingEdge(dut.clk)
        dut.i__valid.value = 0
        self.report_sessions()

    def take(self, frames):
        for frame in frames:
            if os.environ.get("GATEBOOK_TRACE"):
                print(f"cosim: frame in, {len(frame)} bytes: {frame[:32].hex()}", flush=True)
            self.inbox.extend(_beats(frame))
        self.frames_in += len(frames)
        return len(frames)

    def report_sessions(self):
        sessions = int(self.dut.sessions.value)
        while self.sessions < sessions:
            self.sessions += 1
            print(f"cosim: command frame 0 again: host session {self.sessions + 1}, "
                  "the lane is reset", flush=True)

    def counters(self):
        drops = self.dut.drops.value.to_unsigned()
        return {reason.name.lower(): (drops >> (32 * reason)) & 0xFFFF_FFFF
                for reason in DropReason}


@cocotb.test()
async def serve_link(dut):
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)     # end with the launcher (PR_SET_PDEATHSIG)
    depth = int(os.environ["GATEBOOK_DEPTH"])
    mac = os.environ["GATEBOOK_COSIM_MAC"]
    Clock(dut.clk, 10, unit="ns").start()
    port = RawSocketPort(os.environ["GATEBOOK_COSIM_IFACE"], ETH_P_ALL)
    serve = _Serve(dut, port, float(os.environ.get("GATEBOOK_STALL", "0")),
                   int(os.environ.get("GATEBOOK_SEED", "0")))
    await serve.reset()
    serve.take(_settling_frame(mac))
    await serve.clock_until_idle(send=False)
    await serve.reset()
    serve.frames_in = 0
    deadline = time.monotonic() + float(os.environ["GATEBOOK_COSIM_SECONDS"])
    trace = bool(os.environ.get("GATEBOOK_TRACE"))
    print(f"cosim: serving on {port.iface} ({port.mac}): gateware endpoint, cocotb "
          f"{os.environ.get('SIM', 'icarus')}, depth {depth}", flush=True)
    try:
        while time.monotonic() < deadline:
            if serve.take(port.recv(64)):
                await serve.clock_until_idle()
                if trace:
                    print(f"cosim: {serve.frames_in} frames in, {serve.frames_out} out, "
                          f"{serve.cycles} clocks, drops {serve.counters()}", flush=True)
            else:                               # nothing to do: the simulated time stands still
                select.select([port], [], [], 0.05)
    finally:
        drops = {name: n for name, n in serve.counters().items() if n}
        print(f"cosim: {serve.sessions + 1} host sessions, {int(dut.frames.value):,} command "
              f"frames committed in the last, {serve.frames_in:,} frames in, "
              f"{serve.frames_out:,} out, {serve.cycles:,} clocks, dropped: {drops or 'none'}",
              flush=True)
        port.close()
