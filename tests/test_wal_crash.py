"""Real crashes: a child exchange is SIGKILLed at random moments, then recovered.

Each iteration starts tests/wal_driver.py on the same log directory (so it
first recovers what the previous child left and continues the same seeded
stream), kills it with SIGKILL after a seeded random delay, and checks:
every acknowledged command is in the recovered state, and the state hash
equals a reference engine fed the same stream up to the recovered seq.
"""

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from host.engine import MatchingEngine
from host.symbols import DEFAULT_SYMBOLS
from host.wal.loadgen import seeded_commands, stamped
from host.wal.recovery import recover

DRIVER = os.path.join(os.path.dirname(__file__), "wal_driver.py")


def _run_and_kill(directory, policy, seed, delay):
    child = subprocess.Popen([sys.executable, DRIVER, directory, policy, str(seed), "4000",
                              str(256 << 10)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    ready = child.stdout.readline()
    assert ready.startswith("READY"), (ready, child.stderr.read())
    # The random moment counts from the first acknowledgement, so every run
    # makes progress even when a loaded machine starves the child for longer
    # than the shortest delay (it once acknowledged nothing in 0.1 s).
    first = child.stdout.readline()
    assert first.startswith("ACK "), (first, child.stderr.read())
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    out, err = child.communicate()
    assert child.returncode == -signal.SIGKILL, err
    acks = [int(line.split()[1]) for line in (first + out).splitlines() if line.startswith("ACK ")]
    return int(ready.split()[1]), max(acks, default=0)


def _crash_iterations(tmp_path, iterations, seed):
    directory = str(tmp_path / "log")
    rng = random.Random(seed)
    reference = MatchingEngine(DEFAULT_SYMBOLS)
    stream = stamped(seeded_commands(seed))
    applied = 0
    policies = ("strict", "batched", "none")
    for iteration in range(iterations):
        policy = policies[iteration % 3]
        started_at, acked = _run_and_kill(directory, policy, seed, rng.uniform(0.1, 0.6))
        assert started_at == applied + 1               # the restart continued exactly there
        engine, report = recover(directory, verify_outputs=True)
        assert report.last_seq >= acked, f"{policy}: seq {acked} was acknowledged, log ends at {report.last_seq}"
        assert acked > started_at, f"{policy}: the child acknowledged nothing in its run"
        while applied < report.last_seq:
            reference.apply(next(stream))
            applied += 1
        assert engine.state_hash() == reference.state_hash(), f"iteration {iteration} ({policy})"
        assert engine.used_ids == reference.used_ids     # every acknowledged order is there
    return directory


def test_sigkill_at_random_moments_loses_nothing_acknowledged(tmp_path):
    directory = _crash_iterations(tmp_path, iterations=6, seed=11)
    assert len([n for n in os.listdir(directory) if n.endswith(".wal")]) > 1


@pytest.mark.long
def test_sigkill_many_seeded_iterations(tmp_path):
    for seed in (21, 22, 23):
        _crash_iterations(tmp_path / str(seed), iterations=20, seed=seed)
