"""The log's record encoding in its two builds of one source (host/wal/loading.py): the
Cython-compiled `RecordBatch` and batch.py run as Python write the same bytes, the
bytes the table codecs make, on seeded flows with and without origins, and refuse the
same hostile values with WireError, leaving the batch as it was."""

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gatebook.host import compiled
from gatebook.host.engine import MatchingEngine
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.host.wal import batch as fast
from gatebook.host.wal.format import INPUT, OUTPUT, SegmentScan, encode_record
from gatebook.host.wal.loading import batch_build, load_pure
from gatebook.host.wal.loadgen import seeded_commands, stamped
from gatebook.host.wal.origins import encode_origin
from gatebook.wire import internal
from gatebook.wire.codec import ProtocolCodec, WireError

PURE = load_pure()
BUILDS = (fast, PURE)
_COMMANDS = ProtocolCodec(internal.COMMANDS)
_EVENTS = ProtocolCodec(internal.EVENTS)

compiled_only = pytest.mark.skipif(not compiled.is_compiled(fast),
                                   reason=f"the record encoding loaded is not compiled "
                                          f"({batch_build()})")


def _flow(seed, count):
    engine = MatchingEngine(DEFAULT_SYMBOLS)
    rng = random.Random(seed)
    flow = []
    for command in stamped(seeded_commands(seed, count)):
        # Origins of every length a protocol may send, some commands without one.
        origin = (rng.randrange(1, 256), rng.randbytes(rng.choice((0, 1, 30, 300))))
        flow.append((command, origin if rng.random() < 0.7 else None, engine.apply(command)))
    return flow


def _batch_bytes(module, flow, chunk=100):
    batch = module.RecordBatch(chunk=chunk, capacity=64)      # grows many times
    for command, origin, events in flow:
        batch.add_input(command[1], command[2], command, origin)
        batch.add_output(events)
    return batch.take()


@compiled_only
def test_the_compiled_encoding_is_loaded_and_the_source_beside_it():
    assert compiled.is_compiled(fast) and not compiled.is_compiled(PURE)
    assert PURE.RecordBatch is not fast.RecordBatch


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_both_builds_write_the_records_the_table_codecs_make(seed):
    flow = _flow(seed, 3000)
    expected = b"".join(
        encode_record(command[1], command[2], INPUT, _COMMANDS.encode(command)
                      + (encode_origin(*origin) if origin else b""))
        + encode_record(command[1], command[2], OUTPUT, b"".join(map(_EVENTS.encode, events)))
        for command, origin, events in flow)
    items = [_batch_bytes(module, flow) for module in BUILDS]
    assert items[0] == items[1]
    assert [count for _, _, count, _ in items[0]] == [100] * 30
    assert [(first, last) for first, last, _, _ in items[0]] == [
        (flow[at][0][1], flow[at + 99][0][1]) for at in range(0, 3000, 100)]
    assert b"".join(records for *_, records in items[0]) == expected
    # And they read back as a log: every record valid, in order.
    scan = SegmentScan(expected, 1, start=0)
    assert len(list(scan)) == 6000 and scan.damage is None


def _hostile_commands(rng):
    command = (internal.NEW_ORDER.code, 7, 9, 1, 42, 5, 1, 1, 1, 1_000_000, 0, 100)
    yield command[:-1]                                  # a field short
    yield command + (0,)                                # a field too many
    yield ()
    yield (ord("Z"),) + command[1:]                     # no such command
    yield (float(command[0]),) + command[1:]
    yield (300,) + command[1:]
    yield (-1,) + command[1:]
    yield (2 ** 70,) + command[1:]
    yield "not a command"
    yield None
    yield 5
    for index in range(1, len(command)):
        for value in (-1, 2 ** 64, 2 ** 32, 2 ** 16, 256, 1.5, "7", None, b"\x01", [1]):
            yield command[:index] + (value,) + command[index + 1:]
    for _ in range(200):                                # random values of random sizes
        yield command[:1] + tuple(rng.choice((0, 1, 255, 256, 65535, 65536, 2 ** 32 - 1,
                                              2 ** 32, 2 ** 64 - 1, 2 ** 64, -1, True))
                                  for _ in command[1:])


def _outcome(module, seq, ts, command, origin, events):
    """The batch's bytes after one command, or the exception's type; the batch must be
    unchanged by a refusal."""
    events = events() if callable(events) else events
    batch = module.RecordBatch(chunk=1)
    batch.add_input(1, 2, (internal.CANCEL.code, 1, 2, 3, 4))
    batch.add_output([])
    try:
        batch.add_input(seq, ts, command, origin)
    except WireError:
        assert not batch.input_open and batch.end == batch.size
        return "input refused", batch.take()
    try:
        batch.add_output(events)
    except WireError:
        assert batch.input_open
        batch.drop_input()
        return "output refused", batch.take()
    return "taken", batch.take()


def test_hostile_values_are_refused_alike_by_both_builds():
    rng = random.Random(7)
    good_events = _flow(4, 50)[-1][2]
    cases = [(9, 10, command, None, good_events) for command in _hostile_commands(rng)]
    command = (internal.CANCEL.code, 9, 10, 3, 4)
    for origin in [(0, b"x"), (256, b"x"), (-1, b""), (1.0, b"x"), ("1", b"x"), (1, "text"),
                   (1, 5), (1, None), (1, b"x" * 65536), (1, b"x" * 65535), (1,), (1, 2, 3),
                   None, (True, bytearray(b"ok")), (255, memoryview(b"view"))]:
        cases.append((9, 10, command, origin, []))
    for seq, ts in [(-1, 0), (2 ** 64, 0), (0, 2 ** 64), (1.0, 0), (None, 0), (2 ** 64 - 1, 0)]:
        cases.append((seq, ts, command, None, []))
    level = (internal.LEVEL.code, 9, 10, 1, 1, 1_000_000, 5, 3)
    for events in [[level[:-1]], [level + (1,)], [()], [(ord("Z"), 1)], [None], ["LEVEL"],
                   [level[:6] + (2 ** 64,) + level[7:]], [level[:6] + (-5,) + level[7:]],
                   [level[:6] + (2 ** 64 - 1,) + level[7:]], [list(level)], (level,),
                   [level] * 1000, None, 7]:
        cases.append((9, 10, command, None, events))
    cases.append((9, 10, command, None, lambda: iter([level, level])))     # one per build
    refused = set()
    for case in cases:
        outcomes = [_outcome(module, *case) for module in BUILDS]
        assert outcomes[0] == outcomes[1], case
        refused.add(outcomes[0][0])
    assert refused == {"input refused", "output refused", "taken"}


def test_an_open_input_stays_behind_when_the_writer_takes_the_batch():
    flow = _flow(5, 3)
    for module in BUILDS:
        batch = module.RecordBatch(chunk=10)
        (first, _, first_events), (second, origin, second_events) = flow[0], flow[1]
        batch.add_input(first[1], first[2], first)
        batch.add_output(first_events)
        batch.add_input(second[1], second[2], second, origin)
        taken = batch.take()
        assert [(seq, last, count) for seq, last, count, _ in taken] == [(first[1], first[1], 1)]
        batch.add_output(second_events)
        assert [(seq, count) for seq, _, count, _ in batch.take()] == [(second[1], 1)]
        assert batch.take() == [] and batch.commands == 0


def test_the_source_loads_when_asked_for():
    found = subprocess.run(
        [sys.executable, "-c", "from gatebook.host.wal import batch; "
                               "from gatebook.host.wal.loading import batch_build; "
                               "print(batch.__file__); print(batch_build())"],
        env=dict(os.environ, GATEBOOK_PURE_PYTHON="1"), capture_output=True, text=True,
        check=True).stdout.splitlines()
    assert found[0].endswith("batch.py") and found[1] == "pure Python: GATEBOOK_PURE_PYTHON=1"


@compiled_only
def test_a_build_older_than_its_source_is_not_loaded(tmp_path):
    folder = Path(fast.__file__).parent
    built = compiled.compiled_file("batch", folder)
    for path in (folder / "batch.py", folder / "batch.pxd", built,
                 Path(f"{built}{compiled.DIGEST_SUFFIX}")):
        shutil.copy(path, tmp_path / path.name)
    assert compiled.source_reason("batch", tmp_path, environ={}) is None
    with open(tmp_path / "batch.pxd", "a") as pxd:
        pxd.write("\n# an edit without a rebuild\n")
    assert "older than its source" in compiled.source_reason("batch", tmp_path, environ={})
