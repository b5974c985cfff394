"""Shared helpers for the write-ahead-log tests: seeded logs and their reference states."""

import os
import subprocess
from contextlib import contextmanager

import pytest

from gatebook.host.clock import ManualClock
from gatebook.host.engine import MatchingEngine
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.host.wal.journal import JournaledExchange
from gatebook.host.wal.loadgen import START_NS, STEP_NS, seeded_commands, stamped
from gatebook.host.wal.segments import list_segments

__all__ = ["write_log", "reference_hash", "segments", "flip_bit", "tiny_tmpfs"]


def write_log(directory, count, seed=1, ack_every=250, **options):
    """Run `count` seeded commands through a JournaledExchange; return its final state hash.

    Every `ack_every` commands it waits for the writer to catch up, so no
    batch holds more than that many commands and the segment layout (how
    many segments, roughly where they roll) does not depend on how the OS
    happened to schedule the writer thread. Without this a busy machine let
    the matching thread queue the whole stream into one or two batches, and
    a 3000-command log that normally spans 3-5 segments came out as one or
    two (the writer never splits a batch).
    """
    exchange = JournaledExchange(directory, clock=ManualClock(START_NS, STEP_NS), **options)
    for command in seeded_commands(seed, count):
        seq, _ = exchange.submit(*command)
        if ack_every and seq % ack_every == 0:
            exchange.writer.wait_acked(seq)
    exchange.close()
    return exchange.engine.state_hash()


def reference_hash(count, seed=1):
    """State hash after the first `count` commands of the seeded stream, replayed from scratch."""
    engine = MatchingEngine(DEFAULT_SYMBOLS)
    for command in stamped(seeded_commands(seed, count)):
        engine.apply(command)
    return engine.state_hash()


def segments(directory):
    return [path for _, path in list_segments(directory)]


def flip_bit(path, offset, bit=0):
    with open(path, "r+b") as file:
        file.seek(offset)
        byte = file.read(1)[0]
        file.seek(offset)
        file.write(bytes((byte ^ (1 << bit),)))
    return os.path.getsize(path)


@contextmanager
def tiny_tmpfs(parent, size):
    """A real, tiny filesystem mounted under `parent` (a full disk on demand); skips
    the test with the reason when this machine cannot mount one."""
    mountpoint = os.path.join(str(parent), "tiny")
    os.mkdir(mountpoint)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", mountpoint],
                          capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode}); "
                    f"a full disk needs a real small filesystem")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", mountpoint], check=True)
