"""The Ethernet MAC (`gatebook.hdl.mac`) on Amaranth's simulator, against the plain-Python
frames of `gatebook.sim.mac.model` (zlib's CRC-32): the CRC, frames sent and received
back (padding, FCS, gap), and every kind of bad frame dropped, counted, and the good
frames around it unharmed. The RGMII pins, the clock-domain crossing under cocotbext-eth
and the lane behind the MAC: tests/test_sim_mac.py.
"""

import random
import zlib

import pytest
from amaranth.hdl import ClockDomain, Module
from amaranth.sim import Simulator

from gatebook.hdl.mac.crc import Crc32
from gatebook.hdl.mac.gmii import IFG_BYTES, MAX_FCS_FRAME, MIN_FRAME, MacDrop
from gatebook.hdl.mac.mac import EthernetMac
from gatebook.sim.mac.model import fcs, gmii_beats, payload_of, split_gmii, wire_frame

CORE, PHY = 8e-9, 8.1e-9            # the core's clock and the PHY's receive clock, a little slower


def _frame(rng, size):
    return bytes(rng.randrange(256) for _ in range(size))


class MacRun:
    """One simulation of an `EthernetMac`: GMII byte times into its receive pins, frames
    into its transmit side; what came out of each, and the counters."""

    def __init__(self, buffer=2048, ready=lambda clock: True, gap_at=None, max_frame=MAX_FCS_FRAME):
        self.mac = EthernetMac(buffer=buffer, max_frame=max_frame)
        self.ready, self.gap_at = ready, gap_at
        self.received, self.sent_beats, self.counters = [], [], {}

    def run(self, rx_beats=(), tx_frames=(), clocks=None):
        mac = self.mac
        m = Module()
        m.domains.rx = ClockDomain("rx")
        m.submodules.mac = mac
        sim = Simulator(m)
        sim.add_clock(CORE)
        sim.add_clock(PHY, domain="rx")
        total = clocks or (len(rx_beats) + sum(len(f) + 100 for f in tx_frames) + 200)

        async def phy(ctx):
            for byte, en, er in rx_beats:
                ctx.set(mac.rxd.as_value(), byte)
                ctx.set(mac.rx_ctl.as_value(), en | (en ^ er) << 1)
                await ctx.tick("rx")
            ctx.set(mac.rx_ctl.as_value(), 0)

        async def core(ctx):
            frame = bytearray()
            pending = [(byte, k == 0, k == len(f) - 1) for f in tx_frames for k, byte in enumerate(f)]
            for clock in range(total):
                ready = self.ready(clock)
                ctx.set(mac.o.ready, ready)
                offer = bool(pending) and clock != self.gap_at
                ctx.set(mac.i.valid, offer)
                if pending:
                    byte, first, last = pending[0]
                    ctx.set(mac.i.payload.data, byte)
                    ctx.set(mac.i.payload.first, first)
                    ctx.set(mac.i.payload.last, last)
                await ctx.delay(1e-10)                  # let the combinational outputs settle
                if offer and ctx.get(mac.i.ready):
                    pending.pop(0)
                if ready and ctx.get(mac.o.valid):
                    beat = ctx.get(mac.o.payload)
                    frame.append(beat.data)
                    if beat.last:
                        self.received.append((bytes(frame), bool(beat.error)))
                        frame = bytearray()
                txd, ctl = ctx.get(mac.txd.as_value()), ctx.get(mac.tx_ctl.as_value())
                en = ctl & 1
                self.sent_beats.append((txd, en, en ^ (ctl >> 1)))
                await ctx.tick()
            drops = ctx.get(mac.drops)
            self.counters = {reason: getattr(drops, reason.name.lower()) for reason in MacDrop}
            self.counters.update(rx_frames=ctx.get(mac.rx_frames), tx_frames=ctx.get(mac.tx_frames),
                                 underruns=ctx.get(mac.underruns))

        sim.add_testbench(phy, background=True)
        sim.add_testbench(core)
        sim.run()
        return self


def test_the_crc_is_zlibs_and_its_residue_marks_a_good_fcs():
    """Each frame alone gives zlib's CRC; with its FCS appended `match` is high, with the
    FCS spoiled by one bit it is low."""
    rng = random.Random(1)
    frames = [b"123456789", bytes(60), _frame(rng, 1), _frame(rng, 333)]
    spoiled = lambda frame: frame + bytes([fcs(frame)[0] ^ 0x10]) + fcs(frame)[1:]
    inputs = [(frame, "crc") for frame in frames] + [(frame + fcs(frame), "match") for frame in frames]
    inputs += [(spoiled(frame), "match") for frame in frames]
    got = []
    crc = Crc32()
    sim = Simulator(crc)
    sim.add_clock(CORE)

    async def bench(ctx):
        for data, output in inputs:
            for k, byte in enumerate(data):
                ctx.set(crc.start, k == 0)
                ctx.set(crc.valid, 1)
                ctx.set(crc.data, byte)
                await ctx.tick()
            ctx.set(crc.valid, 0)
            ctx.set(crc.start, 0)
            await ctx.tick()
            got.append(ctx.get(getattr(crc, output)))

    sim.add_testbench(bench)
    sim.run()
    n = len(frames)
    assert got[:n] == [zlib.crc32(frame) for frame in frames]
    assert got[0] == 0xCBF43926                     # CRC-32's check value
    assert got[n:] == [1] * n + [0] * n


# The default run sends frames up to 200 bytes; the long run adds the longest standard
# frame (1,514 bytes: most of the simulated clocks).
@pytest.mark.parametrize("longest", [200, pytest.param(MAX_FCS_FRAME - 4, marks=pytest.mark.long)])
def test_frames_sent_are_padded_checked_and_spaced_and_come_back_whole(longest):
    rng = random.Random(2)
    sizes = [14, MIN_FRAME - 1, MIN_FRAME, MIN_FRAME + 1, 200, longest]
    frames = [_frame(rng, size) for size in sizes]
    sent = MacRun().run(tx_frames=frames)
    wires = split_gmii(sent.sent_beats)
    assert [payload_of(wire) for wire, _, _ in wires] == [f.ljust(MIN_FRAME, b"\0") for f in frames]
    assert not any(error for _, error, _ in wires)
    assert all(gap >= IFG_BYTES for _, _, gap in wires[1:])
    assert sent.counters["tx_frames"] == len(frames) and sent.counters["underruns"] == 0

    # what the transmitter wrote, received: the same frames, FCS stripped, none flagged
    back = MacRun().run(rx_beats=gmii_beats([wire for wire, _, _ in wires]))
    assert back.received == [(f.ljust(MIN_FRAME, b"\0"), False) for f in frames]
    assert back.counters["rx_frames"] == len(frames)
    assert not any(back.counters[reason] for reason in MacDrop)


def _good(rng, k):
    return wire_frame(bytes([k]) * 6 + _frame(rng, 60 + k))


# The default run's MAC takes frames up to 128 bytes, so the oversized frame is short to
# simulate; the long run's takes the standard 1,518.
@pytest.mark.parametrize("max_frame", [128, pytest.param(MAX_FCS_FRAME, marks=pytest.mark.long)])
def test_bad_frames_are_dropped_counted_and_the_good_ones_around_them_pass(max_frame):
    rng = random.Random(3)
    goods = [_good(rng, k) for k in range(8)]
    bads = [
        (MacDrop.FCS, wire_frame(_frame(rng, 80), good_fcs=False)),
        (MacDrop.RUNT, wire_frame(_frame(rng, 40), pad=False)),          # good FCS, 44 bytes
        (MacDrop.RUNT, wire_frame(b"", pad=False)),                      # the FCS alone
        (MacDrop.OVERSIZE, wire_frame(_frame(rng, max_frame + 20))),
        (MacDrop.PREAMBLE, bytes([0x55, 0x55, 0x54]) + _good(rng, 9)[3:]),
        (MacDrop.PREAMBLE, bytes([0x55] * 7)),                           # no SFD
        (MacDrop.PHY_ERROR, _good(rng, 10)),                             # RX_ER inside, below
    ]
    wires, want_good = [], []
    for (reason, bad), good in zip(bads, goods):
        wires += [good, bad]
        want_good.append(payload_of(good))
    wires.append(goods[-1])
    want_good.append(payload_of(goods[-1]))
    phy_error = (2 * len(bads) - 1, 30)
    run = MacRun(max_frame=max_frame).run(rx_beats=gmii_beats(wires, error_at=phy_error))
    assert [frame for frame, error in run.received if not error] == want_good
    # bad frames either never came out or came out flagged (the endpoint drops those)
    flagged = [frame for frame, error in run.received if error]
    # the bad FCS, the 44-byte runt, the oversized and the RX_ER frame had begun to pass
    assert [len(frame) for frame in flagged] == [80, 40, max_frame - 4, 60 + 10 + 6]
    assert run.counters["rx_frames"] == len(want_good)
    want = {reason: 0 for reason in MacDrop}
    for reason, _ in bads:
        want[reason] += 1
    assert {reason: run.counters[reason] for reason in MacDrop} == want


def test_the_longest_frame_passes_and_one_byte_more_is_oversized():
    """At a 128-byte limit (the check is the same at 1518, which the long run's frames test
    passes and its bad-frames test exceeds): a frame of the limit passes, one byte more is
    cut off and flagged there."""
    rng = random.Random(4)
    limit = 128
    longest = _frame(rng, limit - 4)
    wires = [wire_frame(longest), wire_frame(_frame(rng, limit - 3)), wire_frame(longest)]
    run = MacRun(max_frame=limit).run(rx_beats=gmii_beats(wires))
    assert [(len(frame), error) for frame, error in run.received] == [
        (len(longest), False), (len(longest), True), (len(longest), False)]
    assert run.received[2][0] == longest
    assert run.counters[MacDrop.OVERSIZE] == 1 and run.counters["rx_frames"] == 2


def test_a_full_buffer_drops_frames_whole_and_counts_them():
    """The endpoint stops taking bytes for 400 clocks: the frames that do not fit the
    16-byte buffer are dropped (the one begun ends flagged), those after pass."""
    rng = random.Random(5)
    goods = [_good(rng, k) for k in range(6)]
    run = MacRun(buffer=16, ready=lambda clock: not 20 <= clock < 400).run(
        rx_beats=gmii_beats(goods))
    passed = [frame for frame, error in run.received if not error]
    dropped = run.counters[MacDrop.OVERFLOW]
    assert dropped >= 2
    assert run.counters["rx_frames"] == len(passed) == len(goods) - dropped
    assert all(frame in [payload_of(g) for g in goods] for frame in passed)
    assert passed[-1] == payload_of(goods[-1])
    assert all(error for frame, error in run.received if frame not in passed)


def test_a_byte_missing_mid_frame_spoils_that_frame_only():
    rng = random.Random(6)
    frames = [_frame(rng, 100), _frame(rng, 100)]
    run = MacRun(gap_at=60).run(tx_frames=frames)
    wires = split_gmii(run.sent_beats)
    assert [error for _, error, _ in wires] == [True, False]
    assert payload_of(wires[1][0]) == frames[1]
    with pytest.raises(ValueError):
        payload_of(wires[0][0])
    assert run.counters["underruns"] == 1 and run.counters["tx_frames"] == 1


def test_the_clocks_docs_hardware_quotes():
    """`python -m gatebook.sim.mac.cycles`' figures (docs/hardware.md, "The Ethernet MAC")."""
    from gatebook.sim.mac.cycles import latencies
    assert list(latencies().values()) == [11, 7, 2, 10, 5]
