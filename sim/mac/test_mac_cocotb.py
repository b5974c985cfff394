"""cocotb bench of the unit a board carries: MAC, link endpoint and lane, on RGMII pins,
driven by cocotbext-eth's RGMII source and sink (an Ethernet model written elsewhere).

`test_mac(depth)` converts `gatebook.sim.mac.top.MacBenchTop(depth)` to Verilog and builds
it (through `gatebook.sim.build_cache`), then runs `run_test_mac` in
`build/sim/mac_<sim>_d<depth>`: the core clock at 125 MHz, the PHY's receive clock
`phy_ps` picoseconds a period (0.1 % slower by default) and out of phase, so the receive
side crosses clocks for real, and TXC 2 ns after the core clock (`gatebook.sim.mac.top`).
The hybrid host runs in a cocotb `bridge` thread over `PacketLaneLink` through
`gatebook.sim.mac.rgmii_port.RgmiiPort`: scapy-built command frames in, event frames out,
the merged events checked against the golden engine (`gatebook.host.engine.MatchingEngine`)
event for event and by state hash (`gatebook.sim.hybrid.equivalence.run_hybrid`). Every
third frame is preceded by a broken copy (bad FCS, runt, oversized, RX_ER, bad preamble):
the MAC must count each under its reason, the endpoint must see none of them whole, and the
real frames after them must pass unharmed (else the equivalence fails).
"""

import logging
import os
from collections import Counter
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.task import bridge
from cocotb.triggers import ClockCycles, FallingEdge, Timer
from cocotbext.eth import GmiiFrame, RgmiiSink, RgmiiSource

from gatebook.wire import link_frame as lf
from gatebook.hdl.link_rx import DropReason
from gatebook.hdl.mac.gmii import MacDrop
from gatebook.host.net.link import PacketLaneLink, pack_frames
from gatebook.sim.endpoint.amaranth_port import ENDPOINT_MAC, HOST_MAC
from gatebook.sim.flows import SYMBOL, directed, eviction, hybrid_flow, window_pressure
from gatebook.sim.hybrid.cocotb_link import CANCEL_CODE, LOAD_CODE
from gatebook.sim.hybrid.equivalence import run_hybrid
from gatebook.sim.runner import FAILURE_FILE

from .rgmii_port import HOSTILE, RgmiiPort

__all__ = ["test_mac"]

CORE_PS, TX_DELAY_PS = 8000, 2000


def _flows(depth):
    count = int(os.environ.get("GATEBOOK_MAC_COMMANDS", "150"))
    seed = int(os.environ.get("GATEBOOK_SEED", "5"))
    flows = [("adversarial", hybrid_flow(seed, count, symbols=(SYMBOL, 3)), 4)]
    if os.environ.get("GATEBOOK_MAC_ALL"):
        flows = ([(name, commands, 1) for name, commands in sorted(directed().items())]
                 + [("window_pressure", window_pressure(depth), 1),
                    ("eviction", eviction(depth), 1)] + flows)
    return flows


def _settling_frames():
    """Icarus runs no `always @*` block at time 0: one frame that makes each window's
    order-id CAM hit once (as `gatebook.sim.hybrid.cocotb_link.settle` does for the lane)."""
    entry = (1, 0, 1, 1, 0, 0, 1_000_000, 0, 1, 1)
    records = [(LOAD_CODE,) + entry, (LOAD_CODE,) + entry[:1] + (1, 2) + entry[3:],
               (CANCEL_CODE, 1, 0, 1, 1), (CANCEL_CODE, 2, 0, 2, 1)]
    return pack_frames(ENDPOINT_MAC, HOST_MAC, lf.COMMANDS, 0, records)


async def _reset(dut):
    await FallingEdge(dut.clk)
    dut.rst.value = 1
    await ClockCycles(dut.clk, 4)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 8)           # the receive clock's reset synchronizer lets go


def _counters(dut):
    def fields(handle, names):
        value = handle.value.to_unsigned()
        return {name: (value >> (32 * k)) & 0xFFFF_FFFF for k, name in enumerate(names)}
    mac = fields(dut.mac_drops, [reason.name.lower() for reason in MacDrop])
    endpoint = fields(dut.drops, [reason.name.lower() for reason in DropReason])
    return mac, endpoint


@cocotb.test()
async def run_test_mac(dut):
    depth = int(os.environ["GATEBOOK_DEPTH"])
    every = int(os.environ.get("GATEBOOK_MAC_EVERY", "3"))
    dut.rst.value = 1
    Clock(dut.clk, CORE_PS, unit="ps").start()
    phy_ps = int(os.environ.get("GATEBOOK_MAC_PHY_PS", "8008"))
    Clock(dut.rgmii_rx_clk, phy_ps, unit="ps").start(start_high=False)
    await Timer(TX_DELAY_PS, unit="ps")
    Clock(dut.tx_clk90, CORE_PS, unit="ps").start()
    source = RgmiiSource(dut.rgmii_rxd, dut.rgmii_rx_ctl, dut.rgmii_rx_clk)
    sink = RgmiiSink(dut.rgmii_txd, dut.rgmii_tx_ctl, dut.rgmii_txc)
    for model in (source, sink):
        model.log.setLevel(logging.WARNING)             # not a line per frame
    await _reset(dut)
    for frame in _settling_frames():
        await source.send(GmiiFrame.from_payload(frame))
    await sink.recv()
    await _reset(dut)
    sink.clear()

    ports = []

    def host():
        for index, (name, commands, window) in enumerate(_flows(depth)):
            def make(lane_depth, lane, vcd):
                port = RgmiiPort(dut, source, sink, every=every)
                ports.append(port)
                return PacketLaneLink(port, ENDPOINT_MAC, lane_depth, timeout=300)
            try:
                hybrid = run_hybrid(commands, make, depths=[depth], homes=[SYMBOL],
                                    window=window, hash_every=50)
            except AssertionError as error:
                Path(FAILURE_FILE).write_text(f"{name}: {error}")
                raise
            dut._log.info("%s: %d commands, %d in the lane, %d frames out and back",
                          name, len(commands), hybrid.lane_commands, ports[-1].sent)
    await bridge(host)()

    await source.wait()
    await ClockCycles(dut.clk, 16)                      # the counters cross to the core clock
    mac, endpoint = _counters(dut)
    injected = sum((port.injected for port in ports), start=Counter())
    dut._log.info("broken frames sent %s; MAC dropped %s; endpoint dropped %s",
                  dict(injected), mac, endpoint)
    want_mac = {reason.name.lower(): injected[reason] for reason in MacDrop}
    assert mac == want_mac, f"MAC drops {mac}, want {want_mac}"
    # every broken frame that got past its fifth byte after the SFD reached the endpoint
    # flagged, and only those: it counts them under `fcs` and nothing else
    flagged = sum(injected.values()) - injected[MacDrop.PREAMBLE]
    want_endpoint = {reason.name.lower(): 0 for reason in DropReason}
    want_endpoint["fcs"] = flagged
    assert endpoint == want_endpoint, f"endpoint drops {endpoint}, want {want_endpoint}"
    assert set(injected) == set(HOSTILE), f"broken frames sent: {dict(injected)}"
    # the MAC's frame counters run across host sessions: every port's frames
    sent, received = sum(port.sent for port in ports), sum(port.received for port in ports)
    assert int(dut.rx_frames.value) == sent, (int(dut.rx_frames.value), sent)
    assert int(dut.tx_frames.value) == received and int(dut.underruns.value) == 0


# -- the pytest side ---------------------------------------------------------------

def test_dir_of(depth, sim):
    from gatebook.sim.runner import ROOT
    return ROOT / "build" / "sim" / f"mac_{sim}_d{depth}"


def test_mac(depth=2, commands=150, sim="icarus", all_flows=False, every=3, phy_ps=8008):
    """Convert and build the bench top (both from the build cache: again only when hdl/,
    gatebook/wire/ or sim/mac/ changed) and run the bench; AssertionError naming the flow
    and the log if it fails."""
    from cocotb_tools.runner import get_results

    from gatebook.sim.build_cache import DESIGN_FOLDERS, cached_verilog, design_digest
    from gatebook.sim.runner import built_runner, require_simulator, run_bench
    from .top import TOPLEVEL, MacBenchTop
    require_simulator(sim)
    test_dir = test_dir_of(depth, sim)
    digest = design_digest(DESIGN_FOLDERS + (Path(__file__).parent,))     # the top is here
    source = cached_verilog("mac-bench", {"depth": depth, "mac": ENDPOINT_MAC},
                            lambda: MacBenchTop(depth, ENDPOINT_MAC), TOPLEVEL, digest=digest)
    runner = built_runner(sim, source, TOPLEVEL)
    env = {"GATEBOOK_DEPTH": str(depth), "GATEBOOK_MAC_COMMANDS": str(commands),
           "GATEBOOK_MAC_EVERY": str(every), "GATEBOOK_MAC_PHY_PS": str(phy_ps)}
    if all_flows:
        env["GATEBOOK_MAC_ALL"] = "1"
    try:
        results = run_bench(runner, sim, TOPLEVEL, "gatebook.sim.mac.test_mac_cocotb", test_dir,
                            extra_env=env)
        tests, failed = get_results(results)
    except SystemExit:
        tests, failed = 0, 1
    if failed or not tests:
        failure = test_dir / FAILURE_FILE
        detail = failure.read_text().strip() if failure.exists() else "see the cocotb log above"
        raise AssertionError(f"the MAC bench ({sim}, depth {depth}) failed: {detail}; {test_dir}")
