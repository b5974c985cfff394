"""The gateware end of the packet link, `gatebook.hdl.link_endpoint.LaneEndpoint`, on Amaranth's
simulator: frames from `gatebook.host.net.link.pack_frames` go in byte by byte, frames coming out
must parse with `unpack_frame` and keep the link's numbering and `answered` rules; bad
frames are dropped and counted by reason without reaching the lane; and the hybrid host
over `PacketLaneLink` through the endpoint is the golden engine, event for event and by
state hash.
"""

import pytest

from gatebook.wire import internal, link
from gatebook.wire import link_frame as lf
from gatebook.hdl.layouts import COMMAND, EVENT_PAIR
from gatebook.hdl.link_endpoint import DropReason
from gatebook.hdl.link_header import LINK_HEADER, MIN_FRAME, MTU, record_sizes
from gatebook.host.net import link as net_link
from gatebook.host.net.link import COMMAND_CODEC, EVENT_CODEC, PacketLaneLink, unpack_frame
from gatebook.sim.endpoint.amaranth_port import ENDPOINT_MAC, HOST_MAC, EndpointPort
from gatebook.sim.endpoint.frames import bad_frames, book, command_frames, lane_output, reclaim
from gatebook.sim.flows import SYMBOL, directed, eviction, hybrid_flow, window_pressure
from gatebook.sim.hybrid.amaranth_link import AmaranthLink
from gatebook.sim.hybrid.equivalence import check_equivalence

ROOM = MTU - lf.FRAME_HEADER.size
BIGGEST_EVENT = max(record_sizes(EVENT_PAIR.members["first"]).values())


def _check_numbering(frames, first_seq=0, answered_before=0):
    """Event frames: numbered on, to us, `answered` only grows, and a frame that does not
    announce a new answer is one closed because the next record did not fit."""
    records, answered = [], answered_before
    for index, frame in enumerate(frames):
        assert frame[:6] == bytes.fromhex(HOST_MAC.replace(":", ""))
        assert frame[6:12] == bytes.fromhex(ENDPOINT_MAC.replace(":", ""))
        assert len(frame) <= LINK_HEADER.size - lf.FRAME_HEADER.size + MTU
        channel, frame_seq, now, got = unpack_frame(frame)
        assert (channel, frame_seq) == (lf.EVENTS, first_seq + index)
        assert now >= answered
        if now == answered:
            assert len(frame) - LINK_HEADER.size > ROOM - BIGGEST_EVENT, "closed early"
        answered = now
        records += got
    return records, answered


def test_tables_and_header_positions():
    """The endpoint's header map and record sizes are the host's framing, byte for byte."""
    assert MTU == net_link.MTU
    frame = command_frames([], first_seq=0x01020304)[0]
    assert LINK_HEADER.size == len(frame)
    assert frame[LINK_HEADER.offset("ethertype"):][:2] == lf.ETHERTYPE.to_bytes(2, "big")
    assert frame[LINK_HEADER.offset("frame_seq"):][:4] == bytes([4, 3, 2, 1])
    assert frame[LINK_HEADER.offset("src"):][:6] == bytes.fromhex(HOST_MAC.replace(":", ""))
    commands = record_sizes(COMMAND)
    assert commands == {m.code: m.size for m in COMMAND_CODEC.protocol.messages}
    events = record_sizes(EVENT_PAIR.members["first"])
    assert all(events[m.code] == m.size for m in EVENT_CODEC.protocol.messages if m.code in events)


def test_frames_in_bytes_out_match_the_lane():
    """One session: the lane's output for each batch, in frames numbered and answered right."""
    depth = 4
    batches = [book(depth), hybrid_flow(3, 60, symbols=(SYMBOL,)), [], [reclaim()]]
    port = EndpointPort(depth, stall=0.3, seed=1)
    lane = AmaranthLink(depth)
    sent = event_frames = answered = 0
    try:
        for batch in batches:
            frames = command_frames(batch, sent)
            sent += port.send(frames)
            out = port.run_until_idle()
            records, answered = _check_numbering(out, event_frames, answered)
            event_frames += len(out)
            lane.send(batch)
            assert records == lane.run()
            assert answered == sent
        counters = port.counters()
    finally:
        port.close()
        lane.close()
    assert counters["frames"] == counters["answered"] == sent
    assert counters["sent"] == event_frames
    assert not any(counters[reason.name.lower()] for reason in DropReason)


def test_an_answer_longer_than_a_frame_spans_frames_and_only_the_last_answers():
    """A depth-16 window handed back is 32 FLUSH records, more than one frame holds."""
    depth = 16
    port = EndpointPort(depth, stall=0.2, seed=2)
    try:
        port.send(command_frames(book(depth)))
        first = port.run_until_idle()
        port.send(command_frames([reclaim()], 1))
        out = port.run_until_idle()
    finally:
        port.close()
    assert [unpack_frame(frame)[1:3] for frame in first] == [(0, 1)]
    records, answered = _check_numbering(out, 1, 1)
    assert [unpack_frame(frame)[2] for frame in out] == [1, 2]
    assert records == lane_output(depth, book(depth) + [reclaim()])
    assert [r[0] for r in records] == [link.FLUSH.code] * 2 * depth + [link.PUNT.code]


def test_bad_frames_are_counted_by_reason_and_never_reach_the_lane():
    depth = 4
    good, cases = bad_frames()
    port = EndpointPort(depth, stall=0.25, seed=3)
    want = {reason: 0 for reason in DropReason}
    setup = book(depth)
    try:
        port.send(command_frames(setup))
        for reason, frame in cases:
            port.send([frame])
            want[reason] += 1
        port.send([good], error=True)               # the MAC found a bad FCS
        want[DropReason.FCS] += 1
        # a frame cut off by the next frame's first byte (no `last`): truncated
        port.send_beats(list(good[:40]))
        want[DropReason.TRUNCATED] += 1
        port.send([good])                           # the endpoint still takes good frames
        out = port.run_until_idle()
        counters = port.counters()
    finally:
        port.close()
    records, answered = _check_numbering(out)
    assert answered == 2
    assert records == lane_output(depth, setup + unpack_frame(good)[3])
    assert {reason: counters[reason.name.lower()] for reason in DropReason} == want
    assert counters["frames"] == 2


def test_padding_to_the_minimum_frame_is_not_extra_records():
    """A MAC pads a short frame to 60 bytes; bytes after `count` records are padding there."""
    port = EndpointPort(2)
    own = [(link.OWN.code, SYMBOL, 0, 0, 0)]
    frame = command_frames(own)[0]
    assert len(frame) < MIN_FRAME
    try:
        port.send([frame + bytes(MIN_FRAME - len(frame))])
        port.send([command_frames(own, 1)[0] + bytes(MIN_FRAME + 1 - len(frame))])     # too long
        out = port.run_until_idle()
        counters = port.counters()
    finally:
        port.close()
    assert [unpack_frame(f)[1:] for f in out] == [(0, 1, [])]
    assert counters["count"] == 1 and counters["frames"] == 1


def test_a_frame_numbered_0_again_starts_a_new_session_with_a_reset_lane():
    depth = 2
    port = EndpointPort(depth, stall=0.2, seed=4)
    try:
        port.send(command_frames(book(depth)) + command_frames([], 1))
        before = port.run_until_idle()
        cancel = (internal.CANCEL.code, 5, 0, 100, 1)           # the window's best bid
        port.send(command_frames([cancel]))
        after = port.run_until_idle()
        counters = port.counters()
    finally:
        port.close()
    assert [unpack_frame(f)[1:3] for f in before] == [(0, 1), (1, 2)]
    ((channel, frame_seq, answered, records),) = [unpack_frame(f) for f in after]
    assert (frame_seq, answered) == (0, 1)
    # an empty lane owns nothing: the cancel is punted, not carried out
    assert records == lane_output(depth, [cancel])
    assert records[0][0] == link.PUNT.code
    assert counters["sessions"] == 1 and counters["frames"] == 1


def through_the_endpoint(stall, seed=0):
    """`make_link` for `check_equivalence`: PacketLaneLink over LaneEndpoint in the simulator."""
    def make(depth, index, vcd):
        port = EndpointPort(depth, stall=stall, seed=seed + index, vcd=vcd)
        return PacketLaneLink(port, ENDPOINT_MAC, depth, timeout=120)
    return make


@pytest.mark.parametrize("name", sorted(directed()))
def test_hybrid_directed_over_the_endpoint(name):
    commands = directed()[name]
    hybrid = check_equivalence(commands, through_the_endpoint(0.25), depths=[4], homes=[SYMBOL],
                               window=1, name=f"endpoint_{name}")
    assert hybrid.lane_commands


@pytest.mark.parametrize("name, flow", [("window_pressure", window_pressure), ("eviction", eviction)])
def test_hybrid_pressure_and_eviction_over_the_endpoint(name, flow):
    hybrid = check_equivalence(flow(4), through_the_endpoint(0.25, 4), depths=[4],
                               homes=[SYMBOL], window=1, name=f"endpoint_{name}")
    assert hybrid.lane_commands > len(flow(4)) // 2


def test_hybrid_adversarial_flow_over_the_endpoint():
    commands = hybrid_flow(11, 300, symbols=(SYMBOL, 3))
    hybrid = check_equivalence(commands, through_the_endpoint(0.25, 11), depths=[4],
                               homes=[SYMBOL], window=8, hash_every=100,
                               name="endpoint_adversarial")
    assert hybrid.lane_commands > len(commands) // 10
    assert hybrid.lanes[0].loads >= 3


def test_idle_stays_low_from_a_frames_first_byte_to_its_answer():
    """A server stops clocking on `idle`; it must not rise between a frame's last byte and
    the clock that commits it, nor before the answer is out."""
    port = EndpointPort(2)
    try:
        port.step(8)
        port.send(command_frames([(link.OWN.code, SYMBOL, 0, 0, 0)]))
        clocks = 0
        while not port.outbox:
            port.step(1)
            clocks += 1
            assert not port.idle, f"idle at clock {clocks} before the answer"
        while not port.idle:
            port.step(1)
    finally:
        port.close()
    assert [unpack_frame(f)[1:] for f in port.outbox] == [(0, 1, [])]


def test_the_clocks_docs_hardware_quotes():
    """`python -m gatebook.sim.endpoint.cycles 4`'s figures (docs/hardware.md, "The link endpoint")."""
    from gatebook.sim.endpoint.cycles import measure, scenarios
    got = {}
    for name, setup, records in scenarios():
        k = measure(4, setup, records)
        got[name.split(" (")[0]] = (k["last_in"] - k["first_in"] + 1, k["lane_takes"] - k["last_in"],
                                   k["first_out"] - k["last_in"], k["last_out"] - k["first_in"] + 1)
    assert got == {"OWN": (44, 2, 5, 76), "resting add": (75, 2, 18, 202),
                   "crossing order, one fill": (75, 2, 35, 323),
                   "16 ×": (1229, 2, 236, 4140)}
