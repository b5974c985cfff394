"""The host <-> pipeline packet link: frames, `PacketLaneLink`, and the simulated lane
at the far end (`python -m gatebook.sim.cosim`), up to the whole path

    scapy order -> DPDK port -> host -> link -> simulated pipeline -> host
    -> DPDK port -> execution report.

The far end runs in a test network namespace behind a veth pair: the lane's
Verilog under cocotb (Icarus) where one order's path is checked, the same
Verilog as a compiled Verilator harness where long flows are checked against
the golden engine, event for event and by state hash.
"""

import itertools
import os
import subprocess
import sys
import textwrap
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatebook.dpdk_bridge import dpdk_available
from gatebook.wire import internal
from gatebook.wire import link_frame as lf
from gatebook.wire.codec import WireError
from gatebook.wire.ethernet import ETHERNET_HEADER, MIN_FRAME
from gatebook.host.engine import MatchingEngine
from gatebook.host.flow import generate_flow
from gatebook.host.net.link import (COMMAND_CODEC, EVENT_CODEC, LinkError, PacketLaneLink, pack_frames,
                           unpack_frame)
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.sim.flows import SYMBOL, eviction, hybrid_flow, window_pressure
from gatebook.sim.cosim.netns import FarEnd as _FarEnd
from gatebook.sim.cosim.netns import link_namespace, why_no_namespaces
from gatebook.sim.hybrid.equivalence import run_hybrid

from test_dpdk_netns import _serve_until_done  # noqa: E402 (tests/ is on sys.path)
from ouch_login import FlowClient, accounts, write_accounts  # noqa: E402

_available, _why = dpdk_available()
needs_dpdk = pytest.mark.skipif(not _available, reason=f"DPDK unavailable: {_why}")
_names = itertools.count(300)
_TAG = f"{os.getpid() % 100000}"
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
A, B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
_ETHERNET, _HEADER = ETHERNET_HEADER.size, lf.FRAME_HEADER.size
_GATE = next(spec for spec in DEFAULT_SYMBOLS if spec.name == "GATE").symbol_id


def _events(flow):
    engine = MatchingEngine(DEFAULT_SYMBOLS)
    return [event for command in flow for event in engine.apply(command)]


def test_frames_round_trip_and_only_the_last_answers():
    events = _events(generate_flow(400, seed=2))
    frames = pack_frames(B, A, lf.EVENTS, 7, events, answered=3)
    assert len(frames) > 5 and all(len(frame) <= 14 + 1500 for frame in frames)
    records = []
    for index, frame in enumerate(frames):
        channel, frame_seq, answered, got = unpack_frame(frame)
        assert (channel, frame_seq) == (lf.EVENTS, 7 + index)
        assert answered == (3 if index == len(frames) - 1 else 2)
        records += got
    assert records == events
    flow = generate_flow(50, seed=3)
    assert [r for f in pack_frames(A, B, lf.COMMANDS, 0, flow) for r in unpack_frame(f)[3]] == flow
    (empty,) = pack_frames(B, A, lf.EVENTS, 0, [], answered=1)
    assert unpack_frame(empty) == (lf.EVENTS, 0, 1, [])
    # a MAC pads a short frame to Ethernet's minimum; the padding is not a record
    assert unpack_frame(empty.ljust(MIN_FRAME, b"\x00")) == (lf.EVENTS, 0, 1, [])
    cancel = [next(command for command in flow if command[0] == internal.CANCEL.code)]
    (short,) = pack_frames(B, A, lf.COMMANDS, 0, cancel)
    assert len(short) < MIN_FRAME and unpack_frame(short.ljust(MIN_FRAME, b"\x00"))[3] == cancel


def test_garbled_frames_are_refused():
    frame = pack_frames(B, A, lf.COMMANDS, 0, generate_flow(3))[0]
    with pytest.raises(WireError, match="not a link frame"):
        unpack_frame(frame[:12] + b"\x08\x00" + frame[14:])
    with pytest.raises(WireError, match="magic"):
        unpack_frame(frame[:14] + b"XX" + frame[16:])
    with pytest.raises(WireError, match="truncated|says"):
        unpack_frame(frame[:-1])


_FUZZ = settings(derandomize=True, database=None, deadline=None, max_examples=300)


@_FUZZ
@given(data=st.binary(max_size=200))
def test_random_bytes_are_a_frame_or_a_wire_error(data):
    _unpack_or_refuse(data)


@_FUZZ
@given(which=st.integers(0, 10 ** 6), at=st.integers(0, 10 ** 6), byte=st.integers(0, 255),
       cut=st.integers(0, 10 ** 6))
def test_mutated_and_truncated_frames_are_frames_or_wire_errors(which, at, byte, cut):
    frames = pack_frames(B, A, lf.COMMANDS, 0, generate_flow(60, seed=4))
    frame = bytearray(frames[which % len(frames)])
    frame[at % len(frame)] = byte
    _unpack_or_refuse(bytes(frame))
    _unpack_or_refuse(bytes(frame[:cut % len(frame)]))


def _unpack_or_refuse(data):
    try:
        channel, frame_seq, answered, records = unpack_frame(data)
    except WireError as error:
        assert str(error)
        return
    codec = COMMAND_CODEC if channel == lf.COMMANDS else EVENT_CODEC
    body = b"".join(codec.encode(record) for record in records)
    assert data[_ETHERNET + _HEADER:].startswith(body)
    assert len(data) <= MIN_FRAME or len(data) == _ETHERNET + _HEADER + len(body)   # or padding


@pytest.fixture(scope="module")
def eal():
    from gatebook.dpdk_bridge.eal import Eal
    return Eal.start()


@needs_dpdk
def test_packet_lane_link_refuses_lost_frames_and_a_silent_lane(eal):
    port = eal.attach(f"net_ring{next(_names)}")           # hands our frames back to us
    lane = PacketLaneLink(port, B, 4, local_mac=A, timeout=0.3)
    try:
        lane.send(generate_flow(3))
        with pytest.raises(LinkError, match="answered 0 of 1 command frames in 0.3 s"):
            lane.run()                                     # only our own frames came back
        assert lane.ignored == 1
        events = _events(generate_flow(2))
        port.send(pack_frames(A, B, lf.EVENTS, 0, events, answered=1))
        assert lane.run() == events
        port.send(pack_frames(A, B, lf.EVENTS, 5, [], answered=1))
        lane.send(generate_flow(1))
        with pytest.raises(LinkError, match="event frame 5 arrived, expected 1"):
            lane.run()
    finally:
        port.close()


@needs_dpdk
def test_the_bridge_ignores_what_is_not_a_command_frame_and_refuses_a_gap(eal):
    from gatebook.sim.cosim.bridge import LaneBridge
    from gatebook.sim.hybrid.amaranth_link import AmaranthLink
    port = eal.attach(f"net_ring{next(_names)}")           # hands the bridge's frames back
    bridge = LaneBridge(port, lambda: AmaranthLink(4))
    try:
        garbage = [b"", b"\x00" * 60, bytes(range(256)) * 4,
                   pack_frames(B, A, lf.COMMANDS, 0, generate_flow(2))[0][:-3]]
        port.send([frame.ljust(60, b"\x00") if frame else b"\x00" * 60 for frame in garbage])
        assert bridge.poll() == 0 and bridge.ignored == len(garbage)
        # a whole frame of records the lane cannot own yet (no LOAD/OWN): it punts them all
        port.send(pack_frames(A, B, lf.COMMANDS, 0, generate_flow(3)))
        assert bridge.poll() == 1 and bridge.records_in == 3 and bridge.records_out == 3
        assert bridge.poll() == 0 and bridge.ignored == len(garbage) + 1   # its own answer
        port.send(pack_frames(A, B, lf.COMMANDS, 5, generate_flow(1)))
        with pytest.raises(LinkError, match="command frame 5 arrived, expected 1"):
            bridge.poll()
    finally:
        bridge.close()
        port.close()


@pytest.fixture
def link_netns():
    """Two veth pairs into a test namespace: orders (IPv4) and the link (frames only)."""
    why = why_no_namespaces()
    if why:
        pytest.skip(why)
    with link_namespace(_TAG) as made:
        yield made


@needs_dpdk
@pytest.mark.parametrize("sim, commands", [
    # The default run uses the Verilator harness only when the build cache holds it (a
    # build takes a minute); the long run builds it if it must.
    ("harness", 3000), pytest.param("harness-built-here", 3000, marks=pytest.mark.long),
    ("icarus", 400), pytest.param("icarus", 1000, marks=pytest.mark.long)])
def test_hybrid_host_over_dpdk_and_a_simulated_lane_is_the_golden_engine(eal, link_netns, sim,
                                                                          commands):
    from gatebook.sim.hybrid.verilator_link import built_harness, verilator_available
    from gatebook.sim.runner import require_simulator
    if sim == "icarus":
        require_simulator(sim)
    elif not verilator_available():
        pytest.skip("Verilator or a C++ compiler is not installed")
    elif sim == "harness" and built_harness(4) is None:
        pytest.skip("no current d4 Verilator harness in the build cache (pytest --run-long "
                    "tests/test_dpdk_link.py builds it)")
    sim = sim.removesuffix("-built-here")
    ns, pairs = link_netns
    out = flows_against_golden(eal, link_netns, _FarEnd(ns, pairs[1][1], sim, stall=0.2),
                               commands)
    assert out.count("the lane is reset") == 2, out


FLOWS = ("window_pressure", "eviction", "adversarial")


def flows_against_golden(eal, link_netns, far, commands, timeout=10.0, flows=FLOWS):
    """Window pressure, eviction and a seeded adversarial flow of `commands` (those of
    them named in `flows`) through the hybrid host and the lane at `far`, each a new host
    session, against the golden engine; returns what the far end printed."""
    _, pairs = link_netns

    def make_link(depth, index, vcd):          # a new host session: the far end resets its lane
        port = eal.attach(f"net_af_packet{next(_names)},iface={pairs[1][0]}")
        return PacketLaneLink(port, far.mac, depth, timeout=timeout)

    try:
        for name, flow, window in [("window_pressure", window_pressure(4), 1),
                                   ("eviction", eviction(4), 1),
                                   ("adversarial", hybrid_flow(11, commands, symbols=(SYMBOL, 3)),
                                    8)]:
            if name not in flows:
                continue
            hybrid = run_hybrid(flow, make_link, depths=[4], homes=[SYMBOL], window=window,
                                hash_every=250)
            assert hybrid.lane_commands > len(flow) // 10, name     # the lane did match
    finally:
        out = far.stop()
    return out


_CLIENT = textwrap.dedent("""
    import socket
    from gatebook.host.net.scapy_layers import (EnterOrder, Executed, LoginAccepted, LoginRequest,
                                       OuchInbound, OuchOutbound)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("198.18.1.2", 40001))
    sock.settimeout(30)
    sock.sendto(bytes(OuchInbound(session=0, sequence_number=0)
                      / LoginRequest(username="user4", password="pw4")), ("198.18.1.1", 15000))
    session = OuchOutbound(sock.recv(2048))[LoginAccepted].session
    for seq, (token, side) in enumerate([(1, "SELL"), (2, "BUY")], 1):
        order = OuchInbound(session=session, sequence_number=seq) / EnterOrder(
            order_token=token, stock="GATE", side=side, shares=100, price=1_000_000)
        sock.sendto(bytes(order), ("198.18.1.1", 15000))
    reports = []
    while len(reports) < 2:
        reply = OuchOutbound(sock.recv(2048))
        layer = reply
        while layer:
            if isinstance(layer, Executed):
                reports.append((layer.order_token, layer.executed_shares, layer.execution_price,
                                layer.liquidity_flag.decode(), layer.leaves_shares))
            layer = layer.payload if layer.payload else None
    print(sorted(reports))
""")


def whole_path_through(eal, link_netns, far):
    """A scapy order pair from a client in the namespace through DPDK, the gateway and the
    hybrid host to the lane at `far` and back as execution reports; checks what the
    client and the host saw, returns what the far end printed."""
    from gatebook.dpdk_bridge.udp import DpdkUdp
    from gatebook.host.clock import ManualClock
    from gatebook.host.hybrid import HybridExchange
    from gatebook.host.ouch import ouch_exchange
    ns, pairs = link_netns
    orders = DpdkUdp(eal.attach(f"net_af_packet{next(_names)},iface={pairs[0][0]}"),
                     "198.18.1.1", 15000)
    link_port = eal.attach(f"net_af_packet{next(_names)},iface={pairs[1][0]}")
    hybrid = HybridExchange(DEFAULT_SYMBOLS, [PacketLaneLink(link_port, far.mac, 4)], [_GATE])
    exchange = ouch_exchange(orders, DEFAULT_SYMBOLS, ManualClock(1_700_000_000_000_000_000, 1000),
                             engine=hybrid, accounts=accounts((4,)))
    client = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", _CLIENT],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=_REPO)
    try:
        out, err = _serve_until_done(exchange, client, seconds=60)
    finally:
        if client.poll() is None:
            client.kill()
        orders.close()
        hybrid.close()
        far_out = far.stop()
    assert client.returncode == 0, err + far_out
    # token 1 rested (adds liquidity), token 2 took it; both see the fill at the resting price
    assert out.strip() == "[(1, 100, 1000000, 'A', 0), (2, 100, 1000000, 'R', 0)]"
    assert exchange.entry.gateway.messages == 2
    # the gateware matched them: both orders went down the link, the host only loaded the symbol
    assert hybrid.lane_commands == 2 and hybrid.lanes[0].loads == 1
    return far_out


@needs_dpdk
def test_scapy_order_through_dpdk_host_link_cocotb_pipeline_and_back(eal, link_netns):
    from gatebook.sim.runner import require_simulator
    require_simulator("icarus")
    ns, pairs = link_netns
    far_out = whole_path_through(eal, link_netns, _FarEnd(ns, pairs[1][1], "icarus"))
    assert "serving on" in far_out and "cocotb icarus, depth 4" in far_out


def _messages(datagrams):
    from gatebook.host.ouch.framing import OUTBOUND_CODEC, decode_datagram
    return sum(len(decode_datagram(payload, OUTBOUND_CODEC)[2]) for payload, _ in datagrams)


def _run_cli(far, iface, script, messages, accounts_file, extra=()):
    """`gatebook run` with its lane at `far`, sent `script` (its users logged in first);
    (stdout, replies) once it has answered `messages` order-entry messages and stopped."""
    from gatebook.dpdk_bridge.udp import SocketUdp
    from gatebook.host.ouch.inject import script_datagrams
    with SocketUdp() as probe:
        port = probe.address[1]
    orders = len(script.splitlines())
    server = subprocess.Popen([sys.executable, "-m", "gatebook.cli", "run", "--listen",
                               f"127.0.0.1:{port}", "--md", "none", "--max-orders", str(orders),
                               "--seconds", "30", "--link-iface", iface, "--link-peer", far.mac,
                               "--accounts", accounts_file, *extra],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=_REPO)
    try:
        opening = []
        for line in server.stdout:
            opening.append(line)
            if "matching:" in line:
                break
        assert f"matching: pipeline at {far.mac} via {iface} (depth 4, home GATE)" in line
        with SocketUdp() as client:
            datagrams = script_datagrams(script)
            FlowClient(client, ("127.0.0.1", port), (user for user, _ in datagrams)).send(
                datagrams)
            replies, deadline = [], time.monotonic() + 20
            # replies to one session in one burst share a datagram: count messages
            while _messages(replies) < messages and time.monotonic() < deadline:
                replies += client.recv()
                time.sleep(0.01)
        out, err = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.terminate()
            server.communicate(timeout=10)
    assert server.returncode == 0, err
    return "".join(opening) + out, replies


def test_cli_run_matches_through_a_kernel_link(link_netns, tmp_path):
    ns, pairs = link_netns
    far = _FarEnd(ns, pairs[1][1], "amaranth")
    try:
        out, replies = _run_cli(far, pairs[1][0], (
            "5 enter_order order_token=1 stock=GATE side=SELL shares=10 price=100.00\n"
            "6 enter_order order_token=1 stock=GATE side=BUY shares=10 price=100.00\n"), 4,
            write_accounts(tmp_path / "accounts.json", (5, 6)))
    finally:
        far.stop()
    # accepted and executed to each side
    assert _messages(replies) == 4 and "2 orders" in out
    assert "pipeline matched 2 commands; 1 loads" in out


def test_cli_run_logs_what_the_lane_matched_and_recovers_it(link_netns, tmp_path):
    ns, pairs = link_netns
    far = _FarEnd(ns, pairs[1][1], "amaranth")
    log = ["--log", str(tmp_path / "log"), "--durability", "batched"]
    try:
        first, replies = _run_cli(far, pairs[1][0], (
            "5 enter_order order_token=1 stock=GATE side=SELL shares=10 price=100.00\n"
            "5 enter_order order_token=2 stock=GATE side=SELL shares=5 price=101.00\n"), 2,
            write_accounts(tmp_path / "accounts.json", (5, 6)), log)
        assert "run: new log in" in first and "pipeline matched 2 commands" in first
        # a new host session: the far end resets its lane, the host recovers both sells
        # from its log and loads them back into the lane, where the buy takes one
        second, replies = _run_cli(far, pairs[1][0], (
            "6 enter_order order_token=1 stock=GATE side=BUY shares=10 price=100.00\n"), 2,
            str(tmp_path / "accounts.json"), log)
    finally:
        far_out = far.stop()
    assert "run: recovered" in second and "last seq 2" in second
    assert "pipeline matched 1 commands; 1 loads" in second
    assert _messages(replies) == 2                    # the buyer's accepted and executed
    assert "the lane is reset" in far_out
