"""The order-entry fast path: C declarations generated from the wire tables, and
bursts split in C exactly as the Python framing splits single datagrams."""

import itertools
import random
import socket
import struct

import pytest

from gatebook.dpdk_bridge import dpdk_available
from gatebook.wire import ouch
from gatebook.wire.layout import ALPHA
from gatebook.host.clock import ManualClock
from gatebook.host.flow import generate_flow
from gatebook.host.ouch.inject import bad_datagrams
from gatebook.host.ouch.gateway import Gateway, flow_datagrams
from gatebook.host.ouch.framing import HEADER_STRUCT, encode_datagram, frame_datagram, refusal
from gatebook.host.sequencer import Sequencer
from gatebook.host.symbols import DEFAULT_SYMBOLS

_available, _why = dpdk_available()
needs_dpdk = pytest.mark.skipif(not _available, reason=f"DPDK unavailable: {_why}")
_names = itertools.count(500)
_ALL = (ouch.SESSION_HEADER, *ouch.INBOUND.messages, *ouch.OUTBOUND.messages)


def _stem(message):
    if message is ouch.SESSION_HEADER:
        return "HEADER"
    prefix = "OUT_" if message in ouch.OUTBOUND.messages else ""
    return prefix + message.name.upper()


def _struct_offsets(message):
    # Independent of gatebook.dpdk_bridge._cgen: offsets from struct.calcsize over the
    # big-endian prefix of the message, type byte included.
    chars, out = ">" + ("B" if message.code is not None else ""), {}
    for field in message.fields:
        out[field.name] = struct.calcsize(chars)
        chars += f"{field.width}s" if field.kind == ALPHA else {1: "B", 2: "H", 4: "I", 8: "Q"}[
            field.width]
    return out, struct.calcsize(chars)


@needs_dpdk
@pytest.mark.parametrize("message", _ALL, ids=lambda m: m.name)
def test_compiled_offsets_equal_the_tables(message):
    from gatebook.dpdk_bridge.build import load
    lib = load().lib
    stem = _stem(message)
    offsets, size = _struct_offsets(message)
    assert getattr(lib, f"GB_OUCH_{stem}_SIZE") == size == message.size
    if message.code is not None:
        assert getattr(lib, f"GB_OUCH_{stem}_CODE") == message.code
    for field in message.fields:
        name = f"GB_OUCH_{stem}_{field.name.upper()}"
        assert (getattr(lib, f"{name}_OFF"), getattr(lib, f"{name}_WIDTH")) == (
            offsets[field.name], field.width), name


@needs_dpdk
def test_descriptor_struct_is_the_python_layout():
    from gatebook.dpdk_bridge._cgen import RX_DESC, RX_DESC_STRUCT, RX_STATUS
    from gatebook.dpdk_bridge.build import load
    module = load()
    ffi, lib = module.ffi, module.lib
    assert ffi.sizeof("struct gb_rx_desc") == RX_DESC_STRUCT.size
    at = 0
    for name, width, _, _ in RX_DESC:
        assert ffi.offsetof("struct gb_rx_desc", name) == at, name
        at += width
    assert {name: getattr(lib, f"GB_RX_{name}") for name in RX_STATUS} == RX_STATUS


def _datagrams():
    rng = random.Random(5)
    good = flow_datagrams(generate_flow(400, seed=3), DEFAULT_SYMBOLS, batch=3)
    out = [payload for _, payload in good]
    out += [payload for _, payload in bad_datagrams(60, seed=8)]
    enter = (ord("O"), 1, "GATE", 0, 0, 0, 100, 100_0000, 0)
    out += [encode_datagram(9, 1, []),                        # heartbeat
            encode_datagram(9, 1, [enter]),
            encode_datagram(9, 1, [enter]),                   # duplicate
            encode_datagram(9, 5, [(ord("X"), 1)]),           # gap 2..4
            encode_datagram(9, 6, [enter])[:-1],              # truncated
            encode_datagram(9, 6, [enter]) + b"\0",           # a byte too many
            HEADER_STRUCT.pack(9, 6, 2) + encode_datagram(9, 6, [enter])[14:],  # too few
            b"", b"\x00" * 13]
    rng.shuffle(out)
    return out


@needs_dpdk
@pytest.mark.parametrize("compiled_loops", [True, False])
def test_c_split_refuses_and_decodes_exactly_as_python(compiled_loops):
    from gatebook.dpdk_bridge.eal import Eal
    from gatebook.dpdk_bridge.udp import DpdkUdp, udp_frame
    payloads = _datagrams()
    me, client = socket.inet_aton("198.18.0.1"), socket.inet_aton("198.18.0.2")
    mac = b"\x02\x00\x00\x00\x00\x07"
    frames = [udp_frame(mac, mac, client, me, 40000 + index % 7, 15000, payload)
              for index, payload in enumerate(payloads)]
    strays = [udp_frame(mac, mac, client, me, 40000, 15001, payloads[0]),   # another port
              b"\x00" * 13, frames[0][:30]]                                 # short, cut
    udp = DpdkUdp(Eal.start().attach(f"net_ring{next(_names)}"), "198.18.0.1", 15000,
                  mac="02:00:00:00:00:01", burst=64)
    if not compiled_loops:
        udp._fast = None                   # the descriptor loop in Python
    # the reference gateway on whole payloads; the default one (compiled where
    # built) on the burst buffer
    python, fast = (Gateway(Sequencer(ManualClock(start=1)), DEFAULT_SYMBOLS, compiled=compiled)
                    for compiled in (False, None))
    expected, got = [], []
    try:
        stream = frames[:10] + strays + frames[10:]
        for start in range(0, len(stream), 50):
            assert udp.port.send(stream[start:start + 50]) == len(stream[start:start + 50])
            data, split = udp.recv_ouch()
            while split:
                for _, _, _, _, peer, _ in split:
                    assert peer[0] == "198.18.0.2" and 40000 <= peer[1] < 40007
                got += list(fast.commands(data, split))
                data, split = udp.recv_ouch()
        for index, payload in enumerate(payloads):
            expected += python.datagram(payload, ("198.18.0.2", 40000 + index % 7))
    finally:
        udp.close()
    assert udp.bad == len(strays)
    assert len(got) > 300
    assert got == expected
    assert fast.bad == python.bad and fast.bad["undecodable"] >= 60
    assert list(fast.bad_log) == list(python.bad_log)
    assert list(fast.gap_log) == list(python.gap_log) and fast.gap_log
    assert fast.tracker.duplicates == python.tracker.duplicates > 0
    assert fast.peers == python.peers
    assert udp.mac_of(int.from_bytes(client, "big")) == int.from_bytes(mac, "big")


@pytest.mark.parametrize("data", [b"", b"\x00" * 13,
                                  HEADER_STRUCT.pack(1, 1, 1) + b"?",
                                  HEADER_STRUCT.pack(1, 1, 1) + b"X\x00",
                                  HEADER_STRUCT.pack(1, 1, 2) + b"X" + bytes(8),
                                  HEADER_STRUCT.pack(1, 1, 0) + b"!"])
def test_python_framing_names_each_refusal(data):
    session, sequence, count, error = frame_datagram(data)
    assert error is not None and (session, sequence, count) == (0, 0, 0)
    text = refusal(*error)
    assert text and ("session header" in text or "offset" in text or "header says" in text)


@needs_dpdk
@pytest.mark.parametrize("compiled_loops", [True, False])
def test_burst_send_frames_exactly_as_udp_frame(compiled_loops):
    from gatebook.dpdk_bridge.eal import Eal
    from gatebook.dpdk_bridge.udp import DpdkUdp, udp_frame
    udp = DpdkUdp(Eal.start().attach(f"net_ring{next(_names)}"), "198.18.0.1", 15000,
                  mac="02:00:00:00:00:01", burst=8)
    if not compiled_loops:
        udp._fast = None                   # the slot-filling loop in Python
    known = b"\x02\x00\x00\x00\x00\x09"
    udp.learn(int.from_bytes(socket.inet_aton("198.18.0.9"), "big"), int.from_bytes(known, "big"))
    peers = [("198.18.0.9", 40001), ("198.18.0.77", 40002), ("239.192.26.1", 26400)]
    datagrams = [(bytes([index]) * (index * 37 % 1400 + 1), peers[index % 3])
                 for index in range(20)]                    # more than one burst of 8
    macs = {peers[0][0]: known, peers[1][0]: b"\xff" * 6,
            peers[2][0]: b"\x01\x00\x5e\x40\x1a\x01"}
    try:
        assert udp.send(datagrams) == 20
        frames = udp.port.recv(64)
        with pytest.raises(ValueError, match="does not fit"):
            udp.send([(bytes(2048), peers[0])])
    finally:
        udp.close()
    me = socket.inet_aton("198.18.0.1")
    assert frames == [udp_frame(macs[ip], b"\x02\x00\x00\x00\x00\x01", me, socket.inet_aton(ip),
                                15000, port, payload, index + 1)
                      for index, (payload, (ip, port)) in enumerate(datagrams)]


@needs_dpdk
def test_the_mac_table_learns_many_senders_and_keeps_the_latest():
    from gatebook.dpdk_bridge.eal import Eal
    from gatebook.dpdk_bridge.udp import DpdkUdp
    udp = DpdkUdp(Eal.start().attach(f"net_ring{next(_names)}"), "198.18.0.1", 15000,
                  mac="02:00:00:00:00:01", burst=8)
    try:
        base = int.from_bytes(socket.inet_aton("10.0.0.0"), "big")
        for index in range(20000):                 # more senders than the table holds
            udp.learn(base + index, 0x020000000000 + index)
        assert udp.mac_of(base + 19999) == 0x020000000000 + 19999
        udp.learn(base + 19999, 0x02AABBCCDDEE)    # a sender that moved
        assert udp.mac_of(base + 19999) == 0x02AABBCCDDEE
        found = sum(udp.mac_of(base + index) == 0x020000000000 + index for index in range(20000))
        assert 3000 < found < 20000                # the rest go by broadcast until heard again
        assert udp._dest_mac(socket.inet_aton("198.18.9.9")) == b"\xff" * 6
        assert udp._dest_mac(socket.inet_aton("239.192.26.1")) == b"\x01\x00\x5e\x40\x1a\x01"
    finally:
        udp.close()


@needs_dpdk
@pytest.mark.parametrize("max_payload, burst", [(1472, 8), (90, 4), (20, 4)])
def test_replies_written_into_the_send_burst_are_the_flushed_ones(max_payload, burst):
    """`send_replies` with a compiled replier (`flush_into`, straight into the
    slots) sends, frame for frame, what the reference replier's `flush()` gives
    through `send`: more datagrams than a burst, sessions without a peer, splits."""
    from gatebook.dpdk_bridge.eal import Eal
    from gatebook.dpdk_bridge.fast import status
    from gatebook.dpdk_bridge.udp import DpdkUdp
    from gatebook.host.engine import MatchingEngine
    from gatebook.host.flow import generate_flow
    from gatebook.host.ouch.gateway import flow_datagrams
    from gatebook.host.ouch.replier import Replier
    if status()[0] is None:
        pytest.skip(status()[1])
    flow = flow_datagrams(generate_flow(1500, seed=3), DEFAULT_SYMBOLS, batch=2)
    ports = [DpdkUdp(Eal.start().attach(f"net_ring{next(_names)}"), "198.18.0.1", 15000,
                     mac="02:00:00:00:00:01", burst=burst) for _ in range(2)]
    received = []
    try:
        for port, compiled in zip(ports, (False, True)):
            gateway = Gateway(Sequencer(ManualClock(start=1)), DEFAULT_SYMBOLS, compiled=compiled)
            replier = Replier(gateway, DEFAULT_SYMBOLS, max_payload)
            engine, frames = MatchingEngine(DEFAULT_SYMBOLS), []
            for index, (session, payload) in enumerate(flow):
                # some sessions without a peer, the others moving between addresses
                peer = None if session % 5 == 0 else (f"198.18.{index % 3}.{session % 200}",
                                                      30000 + session)
                for command in gateway.datagram(payload, peer):
                    replier.add(engine.apply(command))
                if index % 37 == 36:
                    sent = (port.send_replies(replier) if compiled
                            else port.send(replier.flush()))
                    got = []
                    while len(got) < sent:
                        got += port.port.recv(256)
                    frames.append(got)
            received.append((frames, replier.sequences))
    finally:
        for port in ports:
            port.close()
    assert received[0] == received[1]
    assert sum(map(len, received[0][0])) > 100
