"""Datagrams behind one interface: a kernel UDP socket and UDP framed over DPDK."""

import itertools

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import ARP, Ether

from gatebook.dpdk_bridge import dpdk_available
from gatebook.dpdk_bridge.udp import DatagramPort, SocketUdp, open_udp

_available, _why = dpdk_available()
needs_dpdk = pytest.mark.skipif(not _available, reason=f"DPDK unavailable: {_why}")
_names = itertools.count(100)


def test_socket_backend_round_trip_on_loopback():
    with open_udp("socket") as server, SocketUdp() as client:
        assert server.backend == "socket" and isinstance(server, DatagramPort)
        assert client.send([(b"hello %d" % i, server.address) for i in range(10)]) == 10
        got = []
        for _ in range(1000):
            got += server.recv(4)
            if len(got) == 10:
                break
        assert [payload for payload, _ in got] == [b"hello %d" % i for i in range(10)]
        assert got[0][1] == client.address
        server.send([(b"reply", got[0][1])])
        for _ in range(1000):
            replies = client.recv()
            if replies:
                break
        assert replies == [(b"reply", server.address)]


def test_backend_choice_is_explicit():
    with pytest.raises(ValueError, match="unknown backend"):
        open_udp("carrier-pigeon")
    with pytest.raises(ValueError, match="needs devargs"):
        open_udp("dpdk")


@pytest.fixture(scope="module")
def eal():
    from gatebook.dpdk_bridge.eal import Eal
    return Eal.start()


@needs_dpdk
def test_dpdk_frames_are_valid_udp_and_parse_back(eal):
    from gatebook.dpdk_bridge.udp import DpdkUdp
    udp = DpdkUdp(eal.attach(f"net_ring{next(_names)}"), "198.18.0.1", 7000,
                  mac="02:00:00:00:00:01")
    try:
        frame = udp.frame(b"payload", ("198.18.0.9", 7000))
        parsed = Ether(frame)
        recomputed = parsed[IP].copy()
        del recomputed.chksum                                  # scapy computes it afresh
        assert IP(bytes(recomputed)).chksum == parsed[IP].chksum
        assert parsed[IP].len == 20 + 8 + 7
        assert (parsed[UDP].sport, parsed[UDP].dport, bytes(parsed[UDP].payload)) == \
            (7000, 7000, b"payload")
        assert parsed.dst == "ff:ff:ff:ff:ff:ff"              # peer not yet heard from
        assert udp.frame(b"", ("239.192.26.1", 1))[:6] == bytes.fromhex("01005e401a01")
        # net_ring hands transmitted frames back: they arrive addressed to us
        assert udp.send([(b"one", ("198.18.0.1", 7000)), (b"two", ("198.18.0.1", 7000))]) == 2
        assert udp.recv() == [(b"one", ("198.18.0.1", 7000)), (b"two", ("198.18.0.1", 7000))]
        assert udp.frame(b"x", ("198.18.0.1", 7000))[:6] == bytes.fromhex("020000000001")
    finally:
        udp.close()


@needs_dpdk
def test_dpdk_udp_drops_what_is_not_ours_and_answers_arp(eal):
    from gatebook.dpdk_bridge.udp import DpdkUdp
    udp = DpdkUdp(eal.attach(f"net_ring{next(_names)}"), "198.18.0.1", 7000,
                  mac="02:00:00:00:00:01")
    try:
        good = bytes(Ether(src="02:00:00:00:00:09", dst="02:00:00:00:00:01")
                     / IP(src="198.18.0.9", dst="198.18.0.1") / UDP(sport=5, dport=7000) / b"ok")
        other_port = bytes(Ether() / IP() / UDP(dport=7001) / b"no")
        short_udp = good[:-4]                                  # IP total length > frame
        tiny = b"\x00" * 10
        arp = bytes(Ether(src="02:00:00:00:00:09", dst="ff:ff:ff:ff:ff:ff")
                    / ARP(op=1, hwsrc="02:00:00:00:00:09", psrc="198.18.0.9", pdst="198.18.0.1"))
        udp.port.send([other_port, short_udp, tiny, arp, good])
        assert udp.recv() == [(b"ok", ("198.18.0.9", 5))]
        assert udp.bad == 3
        answer = Ether(udp.port.recv()[0])                    # our ARP reply, looped back
        assert answer[ARP].op == 2 and answer[ARP].psrc == "198.18.0.1"
        assert answer[ARP].hwsrc == "02:00:00:00:00:01" and answer.dst == "02:00:00:00:00:09"
        assert udp.frame(b"", ("198.18.0.9", 5))[:6] == bytes.fromhex("020000000009")
    finally:
        udp.close()


def test_the_python_frame_headers_are_the_wire_tables():
    """dpdk_bridge/frames.py's headers come from gatebook.wire.ethernet, as the C's do."""
    from gatebook.dpdk_bridge import _cgen, frames
    from gatebook.wire import ethernet
    for header, message in ((frames.ETHERNET_HEADER, ethernet.ETHERNET_HEADER),
                            (frames.IPV4_HEADER, ethernet.IPV4_HEADER),
                            (frames.UDP_HEADER, ethernet.UDP_HEADER)):
        assert (header.names, header.size) == (message.field_names, message.size)
        assert header.offsets == _cgen.field_offsets(message)
    assert frames.FRAME_HEADERS_SIZE == 14 + 20 + 8
    frame = frames.udp_frame(b"\x02" * 6, b"\x04" * 6, bytes([198, 18, 0, 9]),
                             bytes([198, 18, 0, 1]), 40000, 15000, b"payload", ip_id=7)
    ip = frames.IPV4_HEADER.unpack_from(frame, frames.ETHERNET_HEADER.size)
    assert (ip["version_ihl"], ip["total_length"], ip["identification"], ip["protocol"]) == \
        (0x45, 20 + 8 + 7, 7, ethernet.IPPROTO_UDP)
    assert ip["flags_fragment"] == ethernet.IPV4_DONT_FRAGMENT
    parsed = Ether(frame)                                     # and an independent reader agrees
    assert (parsed.type, parsed[IP].id, parsed[UDP].sport, parsed[UDP].len) == \
        (ethernet.ETHERTYPE_IPV4, 7, 40000, 8 + 7)
    assert bytes(parsed[UDP].payload) == b"payload"


def test_a_header_is_packed_by_field_name_in_its_tables_order():
    from gatebook.dpdk_bridge.frames import Header
    from gatebook.wire.layout import Field, Message, Protocol
    message = Message("made_up", None, (Field("kind", 1), Field("length", 2), Field("tag", 4)))
    header = Header(message, Protocol("made-up", "little", (message,)), as_bytes=("tag",))
    assert header.pack(length=0x0102, tag=b"abcd", kind=9) == b"\x09\x02\x01abcd"
    assert header.unpack_from(b"\x09\x02\x01abcd") == {"kind": 9, "length": 0x0102,
                                                       "tag": b"abcd"}
    with pytest.raises(TypeError, match="length"):
        header.pack(kind=9, tag=b"abcd")                      # a field left out is refused
