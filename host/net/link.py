"""A hardware lane at the far end of an Ethernet link: `LaneLink` over packets.

# Ref: docs/hardware.md (record streams, punts, order), gatebook/wire/link_frame.py
#      (the framing), host/hybrid/link.py (the interface).

The hybrid host talks to every lane through `gatebook.host.hybrid.link.LaneLink`. The
in-process implementations run the lane's gateware in a simulator
(`gatebook.sim.hybrid`); `PacketLaneLink` ships the same records in Ethernet frames
through any port with `recv()`/`send()` of whole frames (a DPDK `Port`, or
`gatebook.dpdk_bridge.raw.RawSocketPort`) to whatever answers at the far end: an FPGA
NIC, or `gatebook.sim.cosim`'s bridge in front of a simulated lane. The host code above
it does not change.
"""

import time

from gatebook.wire import internal, link
from gatebook.wire import link_frame as lf
from gatebook.wire.codec import ProtocolCodec, RecordCodec, WireError
from gatebook.wire.ethernet import ETHERNET_HEADER, MIN_FRAME, MTU
from gatebook.wire.layout import Protocol

from ..hybrid.link import LaneLink, LinkError

__all__ = ["PacketLaneLink", "LinkError", "pack_frames", "unpack_frame", "COMMAND_CODEC",
           "EVENT_CODEC", "MTU"]

_HEADER = RecordCodec(lf.FRAME_HEADER, lf.LINK_FRAME.byte_order)
COMMAND_CODEC = ProtocolCodec(Protocol("link-commands", "little",
                                       internal.COMMANDS.messages + link.LINK_COMMANDS.messages))
EVENT_CODEC = ProtocolCodec(Protocol("link-events", "little",
                                     internal.EVENTS.messages + link.LINK_EVENTS.messages))
_ETH_HEADER = ETHERNET_HEADER.size
_ETHERTYPE = lf.ETHERTYPE.to_bytes(2, "big")
_SPINS, _NAP = 200, 50e-6       # empty polls before run() naps between polls


def _mac(text):
    return bytes.fromhex(text.replace(":", ""))


def pack_frames(dst_mac, src_mac, channel, first_seq, records, answered=0, mtu=MTU):
    """Ethernet frames carrying `records`, as many as fit an `mtu`-byte payload each.

    Frame k has frame_seq `first_seq + k`. The last frame carries `answered`,
    the frames before it `answered - 1`: an event frame says a command frame is
    answered only once everything it caused has been sent. No records still
    make one (empty) frame.
    """
    codec = COMMAND_CODEC if channel == lf.COMMANDS else EVENT_CODEC
    room = mtu - _HEADER.size
    prefix = _mac(dst_mac) + _mac(src_mac) + _ETHERTYPE
    bodies, body, size = [], [], 0
    for record in records:
        data = codec.encode(record)
        if body and size + len(data) > room:
            bodies.append(body)
            body, size = [], 0
        body.append(data)
        size += len(data)
    bodies.append(body)
    last = len(bodies) - 1
    return [prefix + _HEADER.encode((lf.MAGIC, lf.VERSION, channel, first_seq + k,
                                     answered if k == last else max(answered - 1, 0), len(part)))
            + b"".join(part) for k, part in enumerate(bodies)]


def unpack_frame(frame):
    """(channel, frame_seq, answered, records) of a link frame; WireError if it is not one.

    Reads the header's `count` records. Bytes after them are the MAC's padding
    in a frame shorter than Ethernet's minimum, and refused in a longer one.
    """
    if len(frame) < _ETH_HEADER + _HEADER.size or frame[12:14] != _ETHERTYPE:
        raise WireError("not a link frame")
    magic, version, channel, frame_seq, answered, count = _HEADER.decode(
        bytes(frame[_ETH_HEADER:_ETH_HEADER + _HEADER.size]))
    if magic != lf.MAGIC or version != lf.VERSION or channel not in (lf.COMMANDS, lf.EVENTS):
        raise WireError(f"link frame with magic {magic:#06x}, version {version}, channel {channel}")
    codec = COMMAND_CODEC if channel == lf.COMMANDS else EVENT_CODEC
    body = bytes(frame[_ETH_HEADER + _HEADER.size:])
    records, at = [], 0
    for _ in range(count):
        if at >= len(body):
            raise WireError(f"link frame says {count} records, holds {len(records)}")
        kind = codec.by_code.get(body[at])
        if kind is None:
            raise WireError(f"link frame record {len(records)}: unknown message type "
                            f"{body[at]:#04x}")
        if at + kind.size > len(body):
            raise WireError(f"link frame record {len(records)}: {kind.message.name} truncated: "
                            f"{len(body) - at} of {kind.size} bytes")
        records.append(kind.decode(body[at:at + kind.size]))
        at += kind.size
    if at < len(body) and len(frame) > MIN_FRAME:
        raise WireError(f"link frame says {count} records, holds {len(body) - at} bytes more")
    return channel, frame_seq, answered, records


class PacketLaneLink(LaneLink):
    """A lane at `peer_mac`, reached through `port`.

    Parameters
    ----------
    port : object with ``recv(n) -> frames``, ``send(frames) -> int``, ``mac``, ``close()``
        A DPDK `Port` or a `RawSocketPort`; frames of other kinds on it are
        counted in `ignored` and dropped.
    peer_mac : str
        The far end's MAC address.
    depth : int
        Orders per side the far lane's window holds (the host's LOAD limit).
    timeout : float
        Seconds `run()` waits for the far end to answer before `LinkError`.
    spins : int
        Empty polls before `run()` naps between polls: a lane in hardware answers
        within microseconds, so polling is right; a far end that shares this
        machine's cores (a simulated lane) needs the CPU the polls would take.

    A frame leaves as soon as `send` has queued an MTU's worth of records, so the
    lane works on a burst's first commands while the host still takes the rest;
    `run()` sends what is left, however little, and waits for the answers (the
    hybrid host runs the link when its window of commands in flight fills or when
    it waits for answers: the end of a burst, `HybridExchange.drain`).
    `round_trips` counts those waits, `records_sent` and `sent_frames` what left.
    """

    def __init__(self, port, peer_mac, depth, *, local_mac=None, timeout=10.0, spins=_SPINS):
        self.port, self.peer_mac, self.depth = port, peer_mac, depth
        self.local_mac = local_mac or port.mac
        self.timeout = timeout
        self.spins = spins
        self.sent_frames = 0            # command frames sent
        self.answered = 0               # command frames the far end has answered
        self.next_event_frame = 0
        self.ignored = 0
        self.records_sent = 0           # records in the command frames
        self.round_trips = 0            # run() calls that sent frames and waited for answers
        self._queued, self._queued_bytes = [], 0     # encoded records of the next frame
        self._room = MTU - _HEADER.size
        self._prefix = _mac(peer_mac) + _mac(self.local_mac) + _ETHERTYPE
        self._encode = COMMAND_CODEC.encode

    def send(self, records):
        encode, room = self._encode, self._room
        for record in records:
            data = encode(record)
            if self._queued and self._queued_bytes + len(data) > room:
                self._send_frame()      # a full frame need not wait for run()
            self._queued.append(data)
            self._queued_bytes += len(data)

    def _send_frame(self):
        """The queued records as one command frame, now (pack_frames' frame)."""
        queued = self._queued
        frame = self._prefix + _HEADER.encode((lf.MAGIC, lf.VERSION, lf.COMMANDS,
                                               self.sent_frames, 0, len(queued))) \
            + b"".join(queued)
        self.records_sent += len(queued)
        self._queued, self._queued_bytes = [], 0
        if self.port.send([frame]) != 1:
            raise LinkError("the port did not take a command frame")
        self.sent_frames += 1

    def run(self):
        """Send the queued records; return the lane's records once the far end
        has answered every command frame sent."""
        if self._queued:
            self._send_frame()
        if self.answered < self.sent_frames:
            self.round_trips += 1
        out, empty = [], 0
        deadline = time.monotonic() + self.timeout
        while self.answered < self.sent_frames:
            frames = self.port.recv(64)
            if not frames:
                empty += 1
                if empty > self.spins:
                    time.sleep(_NAP)        # a simulated lane is slow: leave it the CPU
                if time.monotonic() > deadline:
                    raise LinkError(f"the lane at {self.peer_mac} answered {self.answered} of "
                                    f"{self.sent_frames} command frames in {self.timeout} s")
                continue
            for frame in frames:
                self._take(frame, out)
        return out

    def _take(self, frame, out):
        try:
            channel, frame_seq, answered, records = unpack_frame(frame)
        except WireError:
            self.ignored += 1
            return
        if channel != lf.EVENTS:
            self.ignored += 1
            return
        if frame_seq != self.next_event_frame:
            raise LinkError(f"event frame {frame_seq} arrived, expected {self.next_event_frame}")
        if not self.answered <= answered <= self.sent_frames:
            raise LinkError(f"event frame {frame_seq} answers {answered} command frames; "
                            f"{self.answered} were answered, {self.sent_frames} sent")
        self.next_event_frame += 1
        self.answered = answered
        out.extend(records)

    def close(self):
        self.port.close()
