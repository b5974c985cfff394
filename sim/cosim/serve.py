"""What every far end shares: the bridge's serving loop, and launching a cocotb one."""

import select
import sys
import time

__all__ = ["serve", "cocotb_settings", "run_cocotb"]


def serve(bridge, deadline, what, idle=0.05):
    """Serve `bridge` until the monotonic `deadline` (or Ctrl-C); say when ready and when done.

    Between frames it sleeps in select() on the port's socket, so a frame
    wakes it at once and an idle far end costs no CPU.
    """
    print(f"cosim: serving on {bridge.port.iface} ({bridge.port.mac}): {what}", flush=True)
    try:
        while time.monotonic() < deadline:
            if not bridge.poll():
                select.select([bridge.port], [], [], idle)
    finally:
        print(f"cosim: {bridge.sessions} host sessions, {bridge.next_command_frame:,} command "
              f"frames in the last, {bridge.records_in:,} records in, {bridge.records_out:,} "
              f"out, {bridge.ignored:,} other frames ignored", flush=True)


def cocotb_settings(args, **more):
    """The environment a cocotb far end reads its settings from (`python -m gatebook.sim.cosim`'s)."""
    return {"GATEBOOK_DEPTH": str(args.depth), "GATEBOOK_STALL": str(args.stall),
            "GATEBOOK_SEED": str(args.seed), "GATEBOOK_COSIM_IFACE": args.iface,
            "GATEBOOK_COSIM_SECONDS": str(args.seconds), "SIM": args.sim, **more}


def run_cocotb(args, build_dir, what, launch):
    """Build and run a cocotb far end with `launch()`; the exit status.

    Says so and returns 1 when `args.sim` is not installed or the simulation
    fails; Ctrl-C or SIGTERM (which the simulator gets too) is a normal stop.
    """
    import pytest

    from gatebook.sim.runner import require_simulator
    try:
        require_simulator(args.sim)
    except pytest.skip.Exception as why:
        print(f"cosim: {why}", file=sys.stderr)
        return 1
    print(f"cosim: building {what} for {args.sim} in {build_dir}", flush=True)
    try:
        launch()
    except SystemExit as failed:
        print(f"cosim: the simulation failed ({failed}); see {build_dir}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cosim: stopped", flush=True)
    return 0
