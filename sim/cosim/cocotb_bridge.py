"""cocotb test module: the lane's Verilog serving a packet link (run by `python -m gatebook.sim.cosim`).

The simulator (Icarus or Verilator) runs `gatebook.hdl.matcher.Matcher(depth)`'s
Verilog; this test opens the link interface, and a cocotb `bridge` thread runs
`LaneBridge` over a `CocotbLink`, so each command frame is clocked through
the gateware as it arrives. Settings come from the environment the launcher
sets: GATEBOOK_COSIM_IFACE, GATEBOOK_DEPTH, GATEBOOK_STALL, GATEBOOK_SEED,
GATEBOOK_COSIM_SECONDS.
"""

import ctypes
import os
import signal
import time

import cocotb
from amaranth.hdl import Fragment
from cocotb.clock import Clock
from cocotb.task import bridge

from gatebook.dpdk_bridge.raw import RawSocketPort
from gatebook.wire.link_frame import ETHERTYPE
from gatebook.hdl.driver import MatcherCodec
from gatebook.hdl.matcher import Matcher
from gatebook.sim.hybrid.cocotb_link import CocotbLink, settle

from .bridge import LaneBridge
from .serve import serve


@cocotb.test()
async def serve_link(dut):
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)     # end with the launcher (PR_SET_PDEATHSIG)
    depth = int(os.environ["GATEBOOK_DEPTH"])
    component = Matcher(depth)
    codec = MatcherCodec(component)                 # widths from the component (STYLE 4)
    Fragment.get(component, None)
    Clock(dut.clk, 10, unit="ns").start()
    await settle(dut, codec)
    port = RawSocketPort(os.environ["GATEBOOK_COSIM_IFACE"], ETHERTYPE)
    stall = float(os.environ.get("GATEBOOK_STALL", "0"))
    seed = int(os.environ.get("GATEBOOK_SEED", "0"))

    def make_lane():                                # each one resets the lane
        return CocotbLink(dut, codec, stall=stall, seed=seed)

    deadline = time.monotonic() + float(os.environ["GATEBOOK_COSIM_SECONDS"])
    link_bridge = await bridge(LaneBridge)(port, make_lane)
    await bridge(serve)(link_bridge, deadline,
                        f"cocotb {os.environ.get('SIM', 'icarus')}, depth {depth}")
    dut._log.info("%d cycles in the last session", link_bridge.lane.cycles)
