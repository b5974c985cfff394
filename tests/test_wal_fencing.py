"""Epochs: a promoted follower is one epoch ahead, and an old primary that comes back is fenced."""

import os
import shutil
import signal
import subprocess
import sys

import pytest

from gatebook.host.clock import ManualClock
from gatebook.host.wal.epoch import Fenced, check_peer, read_epoch
from gatebook.host.wal.journal import JournaledExchange
from gatebook.host.wal.loadgen import START_NS, STEP_NS, seeded_commands
from gatebook.host.wal.recovery import recover
from gatebook.host.wal.replication import ReplicationServer
from gatebook.host.wal.standby import Follower, Refused

from replication_helpers import follow_in_thread
from waiting import read_until, wait_for
from wal_helpers import reference_hash

SECRET = os.urandom(32)
MID_FLOW = 60           # the primary process is killed once its standby has logged this many


def _submit(exchange, commands):
    for command in commands:
        seq, _ = exchange.submit(*command)
    exchange.writer.wait_acked(seq)
    return seq


def test_an_old_primary_that_comes_back_accepts_no_orders(tmp_path):
    a_dir, b_dir, c_dir = (str(tmp_path / name) for name in "abc")
    stream = seeded_commands(5)
    primary = JournaledExchange(a_dir, clock=ManualClock(START_NS, STEP_NS))
    server = ReplicationServer(primary, heartbeat_interval=0.05, synchronous=True, secret=SECRET)
    follower = Follower(b_dir, server.address, heartbeat_timeout=0.4, secret=SECRET)
    thread, result = follow_in_thread(follower)
    acked = _submit(primary, (next(stream) for _ in range(300)))
    wait_for(lambda: server.acked >= acked, f"the follower to log seq {acked}")
    assert server.acked == acked                        # the follower logged every one
    server.close()                                      # the primary falls silent ...
    primary.close()
    thread.join(5)
    assert "silence" in result, result
    promoted = follower.promote(clock=ManualClock(START_NS + acked * STEP_NS, STEP_NS))
    assert (read_epoch(a_dir), read_epoch(b_dir), promoted.epoch) == (1, 2, 2)
    last = _submit(promoted, (next(stream) for _ in range(20)))
    assert last == acked + 20
    new_server = ReplicationServer(promoted, heartbeat_interval=0.05, synchronous=False,
                                   secret=SECRET)
    shutil.copytree(b_dir, c_dir)                       # a standby of the new primary, epoch 2

    # ... and comes back from its own directory, still at epoch 1.
    old = JournaledExchange(a_dir, clock=ManualClock(START_NS + acked * STEP_NS, STEP_NS))
    assert old.epoch == 1
    # Asking its standby's address first, it learns of the failover.
    with pytest.raises(Fenced, match="epoch 2"):
        check_peer(a_dir, new_server.address, SECRET)
    # Not asking, it takes orders (never acknowledged: no standby applies them)
    # until a newer-epoch standby connects; then it fences itself, and that
    # standby refuses to follow it.
    old_server = ReplicationServer(old, heartbeat_interval=0.05, synchronous=True, secret=SECRET)
    stale = _submit(old, (next(stream) for _ in range(5)))
    assert stale == acked + 5 and old_server.acked == acked
    stale_follower = Follower(c_dir, old_server.address, heartbeat_timeout=0.4, secret=SECRET)
    thread, result = follow_in_thread(stale_follower)
    thread.join(5)
    assert isinstance(result.get("error"), Fenced) and "stale primary" in str(result["error"])
    with pytest.raises(Fenced, match="epoch 2"):
        old.submit(*next(stream))
    assert old_server.acked == acked                    # nothing more was acknowledged
    old_server.close()
    old.close()
    stale_follower.close()
    # Its directory now holds a tail the new primary never had: as a standby
    # of the new primary it is refused, not merged.
    diverged = Follower(a_dir, new_server.address, heartbeat_timeout=0.4, secret=SECRET)
    thread, result = follow_in_thread(diverged)
    thread.join(5)
    assert isinstance(result.get("error"), Refused) and "diverged" in str(result["error"])
    diverged.close()
    # A standby whose log is a prefix of the new primary's follows it.
    fresh = Follower(str(tmp_path / "d"), new_server.address, heartbeat_timeout=0.4,
                     secret=SECRET)
    thread, result = follow_in_thread(fresh)
    wait_for(lambda: fresh.next_seq > last, f"the fresh standby to log seq {last}")
    assert fresh.next_seq == last + 1 and fresh.epoch == 2
    new_server.close()                          # the follower reconnects in vain, then stops
    thread.join(5)
    assert "silence" in result, result
    fresh.close()
    promoted.close()
    engine, report = recover(b_dir, verify_outputs=True)
    assert report.last_seq == last and engine.state_hash() == reference_hash(last, seed=5)
    assert check_peer(a_dir, ("127.0.0.1", 9), SECRET) is None  # nothing listening: nothing known


def test_gatebook_standby_follows_a_primary_process_and_promotes_when_it_dies(tmp_path):
    here = os.path.dirname(__file__)
    primary_dir, standby_dir = str(tmp_path / "primary"), str(tmp_path / "standby")
    secret = tmp_path / "secret"
    secret.write_bytes(SECRET)
    secret.chmod(0o600)
    primary = subprocess.Popen([sys.executable, os.path.join(here, "wal_driver.py"), primary_dir,
                                "strict", "9", "0", str(1 << 20), "replicate", str(secret)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    standby = None
    try:
        ready = primary.stdout.readline().split()
        assert ready[:2] == ["READY", "1"], primary.stderr.read()
        standby = subprocess.Popen(
            [sys.executable, "-m", "gatebook.cli", "standby", "--connect", f"127.0.0.1:{ready[2]}",
             "--dir", standby_dir, "--heartbeat-timeout", "0.4",
             "--replication-secret", str(secret)],
            cwd=os.path.join(here, ".."), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert standby.stdout.readline().startswith("following 127.0.0.1:")
        # The primary acknowledges only what the standby has logged: its ACK lines
        # say when the standby is mid-flow.
        read_until(primary.stdout, lambda line: line.startswith("ACK") and
                   int(line.split()[1]) >= MID_FLOW, f"the primary to acknowledge {MID_FLOW}")
        primary.send_signal(signal.SIGKILL)
        out, err = standby.communicate(timeout=30)
        assert standby.returncode == 0, err
        promoted = next(line for line in out.splitlines() if line.startswith("promoted:"))
        assert "epoch 2" in promoted and read_epoch(standby_dir) == 2
        last = int(promoted.rsplit("seq ", 1)[1]) - 1
        assert last > 50 and f"state hash: {reference_hash(last, seed=9)}" in out
    finally:
        for process in (primary, standby):
            if process is not None and process.poll() is None:
                process.kill()
            if process is not None:
                process.communicate(timeout=10)
