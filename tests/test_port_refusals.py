"""What a datagram port refuses before order entry sees it, and what it cannot
send: odd source addresses, IPv4 fragments, frames longer than a receive slot.
Each is counted by kind; none raises to the exchange's loop."""

import itertools
import socket
import struct
import time

import pytest
from scapy.layers.inet import IP, UDP, fragment
from scapy.layers.l2 import Ether

from gatebook.dpdk_bridge import dpdk_available
from gatebook.dpdk_bridge.udp import SocketUdp, answerable
from gatebook.host.clock import ManualClock
from gatebook.host.ouch.framing import encode_datagram

_available, _why = dpdk_available()
needs_dpdk = pytest.mark.skipif(not _available, reason=f"DPDK unavailable: {_why}")
_names = itertools.count(900)

_ENTER = (ord("O"), 1, "GATE", 0, 0, 0, 100, 100_0000, 0)
_ORDER = encode_datagram(7, 1, [_ENTER])


def _raw_udp(source_port, destination, payload):
    # A datagram with any source port, as a forger would send it (needs root).
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
    try:
        raw.sendto(struct.pack("!HHHH", source_port, destination[1], 8 + len(payload), 0)
                   + payload, destination)
    finally:
        raw.close()


def _receive(port, want=1, seconds=2):
    got, deadline = [], time.monotonic() + seconds
    while len(got) < want and time.monotonic() < deadline:
        got += port.recv()
    return got


@pytest.mark.parametrize(("ip", "port", "ok"), [
    ("198.18.0.2", 40000, True), ("127.0.0.1", 1, True), ("223.255.255.255", 65535, True),
    ("198.18.0.2", 0, False), ("0.0.0.0", 40000, False), ("255.255.255.255", 40000, False),
    ("239.192.26.1", 40000, False), ("224.0.0.1", 40000, False), ("240.0.0.1", 40000, False),
])
def test_which_sources_can_be_answered(ip, port, ok):
    assert answerable(int.from_bytes(socket.inet_aton(ip), "big"), port) is ok


@pytest.mark.skipif(not hasattr(socket, "SOCK_RAW"), reason="no raw sockets")
def test_socket_port_refuses_source_port_zero_and_survives_sending_there():
    with SocketUdp() as server, SocketUdp() as client:
        try:
            _raw_udp(0, server.address, _ORDER)
        except PermissionError:
            pytest.skip("raw sockets need root")
        client.send([(_ORDER, server.address)])
        got = _receive(server)
        assert got == [(_ORDER, client.address)]           # only the answerable one
        assert server.refused == {"bad_source": 1}
        # A peer from an old log (before this check) or a tool: counted, not raised.
        assert server.send([(b"x", ("127.0.0.1", 0)), (b"y", client.address),
                            (b"z", ("not an address", 5))]) == 1
        assert server.unsent == {"EINVAL": 1, "bad address": 1}
        assert _receive(client) == [(b"y", server.address)]


@pytest.mark.skipif(not hasattr(socket, "SOCK_RAW"), reason="no raw sockets")
def test_exchange_keeps_serving_after_an_order_from_source_port_zero():
    from gatebook.host.net.accounts import Accounts
    from gatebook.host.ouch import ouch_exchange
    from gatebook.host.symbols import DEFAULT_SYMBOLS
    with SocketUdp() as server:
        exchange = ouch_exchange(server, DEFAULT_SYMBOLS, ManualClock(1_700_000_000_000_000_000, 1000),
                                 accounts=Accounts())
        try:
            _raw_udp(0, server.address, _ORDER)
        except PermissionError:
            pytest.skip("raw sockets need root")
        deadline = time.monotonic() + 2
        while not server.refused and time.monotonic() < deadline:
            exchange.poll()                                 # raised EINVAL before
        assert server.refused == {"bad_source": 1}
        assert exchange.entry.gateway.messages == 0               # the order never reached it


def _frame(payload, source=("198.18.0.2", 40000), **ip):
    return bytes(Ether(src="02:00:00:00:00:09", dst="02:00:00:00:00:01")
                 / IP(src=source[0], dst="198.18.0.1", **ip)
                 / UDP(sport=source[1], dport=15000) / payload)


def _sixty_orders():
    return encode_datagram(7, 1, [(*_ENTER[:1], token, *_ENTER[2:]) for token in range(1, 61)])


@needs_dpdk
@pytest.mark.parametrize("compiled_loops", [True, False])
def test_dpdk_counts_fragments_oversize_frames_and_bad_sources(compiled_loops):
    from gatebook.dpdk_bridge.eal import Eal
    from gatebook.dpdk_bridge.udp import DpdkUdp
    udp = DpdkUdp(Eal.start().attach(f"net_ring{next(_names)}"), "198.18.0.1", 15000,
                  mac="02:00:00:00:00:01", burst=64)
    if not compiled_loops:
        udp._fast = None
    big = _sixty_orders()
    assert len(big) > 1472                        # more than one 1500-byte frame holds
    pieces = [bytes(piece) for piece in fragment(
        Ether(src="02:00:00:00:00:09", dst="02:00:00:00:00:01")
        / IP(src="198.18.0.2", dst="198.18.0.1") / UDP(sport=40000, dport=15000) / big,
        fragsize=1400)]
    bad_sources = [_frame(_ORDER, ("198.18.0.2", 0)), _frame(_ORDER, ("0.0.0.0", 40000)),
                   _frame(_ORDER, ("255.255.255.255", 40000)),
                   _frame(_ORDER, ("239.1.2.3", 40000))]
    try:
        stream = pieces + bad_sources + [_frame(_ORDER)]
        assert udp.port.send(stream) == len(stream)
        data, frames = udp.recv_ouch()
        frames = list(frames)
    finally:
        udp.close()
    errors = [frame[5] for frame in frames]
    peers = {frame[4] for frame in frames}
    assert peers == {("198.18.0.2", 40000)}        # nothing from a bad source goes on
    assert errors == [("FRAGMENTED", len(big) + 8, 0), None]
    assert udp.refused == {"fragment": len(pieces) - 1, "bad_source": len(bad_sources)}
    assert udp.bad == 0


@needs_dpdk
def test_dpdk_recv_counts_what_it_cannot_hand_on():
    from gatebook.dpdk_bridge.eal import Eal
    from gatebook.dpdk_bridge.udp import DpdkUdp
    udp = DpdkUdp(Eal.start().attach(f"net_ring{next(_names)}"), "198.18.0.1", 15000,
                  mac="02:00:00:00:00:01")
    big = _sixty_orders()
    pieces = [bytes(piece) for piece in fragment(
        Ether(src="02:00:00:00:00:09", dst="02:00:00:00:00:01")
        / IP(src="198.18.0.2", dst="198.18.0.1") / UDP(sport=40000, dport=15000) / big,
        fragsize=1400)]
    try:
        udp.port.send(pieces + [_frame(b"x", ("198.18.0.2", 0)), _frame(b"plain")])
        got = udp.recv()
    finally:
        udp.close()
    assert got == [(b"plain", ("198.18.0.2", 40000))]
    assert udp.refused == {"fragment": len(pieces) - 1, "fragmented": 1, "bad_source": 1}


@needs_dpdk
def test_dpdk_split_refuses_a_frame_cut_at_its_slot():
    # A jumbo frame (a NIC with a large MTU and scattered receive) is longer
    # than the slot gb_rx_burst copies it into: the split sees its length, not
    # its end. A net_ring's mbufs cannot carry one, so the split is called on a
    # burst buffer as gb_rx_burst leaves it.
    from gatebook.dpdk_bridge._cgen import RX_DESC, RX_DESC_STRUCT, RX_KINDS, RX_STATUS
    from gatebook.dpdk_bridge.build import load
    module = load()
    ffi, lib = module.ffi, module.lib
    slot, jumbo = 2048, _frame(_sixty_orders() * 2)
    data = bytearray(slot * 2)
    data[:slot] = jumbo[:slot]
    plain = _frame(_ORDER)
    data[slot:slot + len(plain)] = plain
    lens = ffi.new("uint16_t[]", [len(jumbo), len(plain)])
    desc = bytearray(RX_DESC_STRUCT.size * 2)
    kinds = ffi.new("uint64_t[]", RX_KINDS)
    macs = ffi.gc(lib.gb_mac_table_new(), lib.gb_mac_table_free)
    assert lib.gb_ouch_split(ffi.from_buffer(data), slot, lens, 2, 15000,
                             ffi.from_buffer("struct gb_rx_desc[]", desc), macs, kinds) == 2
    fields = [name for name, *_ in RX_DESC]
    first, second = (dict(zip(fields, values)) for values in RX_DESC_STRUCT.iter_unpack(desc))
    assert (first["status"], first["detail1"], first["detail2"]) == (
        RX_STATUS["OVERSIZE"], len(jumbo), slot)
    assert first["peer"] == (int.from_bytes(socket.inet_aton("198.18.0.2"), "big") << 16
                             | 40000)
    assert second["status"] == RX_STATUS["DATAGRAM"]
    assert list(kinds) == [0] * RX_KINDS


def test_a_socket_port_that_cannot_bind_closes_its_socket():
    # 192.0.2.1 (TEST-NET-1) is no address of this machine: bind fails, and the
    # socket must not be left for the garbage collector (a ResourceWarning,
    # an error under this suite's warnings-as-errors, in whichever test ran next).
    import gc
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        with pytest.raises(OSError):
            SocketUdp("192.0.2.1", 0)
        gc.collect()
