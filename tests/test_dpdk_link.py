"""The host <-> pipeline link: frames, the in-process link, and the packet link
over DPDK to a far end in a test network namespace, including the whole path
scapy order -> DPDK port -> host -> link -> pipeline -> host -> DPDK port ->
execution report.

The far end runs `host.net.link_bridge` serving the golden model, the stand-in the
gateware is verified against; a cocotb co-simulation plugs its driver in as
the bridge's pipeline.
"""

import itertools
import os
import subprocess
import sys
import textwrap
import time

import pytest

from dpdk_bridge import dpdk_available
from gatebook.wire import internal
from gatebook.wire import link_frame as lf
from gatebook.wire.codec import WireError
from host.engine import MatchingEngine
from host.flow import generate_flow
from host.net.link import InProcessLink, LinkEngine, LinkError, PacketLink, pack_frames, unpack_frame
from host.symbols import DEFAULT_SYMBOLS

from test_dpdk_netns import _can_make_namespaces, _ip, _serve_until_done  # noqa: E402 (tests/ is on sys.path)

_available, _why = dpdk_available()
needs_dpdk = pytest.mark.skipif(not _available, reason=f"DPDK unavailable: {_why}")
_names = itertools.count(300)
_TAG = f"{os.getpid() % 100000}"
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
A, B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"


def _groups(flow):
    engine = MatchingEngine(DEFAULT_SYMBOLS)
    return [(command[1], engine.apply(command)) for command in flow]


def test_frames_round_trip_and_keep_commands_whole():
    flow = generate_flow(400, seed=2)
    groups = _groups(flow)
    frames = pack_frames(B, A, lf.EVENTS, 7, groups)
    assert len(frames) > 5 and all(len(frame) <= 14 + 1500 for frame in frames)
    records, last_done = [], 0
    for index, frame in enumerate(frames):
        channel, frame_seq, done_seq, got = unpack_frame(frame)
        assert (channel, frame_seq) == (lf.EVENTS, 7 + index)
        records += got
        assert all(record[1] <= done_seq for record in records)     # done means complete
        assert done_seq >= last_done
        last_done = done_seq
    assert records == [event for _, events in groups for event in events]
    commands = pack_frames(A, B, lf.COMMANDS, 0, [(0, flow)])
    assert [r for f in commands for r in unpack_frame(f)[3]] == flow


def test_garbled_frames_are_refused():
    frame = pack_frames(B, A, lf.COMMANDS, 0, [(0, generate_flow(3))])[0]
    with pytest.raises(WireError, match="not a link frame"):
        unpack_frame(frame[:12] + b"\x08\x00" + frame[14:])
    with pytest.raises(WireError, match="magic"):
        unpack_frame(frame[:14] + b"XX" + frame[16:])
    with pytest.raises(WireError, match="truncated|says"):
        unpack_frame(frame[:-1])


def test_in_process_link_gives_the_engines_events():
    flow = generate_flow(3000, seed=5)
    direct = MatchingEngine(DEFAULT_SYMBOLS)
    linked = LinkEngine(InProcessLink(MatchingEngine(DEFAULT_SYMBOLS).apply))
    got = []
    for start in range(0, len(flow), 64):
        got += linked.apply_many(flow[start:start + 64])
    assert got == [direct.apply(command) for command in flow]


@pytest.fixture(scope="module")
def eal():
    from dpdk_bridge.eal import Eal
    return Eal.start()


@needs_dpdk
def test_packet_link_detects_a_lost_event_frame(eal):
    port = eal.attach(f"net_ring{next(_names)}")           # hands our frames back to us
    packet_link = PacketLink(port, B, local_mac=A)
    try:
        packet_link.send(generate_flow(3))                    # our own commands: ignored
        port.send(pack_frames(A, B, lf.EVENTS, 0, _groups(generate_flow(2))))
        done = packet_link.receive()
        assert [seq for seq, _ in done] == [1, 2] and packet_link.ignored == 1
        port.send(pack_frames(A, B, lf.EVENTS, 5, [(3, [(internal.DONE.code, 3, 0, 0, 0)])]))
        with pytest.raises(LinkError, match="event frame 5 arrived, expected 1"):
            packet_link.receive()
    finally:
        port.close()


@pytest.fixture
def link_netns():
    """Two veth pairs into a test namespace: orders (IPv4) and the link (frames only)."""
    why = _can_make_namespaces()
    if why:
        pytest.skip(why)
    ns = f"gblink{_TAG}"
    pairs = [(f"gbo{_TAG}", f"gbp{_TAG}"), (f"gbl{_TAG}", f"gbm{_TAG}")]
    _ip("netns", "add", ns)
    try:
        for ours, theirs in pairs:
            _ip("link", "add", ours, "type", "veth", "peer", "name", theirs)
            subprocess.run(["sysctl", "-q", "-w", f"net.ipv6.conf.{ours}.disable_ipv6=1"],
                           capture_output=True)
            _ip("link", "set", theirs, "netns", ns)
            _ip("-n", ns, "link", "set", theirs, "up")
            _ip("link", "set", ours, "up")
        _ip("-n", ns, "addr", "add", "198.18.1.2/24", "dev", pairs[0][1])
        _ip("-n", ns, "link", "set", "lo", "up")
        subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w",
                        f"net.ipv6.conf.{pairs[1][1]}.disable_ipv6=1"], capture_output=True)
        yield ns, pairs
    finally:
        for ours, _ in pairs:
            _ip("link", "del", ours, check=False)
        _ip("netns", "del", ns, check=False)


def _start_bridge(ns, iface):
    bridge = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m",
                               "host.net.link_bridge", "--iface", iface, "--seconds", "60"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=_REPO)
    line = bridge.stdout.readline()
    assert line.startswith("link_bridge: serving"), bridge.stderr.read()
    return bridge, line.split("(")[1].rstrip(")\n")


@needs_dpdk
def test_packet_link_over_dpdk_matches_the_engine(eal, link_netns):
    ns, pairs = link_netns
    bridge, far_mac = _start_bridge(ns, pairs[1][1])
    port = eal.attach(f"net_af_packet{next(_names)},iface={pairs[1][0]}")
    try:
        linked = LinkEngine(PacketLink(port, far_mac))
        flow = generate_flow(2000, seed=9)
        got = []
        for start in range(0, len(flow), 32):
            got += linked.apply_many(flow[start:start + 32])
        direct = MatchingEngine(DEFAULT_SYMBOLS)
        assert got == [direct.apply(command) for command in flow]
    finally:
        port.close()
        bridge.terminate()
        bridge.communicate(timeout=10)


_CLIENT = textwrap.dedent("""
    import socket
    from host.net.scapy_layers import EnterOrder, Executed, OuchInbound, OuchOutbound
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("198.18.1.2", 40001))
    sock.settimeout(5)
    for seq, (token, side) in enumerate([(1, "SELL"), (2, "BUY")], 1):
        order = OuchInbound(session=4, sequence_number=seq) / EnterOrder(
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


@needs_dpdk
def test_scapy_order_through_dpdk_host_link_pipeline_and_back(eal, link_netns):
    from dpdk_bridge.udp import DpdkUdp
    from host.clock import ManualClock
    from host.net.exchange_server import Exchange
    ns, pairs = link_netns
    bridge, far_mac = _start_bridge(ns, pairs[1][1])
    orders = DpdkUdp(eal.attach(f"net_af_packet{next(_names)},iface={pairs[0][0]}"),
                     "198.18.1.1", 15000)
    link_port = eal.attach(f"net_af_packet{next(_names)},iface={pairs[1][0]}")
    exchange = Exchange(orders, DEFAULT_SYMBOLS, ManualClock(1_700_000_000_000_000_000, 1000),
                        engine=LinkEngine(PacketLink(link_port, far_mac)))
    client = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", _CLIENT],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=_REPO)
    try:
        out, err = _serve_until_done(exchange, client)
    finally:
        if client.poll() is None:
            client.kill()
        orders.close()
        link_port.close()
        bridge.terminate()
        bridge.communicate(timeout=10)
    assert client.returncode == 0, err
    # token 1 rested (adds liquidity), token 2 took it; both see the fill at the resting price
    assert out.strip() == "[(1, 100, 1000000, 'A', 0), (2, 100, 1000000, 'R', 0)]"
    assert exchange.gateway.messages == 2


def _messages(datagrams):
    from host.net.ouch_session import OUTBOUND_CODEC, decode_datagram
    return sum(len(decode_datagram(payload, OUTBOUND_CODEC)[2]) for payload, _ in datagrams)


def test_cli_run_matches_through_a_kernel_link(link_netns):
    from dpdk_bridge.udp import SocketUdp
    from host.net.inject import script_datagrams
    ns, pairs = link_netns
    bridge, far_mac = _start_bridge(ns, pairs[1][1])
    with SocketUdp() as probe:
        port = probe.address[1]
    server = subprocess.Popen([sys.executable, "-m", "gatebook.cli", "run", "--listen",
                               f"127.0.0.1:{port}", "--md", "none", "--max-orders", "2",
                               "--seconds", "20", "--link-iface", pairs[1][0],
                               "--link-peer", far_mac],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=_REPO)
    try:
        assert f"matching: pipeline at {far_mac} via {pairs[1][0]}" in server.stdout.readline()
        with SocketUdp() as client:
            for _, payload in script_datagrams(
                    "5 enter_order order_token=1 stock=GATE side=SELL shares=10 price=100.00\n"
                    "6 enter_order order_token=1 stock=GATE side=BUY shares=10 price=100.00\n"):
                client.send([(payload, ("127.0.0.1", port))])
            replies, deadline = [], time.monotonic() + 10
            # accepted and executed to each side; replies to one session in one
            # burst share a datagram, so count messages, not datagrams
            while _messages(replies) < 4 and time.monotonic() < deadline:
                replies += client.recv()
                time.sleep(0.01)
        out, err = server.communicate(timeout=20)
    finally:
        for process in (server, bridge):
            if process.poll() is None:
                process.terminate()
            process.communicate(timeout=10)
    assert server.returncode == 0, err
    assert _messages(replies) == 4 and "2 orders" in out
