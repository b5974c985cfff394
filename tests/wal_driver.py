"""A child exchange for the crash tests: feeds a seeded stream into a JournaledExchange.

    python tests/wal_driver.py LOGDIR POLICY SEED [SNAPSHOT_EVERY] [SEGMENT_BYTES]
                               [campaign | replicate SECRET_FILE]

It recovers LOGDIR, prints `READY <next seq>` (then, after the port below if
any, `recovery=<seconds> replayed=<commands> snapshot=<seq used>`), then
submits the seeded stream from that sequence number on (so a restarted
driver continues the same stream) until killed. In mode `campaign` each
start submits a fresh stream instead, `campaign_stream(SEED, next seq)`:
positioning one long stream costs seconds once the log is long, which a
campaign of hundreds of restarts cannot afford. `ACK <seq>` lines go to
stdout from the log writer's thread only once every command up to <seq> is
durable under POLICY. With `replicate` (mode) it also serves a hot standby on
a free loopback port (printed after READY), acknowledges only what the standby has logged too, and paces
itself (a short sleep every 50 commands) so the standby keeps up.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from gatebook.host.clock import ManualClock  # noqa: E402
from gatebook.host.wal.journal import JournaledExchange  # noqa: E402
from gatebook.host.wal.loadgen import START_NS, STEP_NS, seeded_commands  # noqa: E402
from gatebook.host.wal.channel import load_secret  # noqa: E402
from gatebook.host.wal.replication import ReplicationServer  # noqa: E402


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
    if mode == "campaign":
        stream = campaign_stream(int(seed), next_seq)
    else:
        stream = seeded_commands(int(seed))
        for _ in range(next_seq - 1):           # position the stream before saying READY
            next(stream)
    report = exchange.recovery
    out.write(f"READY {next_seq}{port} recovery={report.seconds:.6f} replayed={report.replayed} "
              f"snapshot={report.snapshot_seq}\n")
    out.flush()
    for count, command in enumerate(stream):
        exchange.submit(*command)
        if port and count % 50 == 49:
            time.sleep(0.002)


def campaign_stream(seed, next_seq):
    """The commands a `campaign` driver submits from `next_seq` on: a seeded stream of
    its own whose order ids start at `next_seq` (no logged command used one as high)."""
    return seeded_commands(seed * 1_000_003 + next_seq, first_order_id=next_seq)


if __name__ == "__main__":
    main(*sys.argv[1:])
