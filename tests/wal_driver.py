"""A child exchange for the crash tests: feeds a seeded stream into a JournaledExchange.

    python tests/wal_driver.py LOGDIR POLICY SEED [SNAPSHOT_EVERY] [SEGMENT_BYTES]

It recovers LOGDIR, prints `READY <next seq>`, then submits the seeded stream
from that sequence number on (so a restarted driver continues the same
stream) until killed. `ACK <seq>` lines go to stdout from the log writer's
thread only once every command up to <seq> is durable under POLICY.
"""

import itertools
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from host.clock import ManualClock  # noqa: E402
from host.wal.journal import JournaledExchange  # noqa: E402
from host.wal.loadgen import START_NS, STEP_NS, seeded_commands  # noqa: E402


def main(directory, policy, seed, snapshot_every="0", segment_bytes=str(64 << 20)):
    out = sys.stdout

    def on_ack(seq):
        out.write(f"ACK {seq}\n")
        out.flush()

    exchange = JournaledExchange(directory, policy=policy, on_ack=on_ack,
                                 snapshot_every=int(snapshot_every),
                                 segment_bytes=int(segment_bytes), batch_ms=2)
    next_seq = exchange.sequencer.next_seq
    exchange.sequencer.clock = ManualClock(START_NS + (next_seq - 1) * STEP_NS, STEP_NS)
    out.write(f"READY {next_seq}\n")
    out.flush()
    for command in itertools.islice(seeded_commands(int(seed)), next_seq - 1, None):
        exchange.submit(*command)


if __name__ == "__main__":
    main(*sys.argv[1:])
