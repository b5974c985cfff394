"""`python -m gatebook.sim.cosim --endpoint gateware`: frames straight into the link endpoint's gateware.

With the default `--endpoint bridge`, Python (`LaneBridge`) parses the command
frames and drives a simulated lane. Here nothing in Python reads a frame: every
Ethernet frame the interface receives goes, byte by byte, into
`gatebook.hdl.link_endpoint.LaneEndpoint(depth, mac)` (`mac` is the interface's), which checks
it, feeds the lane and writes the event frames that go back out; other traffic on
the interface reaches the endpoint too and is counted in its drop counters. The
simulator is cocotb (`--sim icarus` or `verilator`, `gatebook.sim.cosim.cocotb_endpoint`) or
Amaranth's (`--sim amaranth`, `gatebook.sim.endpoint.amaranth_port.EndpointPort`).
"""

import select
import sys
import time

__all__ = ["serve_gateware", "endpoint_verilog", "endpoint_runner", "ETH_P_ALL", "TOPLEVEL"]

ETH_P_ALL = 0x0003
TOPLEVEL = "endpoint"
# Verilator's lint warnings on Amaranth's Verilog run to ~70 kB of stderr, more than a pipe
# holds: a launcher that reads only stdout until "serving" (gatebook.sim.cosim.netns.FarEnd) would
# wait forever on a build blocked writing them. Nothing lint says here is ours to fix.
_VERILATOR_ARGS = ["-Wno-fatal", "-Wno-lint", "-Wno-style"]


def _mac(iface):
    with open(f"/sys/class/net/{iface}/address") as address:
        return address.read().strip()


def serve_gateware(args):
    """Serve the link on `args.iface` with the endpoint's gateware; the exit status."""
    if args.sim in ("icarus", "verilator"):
        return _cocotb(args)
    if args.sim == "amaranth":
        return _amaranth(args)
    print(f"cosim: --endpoint gateware runs on icarus, verilator or amaranth, not {args.sim}",
          file=sys.stderr)
    return 2


def endpoint_verilog(depth, mac):
    """The cached Verilog file of `LaneEndpoint(depth, mac)`, module name `TOPLEVEL`."""
    from gatebook.hdl.link_endpoint import LaneEndpoint
    from gatebook.sim.build_cache import cached_verilog
    return cached_verilog("endpoint", {"depth": depth, "mac": mac},
                          lambda: LaneEndpoint(depth, mac), TOPLEVEL)


def endpoint_runner(sim, depth, mac, waves=False):
    """The cocotb runner of `LaneEndpoint(depth, mac)`'s Verilog, built for `sim` (both
    from the build cache: converted and compiled only when the design changed)."""
    from gatebook.sim.runner import built_runner
    return built_runner(sim, endpoint_verilog(depth, mac), TOPLEVEL, waves=waves,
                        build_args=_VERILATOR_ARGS if sim == "verilator" else ())


def _cocotb(args):
    from gatebook.sim.runner import ROOT, run_bench
    from .serve import cocotb_settings, run_cocotb
    mac = _mac(args.iface)
    test_dir = ROOT / "build" / "sim" / f"cosim_endpoint_{args.sim}_d{args.depth}"

    def launch():
        runner = endpoint_runner(args.sim, args.depth, mac, args.waves)
        run_bench(runner, args.sim, TOPLEVEL, "gatebook.sim.cosim.cocotb_endpoint", test_dir,
                  waves=args.waves, extra_env=cocotb_settings(args, GATEBOOK_COSIM_MAC=mac))
    return run_cocotb(args, test_dir, f"the depth-{args.depth} link endpoint ({mac})", launch)


def _amaranth(args):
    from gatebook.dpdk_bridge.raw import RawSocketPort
    from gatebook.sim.endpoint.amaranth_port import EndpointPort
    port = RawSocketPort(args.iface, ETH_P_ALL)
    endpoint = EndpointPort(args.depth, port.mac, host_mac=port.mac, stall=args.stall,
                            seed=args.seed, vcd=None)
    sessions, frames_in, frames_out = 0, 0, 0
    deadline = time.monotonic() + args.seconds
    print(f"cosim: serving on {port.iface} ({port.mac}): gateware endpoint, amaranth, "
          f"depth {args.depth}", flush=True)
    try:
        while time.monotonic() < deadline:
            frames = port.recv(64)
            if not frames:
                select.select([port], [], [], 0.05)     # a frame wakes it at once
                continue
            frames_in += endpoint.send(frames)
            out = endpoint.run_until_idle()
            frames_out += port.send(out)
            counters = endpoint.counters()
            while sessions < counters["sessions"]:
                sessions += 1
                print(f"cosim: command frame 0 again: host session {sessions + 1}, "
                      "the lane is reset", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        counters = endpoint.counters()
        drops = {name: n for name, n in counters.items()
                 if n and name not in ("frames", "answered", "sent", "sessions")}
        print(f"cosim: {sessions + 1} host sessions, {counters['frames']:,} command frames "
              f"committed in the last, {frames_in:,} frames in, {frames_out:,} out, "
              f"{endpoint.cycles:,} clocks, dropped: {drops or 'none'}", flush=True)
        endpoint.close()
        port.close()
    return 0
