"""The far end of the packet link: command frames in, a simulated lane, event frames out.

# Ref: gatebook/wire/link_frame.py (the framing), host/net/link.py (the host's
#      end, `PacketLaneLink`), docs/hardware.md (the lane's record streams).

`LaneBridge(port, make_lane)` does what an FPGA NIC's link logic would: it reads
command frames from `port` (a `gatebook.dpdk_bridge.raw.RawSocketPort` on a tap or
veth, or a DPDK `Port`), checks their numbering, feeds their records to the
lane's input stream in order, lets the lane run until it has taken all of
them and gone quiet, and sends what the lane wrote back to the MAC the
commands came from, with the event frame's `answered` counting that command
frame. The lane is any in-process `LaneLink` that `make_lane()` builds: the
lane's Verilog under cocotb (`gatebook.sim.hybrid.cocotb_link`), a compiled Verilator
harness or Amaranth's simulator (`gatebook.sim.hybrid`). The bridge reads no record's
meaning: the host runs the protocol.

A command frame numbered 0 after others starts a new host session (a host
that restarted): the bridge makes a fresh lane, empty and reset, as an FPGA
would be reset, and numbers its event frames from 0 again.
"""

from gatebook.wire import link_frame as lf
from gatebook.wire.codec import WireError
from gatebook.host.net.link import LinkError, pack_frames, unpack_frame

__all__ = ["LaneBridge"]


class LaneBridge:
    """Serves one lane on one port."""

    def __init__(self, port, make_lane):
        self.port, self.make_lane = port, make_lane
        self.lane = make_lane()
        self.sessions = 1
        self.next_command_frame = 0
        self.sent_frames = 0
        self.records_in = 0
        self.records_out = 0
        self.ignored = 0                # frames on the port that are not link commands

    def poll(self, burst=64):
        """Serve the command frames waiting on the port; return how many there were."""
        served = 0
        for frame in self.port.recv(burst):
            try:
                channel, frame_seq, _, records = unpack_frame(frame)
            except WireError:
                self.ignored += 1
                continue
            if channel != lf.COMMANDS:
                self.ignored += 1
                continue
            if frame_seq == 0 and self.next_command_frame:
                self._new_session()
            if frame_seq != self.next_command_frame:
                raise LinkError(f"command frame {frame_seq} arrived, expected "
                                f"{self.next_command_frame}")
            self.next_command_frame += 1
            self.lane.send(records)
            written = self.lane.run()
            self.records_in += len(records)
            self.records_out += len(written)
            peer = ":".join(f"{byte:02x}" for byte in frame[6:12])
            frames = pack_frames(peer, self.port.mac, lf.EVENTS, self.sent_frames, written,
                                 answered=self.next_command_frame)
            self.sent_frames += len(frames)
            if self.port.send(frames) != len(frames):
                raise LinkError(f"the port did not take {len(frames)} event frames")
            served += 1
        return served

    def _new_session(self):
        self.lane.close()
        self.lane = self.make_lane()
        self.sessions += 1
        self.next_command_frame = self.sent_frames = 0
        print(f"cosim: command frame 0 again: host session {self.sessions}, the lane is reset",
              flush=True)

    def close(self):
        self.lane.close()
