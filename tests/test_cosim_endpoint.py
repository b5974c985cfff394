"""The packet link with the frames handled in gateware: `python -m sim.cosim --endpoint
gateware` puts every Ethernet frame from the veth into `hdl.link_endpoint.LaneEndpoint`'s
Verilog under cocotb (Icarus) and sends whatever frames it writes; no Python reads a
frame at the far end. The host is unchanged: `PacketLaneLink` through a DPDK af_packet
port, as in tests/test_dpdk_link.py (whose namespace fixture and helpers this reuses).
Also the endpoint's Verilog alone under cocotb with every kind of bad frame.
"""

import subprocess
import sys

import pytest

from host.net.link import PacketLaneLink
from sim.cosim.netns import FarEnd
from sim.flows import SYMBOL, eviction, hybrid_flow, window_pressure
from sim.hybrid.equivalence import run_hybrid

from test_dpdk_link import (_CLIENT, _GATE, _REPO, _names, eal, link_netns,  # noqa: F401,E402 (fixtures)
                            needs_dpdk)
from test_dpdk_netns import _serve_until_done  # noqa: E402 (tests/ is on sys.path)


def _gateware_far_end(ns, iface, sim="icarus", stall=0.0):
    """`python -m sim.cosim --endpoint gateware` in the namespace, serving on `iface`."""
    return FarEnd(ns, iface, sim, stall=stall, extra=("--endpoint", "gateware"))


@needs_dpdk
@pytest.mark.parametrize("sim", ["icarus", pytest.param("verilator", marks=pytest.mark.long)])
def test_hybrid_host_over_dpdk_and_the_gateware_endpoint_is_the_golden_engine(eal, link_netns,
                                                                               sim):
    from sim.runner import require_simulator
    require_simulator(sim)
    ns, pairs = link_netns
    far = _gateware_far_end(ns, pairs[1][1], sim, stall=0.2)

    def make_link(depth, index, vcd):          # a new host session: the endpoint resets its lane
        port = eal.attach(f"net_af_packet{next(_names)},iface={pairs[1][0]}")
        return PacketLaneLink(port, far.mac, depth, timeout=30)

    try:
        for name, flow, window in [("window_pressure", window_pressure(4), 1),
                                   ("eviction", eviction(4), 1),
                                   ("adversarial", hybrid_flow(11, 1000, symbols=(SYMBOL, 3)), 8)]:
            hybrid = run_hybrid(flow, make_link, depths=[4], homes=[SYMBOL], window=window,
                                hash_every=250)
            assert hybrid.lane_commands > len(flow) // 10, name     # the lane did match
    finally:
        out = far.stop()
    assert f"gateware endpoint, cocotb {sim}, depth 4" in out, out
    assert out.count("the lane is reset") == 2, out


@needs_dpdk
def test_scapy_order_through_dpdk_host_link_and_gateware_endpoint_and_back(eal, link_netns):
    from dpdk_bridge.udp import DpdkUdp
    from host.clock import ManualClock
    from host.hybrid import HybridExchange
    from host.net.exchange_server import Exchange
    from host.symbols import DEFAULT_SYMBOLS
    from sim.runner import require_simulator
    require_simulator("icarus")
    ns, pairs = link_netns
    far = _gateware_far_end(ns, pairs[1][1], "icarus")
    orders = DpdkUdp(eal.attach(f"net_af_packet{next(_names)},iface={pairs[0][0]}"),
                     "198.18.1.1", 15000)
    link_port = eal.attach(f"net_af_packet{next(_names)},iface={pairs[1][0]}")
    hybrid = HybridExchange(DEFAULT_SYMBOLS, [PacketLaneLink(link_port, far.mac, 4)], [_GATE])
    exchange = Exchange(orders, DEFAULT_SYMBOLS, ManualClock(1_700_000_000_000_000_000, 1000),
                        engine=hybrid)
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
    assert out.strip() == "[(1, 100, 1000000, 'A', 0), (2, 100, 1000000, 'R', 0)]"
    assert exchange.gateway.messages == 2
    # the gateware matched them, and the frames went through the endpoint's own parser
    assert hybrid.lane_commands == 2 and hybrid.lanes[0].loads == 1
    assert "gateware endpoint, cocotb icarus, depth 4" in far_out


def test_the_gateware_endpoint_on_amaranth_through_a_kernel_socket(link_netns):
    """`--endpoint gateware --sim amaranth`, reached through a kernel AF_PACKET socket."""
    from dpdk_bridge.raw import RawSocketPort
    from gatebook.wire.link_frame import ETHERTYPE
    ns, pairs = link_netns
    far = _gateware_far_end(ns, pairs[1][1], "amaranth", stall=0.2)

    def make_link(depth, index, vcd):
        return PacketLaneLink(RawSocketPort(pairs[1][0], ETHERTYPE), far.mac, depth, timeout=30)

    try:
        for flow in (window_pressure(4), eviction(4)):
            hybrid = run_hybrid(flow, make_link, depths=[4], homes=[SYMBOL], window=1)
            assert hybrid.lane_commands > len(flow) // 2
    finally:
        out = far.stop()
    assert "gateware endpoint, amaranth, depth 4" in out, out
    assert out.count("the lane is reset") == 1, out


def test_bad_frames_in_the_endpoints_verilog():
    """The Amaranth tests' bad frames, bad FCS, cut-off frame and session restart, on the
    endpoint's Verilog under cocotb and Icarus (sim/endpoint/test_endpoint_cocotb.py)."""
    from sim.endpoint import test_endpoint_cocotb as bench
    bench.test_endpoint(4)
