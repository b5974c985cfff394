"""A child exchange for the crash tests: feeds a seeded stream into a JournaledExchange.

    python tests/wal_driver.py LOGDIR POLICY SEED [SNAPSHOT_EVERY] [SEGMENT_BYTES] [replicate SECRET_FILE]

It recovers LOGDIR, prints `READY <next seq>`, then submits the seeded stream
from that sequence number on (so a restarted driver continues the same
stream) until killed. `ACK <seq>` lines go to stdout from the log writer's
thread only once every command up to <seq> is durable under POLICY. With
`replicate` it also serves a hot standby on a free loopback port (printed
after READY), acknowledges only what the standby has logged too, and paces
itself (a short sleep every 50 commands) so the standby keeps up.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from host.clock import ManualClock  # noqa: E402
from host.wal.journal import JournaledExchange  # noqa: E402
from host.wal.loadgen import START_NS, STEP_NS, seeded_commands  # noqa: E402
from host.wal.channel import load_secret  # noqa: E402
from host.wal.replication import ReplicationServer  # noqa: E402


def main(directory, policy, seed, snapshot_every="0", segment_bytes=str(64 << 20), mode="",
         secret_file=""):
    out = sys.stdout

    def on_ack(seq):
        out.write(f"ACK {seq}\n")
        out.flush()

    exchange = JournaledExchange(directory, policy=policy, on_ack=on_ack,
                                 snapshot_every=int(snapshot_every),
                                 segment_bytes=int(segment_bytes), batch_ms=2)
    next_seq = exchange.sequencer.next_seq
    exchange.sequencer.clock = ManualClock(START_NS + (next_seq - 1) * STEP_NS, STEP_NS)
    port = ""
    if mode == "replicate":
        server = ReplicationServer(exchange, heartbeat_interval=0.1, synchronous=True,
                                   secret=load_secret(secret_file))
        port = f" {server.address[1]}"
    stream = seeded_commands(int(seed))
    for _ in range(next_seq - 1):               # position the stream before saying READY
        next(stream)
    out.write(f"READY {next_seq}{port}\n")
    out.flush()
    for count, command in enumerate(stream):
        exchange.submit(*command)
        if port and count % 50 == 49:
            time.sleep(0.002)


if __name__ == "__main__":
    main(*sys.argv[1:])
