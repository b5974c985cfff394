"""cocotb bench of the link endpoint's Verilog: the bad frames of the Amaranth tests, under
Icarus (or Verilator).

`test_endpoint(depth, sim)` converts `gatebook.hdl.link_endpoint.LaneEndpoint(depth)`, builds it in
`build/sim/endpoint_<sim>_d<depth>` and runs this module's cocotb test: a window is
loaded, every frame of `gatebook.sim.endpoint.frames.bad_frames` goes in (plus a bad FCS and a
frame cut off by the next one's first byte), then a good frame; with 25 % random
valid/ready stalls. Each drop must be counted under its reason, the frames out must hold
exactly what the lane alone writes for the good frames, and a frame numbered 0 again must
reset the lane. The same checks as tests/test_hdl_link_endpoint.py, on the Verilog.
"""

import os
from collections import Counter

import cocotb
from cocotb.clock import Clock

from gatebook.wire import internal, link
from gatebook.hdl.link_endpoint import DropReason
from gatebook.hdl.link_header import RX_BYTE
from gatebook.host.net.link import unpack_frame
from gatebook.sim.cosim.cocotb_endpoint import _beats, _Serve, _settling_frame
from gatebook.sim.endpoint.amaranth_port import ENDPOINT_MAC
from gatebook.sim.endpoint.frames import bad_frames, book, command_frames, lane_output

__all__ = ["test_endpoint"]

_ERROR = 1 << RX_BYTE["error"].offset


class _Collect:
    """A port that keeps what the endpoint sends and has nothing to receive."""

    def __init__(self):
        self.frames = []

    def send(self, frames):
        self.frames += frames
        return len(frames)

    def recv(self, max_packets=64):
        return []


@cocotb.test()
async def bad_frames_are_counted_and_never_reach_the_lane(dut):
    depth = int(os.environ["GATEBOOK_DEPTH"])
    Clock(dut.clk, 10, unit="ns").start()
    port = _Collect()
    serve = _Serve(dut, port, stall=0.25, seed=3)
    await serve.reset()
    serve.take(_settling_frame(ENDPOINT_MAC))
    await serve.clock_until_idle(send=False)
    await serve.reset()

    setup = book(depth)
    good, cases = bad_frames()
    serve.take(command_frames(setup))
    serve.take([frame for _, frame in cases])
    fcs = _beats(good)
    fcs[-1] |= _ERROR                           # the MAC found a bad FCS
    serve.inbox.extend(fcs)
    serve.inbox.extend(good[:40])               # cut off by the next frame's first byte
    serve.take([good])
    await serve.clock_until_idle()
    want = Counter(reason for reason, _ in cases)
    want[DropReason.FCS] += 1
    want[DropReason.TRUNCATED] += 1
    assert serve.counters() == {reason.name.lower(): want[reason] for reason in DropReason}
    out = [unpack_frame(frame) for frame in port.frames]
    assert [frame_seq for _, frame_seq, _, _ in out] == list(range(len(out)))
    assert out[-1][2] == 2 == int(dut.frames.value) == int(dut.answered.value)
    got = [r for *_, records in out for r in records]
    assert got == lane_output(depth, setup + unpack_frame(good)[3])

    # a frame numbered 0 again: a new host session, an empty lane that owns nothing
    cancel = (internal.CANCEL.code, 5, 0, 100, 1)
    port.frames.clear()
    serve.take(command_frames([cancel]))
    await serve.clock_until_idle()
    ((_, frame_seq, answered, records),) = [unpack_frame(frame) for frame in port.frames]
    assert (frame_seq, answered) == (0, 1) and int(dut.sessions.value) == 1
    assert records == lane_output(depth, [cancel]) and records[0][0] == link.PUNT.code


def test_endpoint(depth=4, sim="icarus"):
    """Build the endpoint's Verilog and run the bench; AssertionError naming the log if it fails."""
    from cocotb_tools.runner import get_results

    from gatebook.sim.cosim.endpoint import TOPLEVEL, endpoint_runner
    from gatebook.sim.runner import ROOT, require_simulator, run_bench
    require_simulator(sim)
    test_dir = ROOT / "build" / "sim" / f"endpoint_{sim}_d{depth}"
    runner = endpoint_runner(sim, depth, ENDPOINT_MAC)
    try:
        results = run_bench(runner, sim, TOPLEVEL, "gatebook.sim.endpoint.test_endpoint_cocotb",
                            test_dir, extra_env={"GATEBOOK_DEPTH": str(depth)})
        tests, failed = get_results(results)
    except SystemExit:
        tests, failed = 0, 1
    if failed or not tests:
        raise AssertionError(f"the endpoint bench ({sim}, depth {depth}) failed; see the "
                             f"cocotb log above and {test_dir}")
