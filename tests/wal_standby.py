"""A hot-standby process for the failover test.

    python tests/wal_standby.py LOGDIR PORT SEED HEARTBEAT_TIMEOUT SECRET_FILE

Follows the primary on 127.0.0.1:PORT (authenticated with the secret in
SECRET_FILE), printing `FOLLOWING <next seq>`. When the primary is gone
(silent, and reconnecting fails for the heartbeat timeout) it prints `PROMOTED <last seq> <state hash>
<seconds of silence>`, then for each line N on stdin submits the next N
commands of the same seeded stream and prints `ACK <seq>` once durable.
"""

import itertools
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from gatebook.host.clock import ManualClock  # noqa: E402
from gatebook.host.wal.loadgen import START_NS, STEP_NS, seeded_commands  # noqa: E402
from gatebook.host.wal.channel import load_secret  # noqa: E402
from gatebook.host.wal.standby import Follower  # noqa: E402


def main(directory, port, seed, heartbeat_timeout, secret_file):
    follower = Follower(directory, ("127.0.0.1", int(port)), secret=load_secret(secret_file),
                        heartbeat_timeout=float(heartbeat_timeout))
    print(f"FOLLOWING {follower.next_seq}", flush=True)
    silence = follower.follow()
    last_seq = follower.next_seq - 1
    exchange = follower.promote(clock=ManualClock(START_NS + last_seq * STEP_NS, STEP_NS))
    print(f"PROMOTED {last_seq} {exchange.engine.state_hash()} {silence:.3f}", flush=True)
    stream = itertools.islice(seeded_commands(int(seed)), last_seq, None)
    for line in sys.stdin:
        for command in itertools.islice(stream, int(line)):
            seq, _ = exchange.submit(*command)
        exchange.writer.wait_acked(seq)
        print(f"ACK {seq}", flush=True)
    exchange.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
