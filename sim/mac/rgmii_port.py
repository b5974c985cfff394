"""A port of whole frames over cocotbext-eth's RGMII models, for `PacketLaneLink`.

# Ref: gatebook/host/net/link.py (`PacketLaneLink` and the port it takes),
#      cocotbext-eth (`RgmiiSource`, `RgmiiSink`, `GmiiFrame`).

`RgmiiPort` has the `send(frames)` / `recv(n)` / `mac` / `close()` of a DPDK `Port`, so
the hybrid host talks through it to the MAC's pins unchanged. It runs in a cocotb
`bridge` thread: `send` rebuilds each frame with scapy (`gatebook.sim.mac.scapy_frames`,
which must give the same bytes) and queues it on the RGMII source (which adds preamble,
padding and FCS); `recv` clocks the simulation until the RGMII sink has frames, checks
each one's preamble and FCS, and hands over the frame without them. With `every` = N,
every Nth frame is preceded by a broken copy of it (each kind of `HOSTILE` in turn),
which the MAC must drop and count, leaving the real frame after it unharmed.
"""

import struct
import zlib
from collections import Counter

from cocotb.task import resume
from cocotbext.eth import GmiiFrame

from gatebook.hdl.mac.gmii import MAX_FCS_FRAME, PREAMBLE, PREAMBLE_BYTES, SFD, MacDrop
from gatebook.host.hybrid.link import LinkError
from gatebook.sim.endpoint.amaranth_port import HOST_MAC

from .scapy_frames import rebuild

__all__ = ["RgmiiPort", "HOSTILE", "broken"]


def _raw(payload):
    """Preamble, SFD, `payload` as it is (no padding), its FCS."""
    return GmiiFrame.from_raw_payload(payload + struct.pack("<L", zlib.crc32(payload)))


def broken(kind, frame):
    """A `GmiiFrame` made from `frame` that the MAC must drop under `kind`."""
    if kind is MacDrop.FCS:                     # the same frame, its FCS off by one bit
        good = GmiiFrame.from_payload(frame)
        good.data[-1] ^= 0x80
        return good
    if kind is MacDrop.RUNT:                    # cut to 40 bytes, with a good FCS for them
        return _raw(frame[:40])
    if kind is MacDrop.OVERSIZE:                # padded past 1518 bytes, FCS good
        return _raw(frame + bytes(MAX_FCS_FRAME - len(frame)))
    if kind is MacDrop.PHY_ERROR:               # RX_ER raised on byte 20 of a good frame
        good = GmiiFrame.from_payload(frame)
        good.error = [0] * len(good.data)
        good.error[20] = 1
        return good
    if kind is MacDrop.PREAMBLE:                # a preamble byte wrong
        good = GmiiFrame.from_payload(frame)
        good.data[3] = 0x5D
        return good
    raise ValueError(kind)


HOSTILE = (MacDrop.FCS, MacDrop.RUNT, MacDrop.OVERSIZE, MacDrop.PHY_ERROR, MacDrop.PREAMBLE)


class RgmiiPort:
    """Frames to and from the MAC's RGMII pins; call from a cocotb `bridge` thread.

    Parameters
    ----------
    dut : cocotb handle
        The bench top (its `clk` paces the waiting).
    source, sink : cocotbext.eth.RgmiiSource, RgmiiSink
        On the MAC's receive and transmit pins.
    every : int
        Precede every `every`th frame with a broken copy (0: none).
    wait : int
        Clocks `recv` waits for a frame before it returns none.
    """

    def __init__(self, dut, source, sink, *, every=0, wait=4000):
        self.dut, self.source, self.sink = dut, source, sink
        self.mac = HOST_MAC
        self.every, self.wait = every, wait
        self.injected = Counter()           # broken frames sent, by MacDrop
        self.sent = self.received = 0

    def send(self, frames):
        for frame in frames:
            scapy_built = rebuild(frame)
            if scapy_built != frame:
                raise LinkError(f"scapy builds {scapy_built.hex()}, the host packed {frame.hex()}")
            if self.every and self.sent % self.every == self.every - 1:
                kind = HOSTILE[sum(self.injected.values()) % len(HOSTILE)]
                self.injected[kind] += 1
                resume(self.source.send)(broken(kind, scapy_built))
            resume(self.source.send)(GmiiFrame.from_payload(scapy_built))
            self.sent += 1
        return len(frames)

    def recv(self, max_packets=64):
        return resume(self._recv)(max_packets)

    async def _recv(self, max_packets):
        if self.sink.empty():
            await self.sink.wait(timeout=8 * self.wait, timeout_unit="ns")
        frames = []
        while not self.sink.empty() and len(frames) < max_packets:
            frame = self.sink.recv_nowait()
            preamble = bytes(frame.get_preamble())
            if preamble != bytes([PREAMBLE] * PREAMBLE_BYTES + [SFD]) or frame.error:
                raise LinkError(f"frame from the MAC with preamble {preamble.hex()}, "
                                f"TX_ER {frame.error}")
            if not frame.check_fcs():
                raise LinkError(f"frame from the MAC with a bad FCS: {bytes(frame.data).hex()}")
            frames.append(bytes(frame.get_payload()))
        self.received += len(frames)
        return frames

    def close(self):
        pass
