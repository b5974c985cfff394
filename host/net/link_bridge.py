"""The far end of the packet link: frames in, a pipeline, frames out.

# Ref: gatebook/wire/link_frame.py, host/net/link.py.

`LinkBridge(port, pipeline)` reads command frames from `port` (a DPDK `Port`
or `dpdk_bridge.raw.RawSocketPort`), checks their numbering, hands each record
to `pipeline(record) -> events` and sends the events back, whole commands per
frame where they fit, to the MAC the commands came from. A co-simulation
passes a pipeline that drives the simulated gateware; `python -m
host.net.link_bridge --iface IF` serves the golden model, which the gateware is
verified against, as a stand-in.
"""

import argparse
import sys
import time

from gatebook.wire import internal
from gatebook.wire import link_frame as lf
from gatebook.wire.codec import WireError

from .link import LinkError, pack_frames, unpack_frame

__all__ = ["LinkBridge", "main"]

_INTERNAL = {message.code for message in internal.COMMANDS.messages}


class LinkBridge:
    """Serves one pipeline on one port."""

    def __init__(self, port, pipeline):
        self.port, self.pipeline = port, pipeline
        self.next_command_frame = 0
        self.sent_frames = 0
        self.commands = 0
        self.ignored = 0

    def poll(self):
        """Serve the frames waiting on the port; return how many were link commands."""
        served = 0
        for frame in self.port.recv(64):
            try:
                channel, frame_seq, _, records = unpack_frame(frame)
            except WireError:
                self.ignored += 1
                continue
            if channel != lf.COMMANDS:
                self.ignored += 1
                continue
            if frame_seq != self.next_command_frame:
                raise LinkError(f"command frame {frame_seq} arrived, expected "
                                f"{self.next_command_frame}")
            self.next_command_frame += 1
            groups = []
            for record in records:
                events = self.pipeline(record)
                if events:
                    groups.append((record[1], events))
            self.commands += len(records)
            if groups:
                peer = ":".join(f"{byte:02x}" for byte in frame[6:12])
                frames = pack_frames(peer, self.port.mac, lf.EVENTS, self.sent_frames, groups)
                self.sent_frames += len(frames)
                self.port.send(frames)
            served += 1
        return served


def golden_pipeline():
    """The golden model as a pipeline stand-in: internal commands only (it has
    no window to LOAD or OWN)."""
    from ..engine import MatchingEngine
    from ..symbols import DEFAULT_SYMBOLS
    engine = MatchingEngine(DEFAULT_SYMBOLS)
    return lambda record: engine.apply(record) if record[0] in _INTERNAL else []


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m host.net.link_bridge",
                                     description="Serve the golden model at the far end of a "
                                                 "packet link, on a kernel interface.")
    parser.add_argument("--iface", required=True)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args(argv)
    from dpdk_bridge.raw import RawSocketPort
    port = RawSocketPort(args.iface, lf.ETHERTYPE)
    bridge = LinkBridge(port, golden_pipeline())
    print(f"link_bridge: serving on {args.iface} ({port.mac})", flush=True)
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        if not bridge.poll():
            time.sleep(0.0002)
    print(f"link_bridge: {bridge.commands} commands, {bridge.sent_frames} event frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
