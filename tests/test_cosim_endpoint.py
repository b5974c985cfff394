"""The packet link with the frames handled in gateware: `python -m gatebook.sim.cosim --endpoint
gateware` puts every Ethernet frame from the veth into `gatebook.hdl.link_endpoint.LaneEndpoint`'s
Verilog under cocotb (Icarus) and sends whatever frames it writes; no Python reads a
frame at the far end. The host is unchanged: `PacketLaneLink` through a DPDK af_packet
port, as in tests/test_dpdk_link.py (whose namespace fixture and helpers this reuses).
Also the endpoint's Verilog alone under cocotb with every kind of bad frame.
"""

import pytest

from gatebook.host.net.link import PacketLaneLink
from gatebook.sim.cosim.netns import FarEnd
from gatebook.sim.flows import SYMBOL, eviction, window_pressure
from gatebook.sim.hybrid.equivalence import run_hybrid

from test_dpdk_link import (FLOWS, eal, flows_against_golden, link_netns,  # noqa: F401,E402 (fixtures)
                            needs_dpdk, whole_path_through)


def _gateware_far_end(ns, iface, sim="icarus", stall=0.0):
    """`python -m gatebook.sim.cosim --endpoint gateware` in the namespace, serving on `iface`."""
    return FarEnd(ns, iface, sim, stall=stall, extra=("--endpoint", "gateware"))


@needs_dpdk
@pytest.mark.parametrize("sim, commands, flows", [
    # By default the adversarial flow alone, shorter (it loads, hands over and evicts too;
    # the endpoint's Verilog on Icarus costs seconds per flow); all three with --run-long.
    ("icarus", 400, ("adversarial",)),
    pytest.param("icarus", 1000, FLOWS, marks=pytest.mark.long),
    pytest.param("verilator", 1000, FLOWS, marks=pytest.mark.long)])
def test_hybrid_host_over_dpdk_and_the_gateware_endpoint_is_the_golden_engine(eal, link_netns,
                                                                               sim, commands,
                                                                               flows):
    from gatebook.sim.runner import require_simulator
    require_simulator(sim)
    ns, pairs = link_netns
    out = flows_against_golden(eal, link_netns, _gateware_far_end(ns, pairs[1][1], sim, stall=0.2),
                               commands, timeout=30, flows=flows)
    assert f"gateware endpoint, cocotb {sim}, depth 4" in out, out
    assert out.count("the lane is reset") == len(flows) - 1, out


@needs_dpdk
def test_scapy_order_through_dpdk_host_link_and_gateware_endpoint_and_back(eal, link_netns):
    from gatebook.sim.runner import require_simulator
    require_simulator("icarus")
    ns, pairs = link_netns
    far_out = whole_path_through(eal, link_netns, _gateware_far_end(ns, pairs[1][1], "icarus"))
    # the frames went through the endpoint's own parser
    assert "gateware endpoint, cocotb icarus, depth 4" in far_out


def test_the_gateware_endpoint_on_amaranth_through_a_kernel_socket(link_netns):
    """`--endpoint gateware --sim amaranth`, reached through a kernel AF_PACKET socket."""
    from gatebook.dpdk_bridge.raw import RawSocketPort
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
    from gatebook.sim.endpoint import test_endpoint_cocotb as bench
    bench.test_endpoint(4)
