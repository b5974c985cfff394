"""`python -m gatebook.sim.cosim --iface IF`: a simulated matching lane at the far end of a packet link.

Point `gatebook run --link-iface ... --link-peer MAC` (or a `PacketLaneLink`)
at the MAC this prints. The lane is the gateware: its Verilog under cocotb
(Icarus by default, or Verilator), or, for long flows, the same Verilog as a
compiled Verilator harness, or the Amaranth design on Amaranth's simulator.
With `--endpoint gateware` the frames themselves go into the link endpoint's
gateware (`gatebook.hdl.link_endpoint`, `gatebook.sim.cosim.endpoint`) instead of being parsed
here. Needs CAP_NET_RAW for the interface.
"""

import argparse
import ctypes
import signal
import sys
import time

__all__ = ["main"]

SIMULATORS = ("icarus", "verilator", "harness", "amaranth")
ENDPOINTS = ("bridge", "gateware")


def _die_with_parent():
    """Ask the kernel to end this process when its parent ends (PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _in_process_lanes(args):
    """A function making a fresh lane of the kind `args.sim` names."""
    if args.sim == "harness":
        from gatebook.sim.hybrid.verilator_link import VerilatorLink as Lane
    else:
        from gatebook.sim.hybrid.amaranth_link import AmaranthLink as Lane
    return lambda: Lane(args.depth, stall=args.stall, seed=args.seed)


def _cocotb(args):
    from gatebook.sim.runner import ROOT, build_and_test
    from .serve import cocotb_settings, run_cocotb
    build_dir = ROOT / "build" / "sim" / f"cosim_{args.sim}_d{args.depth}"
    return run_cocotb(args, build_dir, f"the depth-{args.depth} lane", lambda: build_and_test(
        args.depth, args.sim, build_dir, "gatebook.sim.cosim.cocotb_bridge", waves=args.waves,
        extra_env=cocotb_settings(args)))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m gatebook.sim.cosim",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--iface", required=True, help="kernel interface the link frames use")
    parser.add_argument("--sim", choices=SIMULATORS, default="icarus",
                        help="what runs the lane (default: cocotb on Icarus)")
    parser.add_argument("--endpoint", choices=ENDPOINTS, default="bridge",
                        help="who reads the frames: Python's LaneBridge (the default) or the "
                             "link endpoint's gateware in the simulator (not --sim harness)")
    parser.add_argument("--depth", type=int, default=4, help="window depth (default 4)")
    parser.add_argument("--stall", type=float, default=0.0,
                        help="probability of holding back valid/ready on a clock")
    parser.add_argument("--seed", type=int, default=0, help="seed of the stalls")
    parser.add_argument("--seconds", type=float, default=600, help="serve this long")
    parser.add_argument("--waves", action="store_true", help="write a waveform (cocotb)")
    args = parser.parse_args(argv)
    _die_with_parent()
    signal.signal(signal.SIGTERM, _interrupt)
    if args.endpoint == "gateware":
        from .endpoint import serve_gateware
        return serve_gateware(args)
    if args.sim in ("icarus", "verilator"):
        return _cocotb(args)
    from gatebook.dpdk_bridge.raw import RawSocketPort
    from gatebook.wire.link_frame import ETHERTYPE
    from gatebook.host.net.link import LinkError
    from .bridge import LaneBridge
    from .serve import serve
    port = RawSocketPort(args.iface, ETHERTYPE)
    link_bridge = LaneBridge(port, _in_process_lanes(args))
    try:
        serve(link_bridge, time.monotonic() + args.seconds, f"{args.sim}, depth {args.depth}")
    except LinkError as error:
        print(f"cosim: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        link_bridge.close()
        port.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
