"""cocotb bench of the hybrid host: `HybridExchange` over the lane's Verilog (Icarus, Verilator).

The third `LaneLink`, `gatebook.sim.hybrid.cocotb_link.CocotbLink`, drives the
generated Verilog of `gatebook.hdl.matcher.Matcher(depth)` inside the simulator, with
random valid/ready stalls; the host runs in a cocotb `bridge` thread, through
the same `gatebook.sim.hybrid.equivalence.run_hybrid` the Amaranth and Verilator links
run. `test_hybrid(depth)` is what pytest calls
(tests/test_sim_hybrid.py); a failure is run again with waves and names the
seq and the FST file.
"""

import os
from pathlib import Path

import cocotb
from amaranth.hdl import Fragment
from cocotb.clock import Clock
from cocotb.task import bridge

from gatebook.hdl.driver import MatcherCodec
from gatebook.hdl.matcher import Matcher
from gatebook.sim.flows import SYMBOL, directed, eviction, hybrid_flow, window_pressure
from gatebook.sim.hybrid.equivalence import run_hybrid
from gatebook.sim.runner import FAILURE_FILE, ROOT, build_and_test, require_simulator

from .cocotb_link import CocotbLink, settle

__all__ = ["test_hybrid"]


def _flows(depth):
    flows = [(name, commands, 1) for name, commands in sorted(directed().items())]
    flows.append(("window_pressure", window_pressure(depth), 1))
    flows.append(("eviction", eviction(depth), 1))
    count = int(os.environ.get("GATEBOOK_HYBRID_COMMANDS", "500"))
    flows.append(("adversarial", hybrid_flow(int(os.environ.get("GATEBOOK_SEED", "3")), count,
                                             symbols=(SYMBOL, 3)), 4))
    wanted = os.environ.get("GATEBOOK_FLOWS")
    return [flow for flow in flows if not wanted or flow[0] in wanted.split(",")]


@cocotb.test()
async def run_test_hybrid(dut):
    depth = int(os.environ["GATEBOOK_DEPTH"])
    stall = float(os.environ.get("GATEBOOK_STALL", "0.3"))
    component = Matcher(depth)
    codec = MatcherCodec(component)                 # widths from the component (STYLE 4)
    Fragment.get(component, None)                   # elaborated: Amaranth checks it is used
    Clock(dut.clk, 10, unit="ns").start()
    await settle(dut, codec)

    def host():
        for index, (name, commands, window) in enumerate(_flows(depth)):
            def make(lane_depth, lane, vcd):
                return CocotbLink(dut, codec, stall=stall, seed=index)
            try:
                hybrid = run_hybrid(commands, make, depths=[depth], homes=[SYMBOL],
                                    window=window, hash_every=100)
            except AssertionError as error:
                Path(FAILURE_FILE).write_text(f"{name}: {error}")
                raise
            dut._log.info("%s: %d commands, %d in the lane, punts %s", name, len(commands),
                          hybrid.lane_commands, dict(hybrid.punts))
    await bridge(host)()


# -- the pytest side ---------------------------------------------------------------

def test_dir_of(depth, sim):
    return ROOT / "build" / "sim" / f"hybrid_{sim}_d{depth}"


def _run(depth, sim, commands, waves):
    build_and_test(depth, sim, test_dir_of(depth, sim), "gatebook.sim.hybrid.test_hybrid_cocotb",
                   waves=waves, extra_env={"GATEBOOK_DEPTH": str(depth),
                                           "GATEBOOK_HYBRID_COMMANDS": str(commands)})


def test_hybrid(depth, commands=500, sim="icarus"):
    """Run the bench; on failure run it again with waves and name the seq and the wave file."""
    require_simulator(sim)
    try:
        _run(depth, sim, commands, waves=False)
    except SystemExit:
        test_dir = test_dir_of(depth, sim)
        try:
            _run(depth, sim, commands, waves=True)
        except SystemExit:
            pass
        failure = test_dir / FAILURE_FILE
        detail = failure.read_text().strip() if failure.exists() else "see the cocotb log"
        waves = sorted(test_dir.glob("*.fst")) + sorted(test_dir.glob("*.vcd"))
        raise AssertionError(f"hybrid bench ({sim}, depth {depth}) failed: {detail}; "
                             f"waveform: {waves[0] if waves else test_dir}") from None
