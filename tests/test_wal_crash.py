"""Real crashes: a child exchange is SIGKILLed at random moments, then recovered.

Each iteration starts tests/wal_driver.py on the same log directory (so it
first recovers what the previous child left and continues the same seeded
stream), kills it with SIGKILL after a seeded random delay, and checks:
every acknowledged command is in the recovered state, and the state hash
equals a reference engine fed the same stream up to the recovered seq.

The crash campaign (`crash_campaign`) does the same hundreds of times under
load and reports the figures docs/durability.md quotes:

    .venv/bin/python -m pytest tests/test_wal_crash.py --run-long -k campaign -s
"""

import itertools
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from gatebook.host.clock import ManualClock
from gatebook.host.engine import MatchingEngine
from gatebook.host.sequencer import Sequencer
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.host.wal.loadgen import START_NS, STEP_NS, seeded_commands, stamped
from gatebook.host.wal.recovery import recover

from wal_driver import campaign_stream

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


# -- the crash campaign: hundreds of SIGKILLs under load ------------------------

def _percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _reference_run(reference, seed, start, stop):
    """Apply the commands campaign run `start` logged (seqs start .. stop) to `reference`."""
    sequencer = Sequencer(ManualClock(START_NS + (start - 1) * STEP_NS, STEP_NS), start)
    for command in itertools.islice(campaign_stream(seed, start), stop - start + 1):
        reference.apply(sequencer.stamp(*command))


def crash_campaign(directory, kills, seed, snapshot_every, delays=(0.02, 0.3)):
    """SIGKILL a loaded child exchange `kills` times; return its figures.

    Each run recovers the log, says where it starts and what recovery took,
    takes the seeded load as fast as it can (policies strict, batched, none in
    turn) and is killed after a seeded random delay counted from its first
    acknowledgement. Checked every time: the run starts after every command
    the last one acknowledged (zero acknowledged commands lost). At the end a
    full replay, checking every OUTPUT record, gives the state of a reference
    engine fed exactly the commands the runs logged.
    """
    rng = random.Random(seed)
    policies = ("strict", "batched", "none")
    acked = 0
    checked = 0
    recoveries, replays, starts = [], [], []
    for kill in range(kills + 1):
        child = subprocess.Popen(
            [sys.executable, DRIVER, directory, policies[kill % 3], str(seed),
             str(snapshot_every), str(1 << 20), "campaign"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready = child.stdout.readline().split()
        assert ready and ready[0] == "READY", (ready, child.stderr.read())
        start = int(ready[1])
        figures = dict(token.split("=") for token in ready[2:])
        assert start - 1 >= acked, f"kill {kill}: seq {acked} was acknowledged, the log ends at {start - 1}"
        starts.append(start)
        recoveries.append(float(figures["recovery"]))
        replays.append(int(figures["replayed"]))
        if kill == kills:                               # the last start only recovers
            child.kill()
            child.communicate()
            break
        first = child.stdout.readline()
        assert first.startswith("ACK "), (first, child.stderr.read())
        time.sleep(rng.uniform(*delays))
        child.send_signal(signal.SIGKILL)
        out, err = child.communicate()
        assert child.returncode == -signal.SIGKILL, err
        run_acks = [int(line.split()[1]) for line in (first + out).splitlines()
                    if line.startswith("ACK ")]
        acked = max(run_acks)
        checked += acked - start + 1
    last_seq = starts[-1] - 1
    reference = MatchingEngine(DEFAULT_SYMBOLS)
    for start, stop in zip(starts, starts[1:]):
        _reference_run(reference, seed, start, stop - 1)
    engine, report = recover(directory, use_snapshots=False, verify_outputs=True)
    assert report.last_seq == last_seq and report.verified == last_seq
    assert engine.state_hash() == reference.state_hash()
    assert engine.used_ids == reference.used_ids         # every acknowledged order is there
    return {"kills": kills, "acked": checked, "commands": last_seq,
            "recovery_max": max(recoveries), "recovery_p99": _percentile(recoveries, 0.99),
            "recovery_p50": _percentile(recoveries, 0.5), "replayed_max": max(replays)}


def _print_figures(figures, snapshot_every):
    print(f"\ncrash campaign: {figures['kills']} SIGKILLs, {figures['acked']:,} acknowledged "
          f"commands checked, {figures['commands']:,} commands logged; recovery p50 "
          f"{figures['recovery_p50']:.3f} s, p99 {figures['recovery_p99']:.3f} s, max "
          f"{figures['recovery_max']:.3f} s; at most {figures['replayed_max']:,} commands "
          f"replayed (snapshot every {snapshot_every:,})")


def test_crash_campaign_short(tmp_path):
    figures = crash_campaign(str(tmp_path / "log"), kills=5, seed=31, snapshot_every=2000,
                             delays=(0.05, 0.25))
    _print_figures(figures, 2000)
    assert figures["acked"] > 0
    assert figures["replayed_max"] <= 3 * 2000


@pytest.mark.long
def test_crash_campaign_200_sigkills(tmp_path):
    snapshot_every = 5000
    figures = crash_campaign(str(tmp_path / "log"), kills=200, seed=41,
                             snapshot_every=snapshot_every)
    _print_figures(figures, snapshot_every)
    # Recovery replays about one snapshot interval at most, however long the
    # log; two when a kill lands while a snapshot is being written, and the
    # next run's is killed too (each run logs fewer commands than the interval).
    assert figures["replayed_max"] <= 3 * snapshot_every
    assert figures["commands"] > 10 * snapshot_every
