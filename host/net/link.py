"""The host <-> matching-pipeline link: one interface, in-process or over packets.

# Ref: docs/hardware.md (record streams, punts, order), gatebook/wire/link_frame.py
#      (the Ethernet framing).

A link takes command records (internal commands and LOAD/OWN/HOST) and gives
back, per command, the event records the pipeline wrote for it, in command
order. Two implementations:

- `InProcessLink(pipeline)`: calls `pipeline(record) -> events` directly; the
  pipeline is the golden model, an Amaranth simulation or a cocotb driver;
- `PacketLink(port, peer_mac)`: ships records in Ethernet frames through any
  port with `recv()`/`send()` of frames (a DPDK `Port`, or
  `dpdk_bridge.raw.RawSocketPort`) to whatever answers at the far end (an FPGA
  NIC, or `host.net.link_bridge.LinkBridge` in front of a simulation).

`LinkEngine(link)` makes either one look like `MatchingEngine` (`apply`), so the
exchange code never learns which one runs.
"""

import time

from gatebook.wire import internal, link
from gatebook.wire import link_frame as lf
from gatebook.wire.codec import ProtocolCodec, RecordCodec, WireError
from gatebook.wire.layout import Protocol

__all__ = ["LinkError", "InProcessLink", "PacketLink", "LinkEngine", "pack_frames",
           "unpack_frame", "COMMAND_CODEC", "EVENT_CODEC"]

_HEADER = RecordCodec(lf.FRAME_HEADER, lf.LINK_FRAME.byte_order)
COMMAND_CODEC = ProtocolCodec(Protocol("link-commands", "little",
                                       internal.COMMANDS.messages + link.LINK_COMMANDS.messages))
EVENT_CODEC = ProtocolCodec(Protocol("link-events", "little",
                                     internal.EVENTS.messages + link.LINK_EVENTS.messages))
_ETH_HEADER = 14
MTU = 1500


class LinkError(RuntimeError):
    """The link lost, repeated or garbled a frame, or the far end went quiet."""


def _mac(text):
    return bytes.fromhex(text.replace(":", ""))


def pack_frames(dst_mac, src_mac, channel, first_seq, groups, mtu=MTU):
    """Ethernet frames for `groups`, a list of (done_seq, [records]) whose records
    stay together where they fit one frame. Returns the frames; frame k has
    frame_seq `first_seq + k` and the done_seq of the last group it finishes."""
    codec = COMMAND_CODEC if channel == lf.COMMANDS else EVENT_CODEC
    room = mtu - _HEADER.size
    frames, body, count, done = [], [], 0, 0
    prefix = _mac(dst_mac) + _mac(src_mac) + lf.ETHERTYPE.to_bytes(2, "big")

    def flush():
        nonlocal body, count
        header = _HEADER.encode((lf.MAGIC, lf.VERSION, channel, first_seq + len(frames),
                                 done, count))
        frames.append(prefix + header + b"".join(body))
        body, count = [], 0

    size = 0
    for done_seq, records in groups:
        encoded = [codec.encode(record) for record in records]
        whole = sum(map(len, encoded))
        if body and size + whole > room:          # keep a group in one frame if it can be
            flush()
            size = 0
        for data in encoded:
            if size + len(data) > room:
                flush()
                size = 0
            body.append(data)
            size += len(data)
            count += 1
        done = done_seq
    if body or not frames:
        flush()
    return frames


def unpack_frame(frame):
    """(channel, frame_seq, done_seq, records) of a link frame; WireError if it is not one."""
    if len(frame) < _ETH_HEADER + _HEADER.size or frame[12:14] != lf.ETHERTYPE.to_bytes(2, "big"):
        raise WireError("not a link frame")
    magic, version, channel, frame_seq, done_seq, count = _HEADER.decode(
        bytes(frame[_ETH_HEADER:_ETH_HEADER + _HEADER.size]))
    if magic != lf.MAGIC or version != lf.VERSION or channel not in (lf.COMMANDS, lf.EVENTS):
        raise WireError(f"link frame with magic {magic:#06x}, version {version}, channel {channel}")
    codec = COMMAND_CODEC if channel == lf.COMMANDS else EVENT_CODEC
    records = list(codec.decode_stream(bytes(frame[_ETH_HEADER + _HEADER.size:])))
    if len(records) != count:
        raise WireError(f"link frame says {count} records, holds {len(records)}")
    return channel, frame_seq, done_seq, records


class InProcessLink:
    """The pipeline called in this process: `pipeline(record) -> list of events`."""

    def __init__(self, pipeline):
        self.pipeline = pipeline
        self._done = []

    def send(self, commands):
        for command in commands:
            events = self.pipeline(command)
            if events:
                self._done.append((command[1], events))

    def receive(self):
        done, self._done = self._done, []
        return done

    def close(self):
        pass


class PacketLink:
    """Records in Ethernet frames through `port` to the pipeline at `peer_mac`."""

    def __init__(self, port, peer_mac, local_mac=None):
        self.port, self.peer_mac = port, peer_mac
        self.local_mac = local_mac or port.mac
        self.sent_frames = 0
        self.next_event_frame = 0
        self._pending = []            # event records of commands not yet complete
        self.ignored = 0              # frames on the port that are not link events

    def send(self, commands):
        frames = pack_frames(self.peer_mac, self.local_mac, lf.COMMANDS, self.sent_frames,
                             [(0, list(commands))])
        self.sent_frames += len(frames)
        sent = self.port.send(frames)
        if sent != len(frames):
            raise LinkError(f"the port took {sent} of {len(frames)} command frames")

    def receive(self):
        """(seq, events) of every command completed since the last call."""
        done = []
        for frame in self.port.recv(64):
            try:
                channel, frame_seq, done_seq, records = unpack_frame(frame)
            except WireError:
                self.ignored += 1
                continue
            if channel != lf.EVENTS:
                self.ignored += 1
                continue
            if frame_seq != self.next_event_frame:
                raise LinkError(f"event frame {frame_seq} arrived, expected {self.next_event_frame}")
            self.next_event_frame += 1
            self._pending += records
            if done_seq:
                keep = [record for record in self._pending if record[1] > done_seq]
                ready = self._pending[:len(self._pending) - len(keep)]
                self._pending = keep
                for record in ready:
                    if done and done[-1][0] == record[1]:
                        done[-1][1].append(record)
                    else:
                        done.append((record[1], [record]))
        return done

    def close(self):
        self.port.close()


class LinkEngine:
    """`apply(command) -> events` over a link, like `MatchingEngine.apply`."""

    def __init__(self, link, timeout=5.0):
        self.link, self.timeout = link, timeout
        self._early = {}

    def apply(self, command):
        return self.apply_many([command])[0]

    def apply_many(self, commands):
        """Send `commands` at once (pipelined); their event lists, in order."""
        self.link.send(commands)
        wanted = [command[1] for command in commands]
        deadline = time.monotonic() + self.timeout
        while not all(seq in self._early for seq in wanted):
            for seq, events in self.link.receive():
                self._early[seq] = events
            if time.monotonic() > deadline:
                missing = [seq for seq in wanted if seq not in self._early]
                raise LinkError(f"no events for commands {missing[:5]} after {self.timeout} s")
        return [self._early.pop(seq) for seq in wanted]
