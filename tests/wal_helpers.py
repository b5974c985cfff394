"""Shared helpers for the write-ahead-log tests: seeded logs and their reference states."""

import os
import subprocess
import zlib
from contextlib import contextmanager

import pytest

from gatebook.host.clock import ManualClock
from gatebook.host.engine import MatchingEngine
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.host.wal.journal import JournaledExchange
from gatebook.host.wal.loadgen import START_NS, STEP_NS, seeded_commands, stamped
from gatebook.host.wal.format import INPUT, OUTPUT, encode_commit, encode_record
from gatebook.host.wal.segments import list_segments
from gatebook.wire import internal
from gatebook.wire.codec import ProtocolCodec, RecordCodec
from gatebook.wire.wal import OUTPUT_EVENTS, SEGMENT_HEADER, WAL

__all__ = ["write_log", "old_segment", "reference_hash", "segments", "flip_bit", "tiny_tmpfs"]


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


def old_segment(path, commands, version, origins=None):
    """Segment 0 of a log as a build of format `version` (1, 2 or 3) wrote it: events in
    that version's tables, a COMMIT record at the end from version 3 on, and after each
    command the bytes `origins` gives for it (versions 2 and 3: OUCH's INPUT_ORIGIN alone,
    no ORIGIN_HEADER), if any; the state hash of `commands`."""
    codec = RecordCodec(SEGMENT_HEADER, WAL.byte_order)
    fields = ("GBWAL", version, 0, 1)
    header = codec.encode(fields + (zlib.crc32(codec.encode(fields + (0,))[:-4]),))
    encode_command = ProtocolCodec(internal.COMMANDS).encode
    encode_event = ProtocolCodec(OUTPUT_EVENTS[version]).encode
    engine = MatchingEngine(DEFAULT_SYMBOLS)
    parts = [header]
    for index, command in enumerate(commands):
        events = engine.apply(command)
        origin = origins[index] if origins is not None else b""
        parts.append(encode_record(command[1], command[2], INPUT,
                                   encode_command(command) + origin))
        parts.append(encode_record(command[1], command[2], OUTPUT,
                                   b"".join(map(encode_event, events))))
    if version >= 3 and commands:
        parts.append(encode_commit(commands[-1][1], commands[-1][1]))
    with open(path, "wb") as file:
        file.write(b"".join(parts))
    return engine.state_hash()


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
