"""The bridge's serving loop, shared by every simulator behind it."""

import select
import time

__all__ = ["serve"]


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
