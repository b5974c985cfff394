"""DPDK against the real kernel: net_af_packet on a veth pair whose peer sits
in a network namespace this test creates, and net_tap with a raw socket.

Traffic stays on interfaces the test made: the veth's DPDK end has no address
and no IPv6, its peer lives in the test's namespace with an address from the
benchmarking range (RFC 2544, 198.18.0.0/15).
"""

import itertools
import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from gatebook.dpdk_bridge import dpdk_available
from gatebook.sim.cosim.netns import why_no_namespaces

_available, _why = dpdk_available()
pytestmark = pytest.mark.skipif(not _available, reason=f"DPDK unavailable: {_why}")
_names = itertools.count(50)
_TAG = f"{os.getpid() % 100000}"


def _serve_until_done(exchange, client, seconds=20):
    """Poll `exchange` until the client process in the namespace ends; its (stdout, stderr)."""
    deadline = time.monotonic() + seconds
    while client.poll() is None and time.monotonic() < deadline:
        if not exchange.poll():
            time.sleep(0.0005)
    return client.communicate(timeout=10)


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


@pytest.fixture(scope="module")
def eal():
    from gatebook.dpdk_bridge.eal import Eal
    return Eal.start()


@pytest.fixture
def veth_netns():
    why = why_no_namespaces()
    if why:
        pytest.skip(why)
    ns, ours, peer = f"gbtest{_TAG}", f"gbA{_TAG}", f"gbB{_TAG}"
    _ip("netns", "add", ns)
    try:
        _ip("link", "add", ours, "type", "veth", "peer", "name", peer)
        subprocess.run(["sysctl", "-q", "-w", f"net.ipv6.conf.{ours}.disable_ipv6=1"],
                       capture_output=True)
        _ip("link", "set", peer, "netns", ns)
        _ip("-n", ns, "addr", "add", "198.18.0.2/24", "dev", peer)
        _ip("-n", ns, "link", "set", peer, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("link", "set", ours, "up")
        yield ns, ours
    finally:
        _ip("link", "del", ours, check=False)
        _ip("netns", "del", ns, check=False)


_CLIENT = textwrap.dedent("""
    import socket, sys
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("198.18.0.2", 0))
    sock.settimeout(5)
    got = []
    for i in range(20):
        sock.sendto(b"order %d" % i, ("198.18.0.1", 7000))
        got.append(sock.recvfrom(2048)[0].decode())
    print("|".join(got))
""")


def test_af_packet_udp_echo_with_a_kernel_in_a_namespace(eal, veth_netns):
    from gatebook.dpdk_bridge.udp import DpdkUdp
    ns, iface = veth_netns
    port = eal.attach(f"net_af_packet{next(_names)},iface={iface}")
    udp = DpdkUdp(port, "198.18.0.1", 7000)
    client = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", _CLIENT],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        echoed, deadline = 0, time.monotonic() + 10
        while echoed < 20 and time.monotonic() < deadline and client.poll() is None:
            datagrams = udp.recv()
            for payload, peer in datagrams:
                assert peer[0] == "198.18.0.2"
            echoed += udp.send([(b"ack " + payload, peer) for payload, peer in datagrams])
            if not datagrams:
                time.sleep(0.0005)
        out, err = client.communicate(timeout=10)
    finally:
        if client.poll() is None:
            client.kill()
        udp.close()
    assert client.returncode == 0, err
    assert out.strip().split("|") == [f"ack order {i}" for i in range(20)]


def test_tap_frames_both_ways(eal):
    if os.geteuid() != 0:
        pytest.skip("needs root for net_tap and raw sockets")
    iface = f"gbtap{_TAG}"
    port = eal.attach(f"net_tap{next(_names)},iface={iface}")
    try:
        subprocess.run(["sysctl", "-q", "-w", f"net.ipv6.conf.{iface}.disable_ipv6=1"],
                       capture_output=True)
        _ip("link", "set", iface, "up")
        raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88B5))
        raw.bind((iface, 0))
        raw.settimeout(2)
        # 0x88B5 is the IEEE 802 "local experimental" EtherType: no stack answers it.
        frame = bytes.fromhex("020000000002" "020000000001" "88b5") + b"to dpdk".ljust(46, b".")
        raw.send(frame)
        got, deadline = [], time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            got = [p for p in port.recv() if p[12:14] == b"\x88\xb5"]
        assert got == [frame]
        reply = bytes.fromhex("020000000001" "020000000002" "88b5") + b"from dpdk".ljust(46, b".")
        assert port.send([reply]) == 1
        assert raw.recv(2048) == reply
        raw.close()
    finally:
        port.close()


_ORDER_CLIENT = textwrap.dedent("""
    import socket
    from scapy.layers.inet import UDP
    from gatebook.host.net.scapy_layers import (Accepted, CancelOrder, Canceled, EnterOrder, ItchAddOrder,
                                   LoginAccepted, LoginRequest, MoldUDP64, OuchInbound,
                                   OuchOutbound)
    orders = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    orders.bind(("198.18.0.2", 40000))
    orders.settimeout(5)
    feed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    feed.bind(("198.18.0.2", 26400))
    feed.settimeout(5)
    orders.sendto(bytes(OuchInbound(session=0, sequence_number=0)
                        / LoginRequest(username="user3", password="pw3")), ("198.18.0.1", 15000))
    session = OuchOutbound(orders.recv(2048))[LoginAccepted].session
    enter = OuchInbound(session=session, sequence_number=1) / EnterOrder(
        order_token=11, stock="GATE", side="BUY", shares=100, price=1_000_000)
    orders.sendto(bytes(enter), ("198.18.0.1", 15000))
    accepted = OuchOutbound(orders.recv(2048))
    orders.sendto(bytes(OuchInbound(session=session, sequence_number=2)
                        / CancelOrder(order_token=11)),
                  ("198.18.0.1", 15000))
    canceled = OuchOutbound(orders.recv(2048))
    adds = []
    while not adds:
        packet = MoldUDP64(feed.recv(2048))
        adds = [b.message for b in packet.messages if isinstance(b.message, ItchAddOrder)]
    print(accepted[Accepted].order_token, accepted[Accepted].shares, accepted[Accepted].order_ref,
          canceled[Canceled].decrement_shares, adds[0].shares, adds[0].price,
          adds[0].stock.strip().decode())
""")


def test_exchange_over_af_packet_scapy_order_to_execution_report(eal, veth_netns):
    from gatebook.dpdk_bridge.udp import DpdkUdp
    from gatebook.host.clock import ManualClock
    from gatebook.host.ouch import ouch_exchange
    from gatebook.host.symbols import DEFAULT_SYMBOLS
    from ouch_login import accounts
    ns, iface = veth_netns
    udp = DpdkUdp(eal.attach(f"net_af_packet{next(_names)},iface={iface}"), "198.18.0.1", 15000)
    exchange = ouch_exchange(udp, DEFAULT_SYMBOLS, ManualClock(1_700_000_000_000_000_000, 1000),
                             md_destination=("198.18.0.2", 26400), accounts=accounts((3,)))
    client = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", _ORDER_CLIENT],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        out, err = _serve_until_done(exchange, client)
    finally:
        if client.poll() is None:
            client.kill()
        udp.close()
    assert client.returncode == 0, err
    assert out.split() == ["11", "100", "1", "100", "100", "1000000", "GATE"]
    assert exchange.entry.gateway.messages == 2 and exchange.counts["replies"] == 2
