"""Hot standby over TCP loopback: kill the primary mid-flow, the follower takes over.

Real processes: tests/wal_driver.py is the primary (synchronous replication:
it acknowledges only what the follower has logged), tests/wal_standby.py the
follower. The primary is SIGKILLed mid-flow; the follower must hold every
acknowledged command, equal the primary's durable log at its own last seq
(event for event: it checked every OUTPUT record as it went), promote itself
after the heartbeat timeout (its reconnection attempts all refused), and give
the next commands the next seqs.
"""

import os
import signal
import subprocess
import sys
import time

from gatebook.host.engine import MatchingEngine
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.host.wal.loadgen import seeded_commands, stamped
from gatebook.host.wal.recovery import recover

from waiting import read_until

HERE = os.path.dirname(__file__)
SEED = 17
TIMEOUT = 0.5
MID_FLOW = 300          # the primary is killed once the follower has logged this many
HANG_SECONDS = 20       # a promotion later than this after the kill is a hang


def _acked(line):
    return int(line.split()[1]) if line.startswith("ACK") else 0


def _reference(count):
    engine = MatchingEngine(DEFAULT_SYMBOLS)
    for command in stamped(seeded_commands(SEED, count)):
        engine.apply(command)
    return engine


def test_follower_takes_over_with_no_gap_and_nothing_acknowledged_lost(tmp_path):
    primary_dir, follower_dir = str(tmp_path / "primary"), str(tmp_path / "follower")
    secret = tmp_path / "secret"
    secret.write_bytes(os.urandom(32))
    secret.chmod(0o600)
    primary = subprocess.Popen([sys.executable, os.path.join(HERE, "wal_driver.py"), primary_dir,
                                "strict", str(SEED), "0", str(1 << 20), "replicate", str(secret)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready = primary.stdout.readline().split()
    assert ready[:2] == ["READY", "1"], primary.stderr.read()
    follower = subprocess.Popen([sys.executable, os.path.join(HERE, "wal_standby.py"), follower_dir,
                                 ready[2], str(SEED), str(TIMEOUT), str(secret)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    try:
        assert follower.stdout.readline().split() == ["FOLLOWING", "1"]
        # Mid-flow is a condition, not a time: the primary acknowledges only what the
        # follower has logged, so its ACK lines say how far the follower is.
        seen = read_until(primary.stdout, lambda line: _acked(line) >= MID_FLOW,
                          f"the primary to acknowledge seq {MID_FLOW}")
        killed_at = time.monotonic()
        primary.send_signal(signal.SIGKILL)
        out, _ = primary.communicate()
        acked = max(_acked(line) for line in seen + out.splitlines())
        promoted = follower.stdout.readline().split()
        failover = time.monotonic() - killed_at
        assert promoted[0] == "PROMOTED", follower.stderr.read()
        last_seq, follower_hash, silence = int(promoted[1]), promoted[2], float(promoted[3])

        # Every acknowledged command is on the follower, and the follower is
        # exactly the primary's durable log up to its own last seq.
        assert acked > 100 and last_seq >= acked
        primary_engine, primary_log = recover(primary_dir, repair=False)
        assert primary_log.last_seq >= last_seq
        assert follower_hash == _reference(last_seq).state_hash()
        if primary_log.last_seq == last_seq:
            assert follower_hash == primary_engine.state_hash()
        print(f"failover {failover:.3f} s after the kill, {silence:.3f} s of silence (heartbeat "
              f"timeout {TIMEOUT} s); primary acked {acked}, follower had {last_seq}, "
              f"primary's log held {primary_log.last_seq}")
        # The property: the follower promotes itself only after a full heartbeat timeout
        # of silence, by its own clock. How long after the kill that happens depends on
        # the machine's load, so the wall clock only bounds a hang.
        assert silence >= TIMEOUT
        assert failover < TIMEOUT + HANG_SECONDS

        # The promoted follower continues the sequence: no gap, no duplicate.
        follower.stdin.write("25\n")
        follower.stdin.flush()
        assert follower.stdout.readline().split() == ["ACK", str(last_seq + 25)]
        follower.stdin.close()
        follower.stdin = None
        assert follower.wait(10) == 0
        engine, report = recover(follower_dir, verify_outputs=True)
        assert report.first_seq == 1 and report.last_seq == last_seq + 25
        assert engine.state_hash() == _reference(last_seq + 25).state_hash()
    finally:
        for process in (primary, follower):
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=10)             # reaps it and closes its pipes
