"""The DPDK bridge on virtual devices: net_ring loopback and net_pcap replay.

Real DPDK (Debian libdpdk-dev) in this process: one EAL, devices attached and
detached per test.
"""

import itertools
import os
import subprocess
import sys

import pytest

from gatebook.dpdk_bridge import DpdkError, DpdkUnavailable, dpdk_available

_available, _why = dpdk_available()
pytestmark = pytest.mark.skipif(not _available, reason=f"DPDK unavailable: {_why}")
_names = itertools.count()


@pytest.fixture(scope="module")
def eal():
    from gatebook.dpdk_bridge.eal import Eal
    return Eal.start()


def _frames(count, size=60):
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw
    return [bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
                  / IP(src="127.0.0.1", dst="127.0.0.1") / UDP(sport=1000, dport=2000 + i)
                  / Raw(bytes([i & 0xFF]) * (size + i % 7))) for i in range(count)]


def test_ring_burst_round_trip(eal):
    with eal.attach(f"net_ring{next(_names)}") as port:
        frames = _frames(100)
        burst = port.burst(256)
        assert port.tx_burst(burst.load(frames)) == 100
        assert port.rx_burst(burst) == 100
        assert burst.packets() == frames
        assert port.rx_burst(burst) == 0
        stats = port.stats()
        assert (stats["ipackets"], stats["opackets"]) == (100, 100)
        assert port.pool_in_use() == 0          # every mbuf came back to the pool
        port.reset_stats()
        assert port.stats()["ipackets"] == 0


def test_ring_link_and_mac(eal):
    with eal.attach(f"net_ring{next(_names)}") as port:
        link = port.link()
        assert link.up and link.speed_mbps > 0
        assert len(port.mac.split(":")) == 6


def test_long_packet_is_cut_to_the_slot_and_says_so(eal):
    with eal.attach(f"net_ring{next(_names)}") as port:
        port.send([bytes(range(200))])
        burst = port.burst(4, slot=64)
        assert port.rx_burst(burst) == 1
        assert burst.lens[0] == 200
        assert bytes(burst.packet(0)) == bytes(range(64))


def test_burst_refuses_what_does_not_fit(eal):
    with eal.attach(f"net_ring{next(_names)}") as port:
        with pytest.raises(ValueError, match="slots hold"):
            port.burst(2, slot=64).load([bytes(65)])
        with pytest.raises(ValueError, match="do not fit"):
            port.burst(2).load([b"a", b"b", b"c"])


def test_pcap_replay_and_capture(eal, tmp_path):
    from scapy.utils import rdpcap, wrpcap
    frames = _frames(300)
    wrpcap(str(tmp_path / "in.pcap"), frames)
    name = f"net_pcap{next(_names)}"
    port = eal.attach(f"{name},rx_pcap={tmp_path / 'in.pcap'},tx_pcap={tmp_path / 'out.pcap'}")
    burst = port.burst(32)
    got = []
    for _ in range(100):
        if port.rx_burst(burst) == 0 and len(got) == len(frames):
            break
        got += burst.packets()
    assert got == frames
    assert port.send(got[::-1]) == 300
    assert port.stats()["opackets"] == 300
    port.close()                                # flushes the pcap writer
    assert [bytes(packet) for packet in rdpcap(str(tmp_path / "out.pcap"))] == frames[::-1]


def test_dpdk_errors_carry_dpdk_text(eal):
    with pytest.raises(DpdkError) as caught:
        eal.attach("net_nosuchdriver0")
    assert caught.value.call.startswith("rte_dev_probe")
    assert caught.value.errno > 0 and caught.value.strerror
    assert "net_nosuchdriver0" in caught.value.log     # DPDK's own log line
    with pytest.raises(DpdkError, match="rte_dev_probe"):
        eal.attach(f"net_pcap{next(_names)},rx_pcap=/nonexistent/file.pcap")


def test_missing_dpdk_is_reported_not_hidden(tmp_path):
    env = dict(os.environ, PKG_CONFIG_LIBDIR=str(tmp_path), PKG_CONFIG_PATH="",
               GATEBOOK_CACHE_DIR=str(tmp_path / "cache"))
    code = ("from gatebook.dpdk_bridge import dpdk_available\n"
            "from gatebook.dpdk_bridge.eal import Eal\n"
            "print(dpdk_available())\n"
            "Eal.start()\n")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.stdout.startswith("(False, ") and "pkg-config finds no libdpdk" in done.stdout
    assert done.returncode != 0 and "DpdkUnavailable" in done.stderr
    assert "apt-get install libdpdk-dev" in done.stderr
    build = subprocess.run([sys.executable, "-m", "gatebook.dpdk_bridge.build"], env=env,
                           capture_output=True, text=True)
    assert "DPDK unavailable" in build.stdout


def test_unavailable_is_an_exception_type():
    assert issubclass(DpdkUnavailable, RuntimeError)


def test_port_stats_are_the_fields_of_the_stats_table(eal, monkeypatch):
    """`Port.stats()` names its counters from `_cgen.STATS` (the table `struct gb_stats`
    is generated from), not from a list of its own."""
    from gatebook.dpdk_bridge import _cgen, port as port_module
    with eal.attach(f"net_ring{next(_names)}") as port:
        assert list(port.stats()) == [name for name, *_ in _cgen.STATS]
        fewer = tuple(field for field in _cgen.STATS if field[0] in ("ipackets", "obytes"))
        monkeypatch.setattr(port_module, "STATS", fewer)
        assert list(port.stats()) == ["ipackets", "obytes"]
