"""Crash recovery: the newest valid snapshot, then a replay of the log after it.

Every record is checked (CRC, kind, sequence continuity) as it is read. The
first invalid record ends the valid log, and where it sits decides what
happens:

- in the tail (the last segment, with no valid record anywhere after it): a
  torn write, a flipped bit or a zero-filled end from a crash. The bytes from
  there on are saved under `damaged/` and the segment is cut back to the last
  valid record, with a warning on the `gatebook.wal` logger;
- anywhere else: acknowledged records would be lost, so recovery refuses,
  raising CorruptLog that names the segment and offset, unless the caller
  passes `accept_corruption=True` (then the same save-and-cut applies there,
  and later segments move to `damaged/` whole).

Nothing is deleted: cut bytes are kept for a person to look at.

Besides the engine, recovery rebuilds the order-entry gateway's state
(`report.gateway`, a `GatewayState`): the snapshot's gateway section, then
every replayed command's origin and events (gateway_state.py). A version 1
log or snapshot holds no origins: its commands leave the gateway state as it
was (empty for a wholly version 1 log).
"""

import contextlib
import gc
import itertools
import logging
import os
import struct
import time
from dataclasses import dataclass, field

from gatebook.wire import internal
from gatebook.wire.codec import ProtocolCodec
from host.engine import MatchingEngine
from host.symbols import DEFAULT_SYMBOLS

from .format import (COMMAND_STRUCTS, HEADER_SIZE, INPUT, ORIGIN_SIZE, OUTPUT, SEGMENT_HEADER_SIZE,
                     TRAILER_SIZE, check_records, decode_origin, decode_segment_header,
                     encode_record, find_valid_record, split_input)
from .gateway_state import GatewayState
from .segments import SEGMENT_PATTERN, AppendFile, list_segments, segment_name, sync_directory
from .snapshot import SnapshotError, list_snapshots, read_snapshot, restore

__all__ = ["CorruptLog", "Repair", "RecoveryReport", "recover"]

log = logging.getLogger("gatebook.wal")
# Type byte -> (unpack_from of that command's struct, its size).
_command_layout = {code: (layout.unpack_from, layout.size)
                   for code, layout in COMMAND_STRUCTS.items()}
_encode_event = ProtocolCodec(internal.EVENTS).encode


class CorruptLog(Exception):
    """A damaged record with valid records after it: recovery will not guess."""

    def __init__(self, segment, offset, reason):
        self.segment, self.offset, self.reason = segment, offset, reason
        super().__init__(
            f"{segment}: corrupt record at offset {offset} ({reason}) with valid records "
            f"after it; refusing to drop them. Inspect the segment (`gatebook log dump`), "
            f"or pass --accept-corruption to cut the log at this record.")


@dataclass
class Repair:
    segment: str
    offset: int
    reason: str
    bytes_cut: int
    saved_to: str

    def line(self):
        return (f"truncated {os.path.basename(self.segment)} at offset {self.offset}: "
                f"{self.reason}; {self.bytes_cut} bytes saved to {self.saved_to}")


@dataclass
class RecoveryReport:
    directory: str
    segments: list = field(default_factory=list)
    read: list = field(default_factory=list)        # the segments recovery read
    records: int = 0
    inputs: int = 0
    outputs: int = 0
    first_seq: int = 0
    last_seq: int = 0            # of the recovered state
    log_end_seq: int = 0         # of the last INPUT record in the log
    snapshot: str = ""
    snapshot_seq: int = 0
    rejected_snapshots: list = field(default_factory=list)
    replayed: int = 0
    verified: int = 0
    repairs: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    state_hash: str = ""
    seconds: float = 0.0
    resume: tuple = None         # (segment number, path, next seq) for LogWriter
    gateway: GatewayState = None # the order-entry gateway's state as of last_seq
    origins: int = 0             # replayed commands that came from order entry

    def lines(self):
        names = [os.path.basename(path) for path in self.segments]
        yield f"log directory: {self.directory}"
        yield (f"segments: {len(names)}" + (f" ({names[0]} .. {names[-1]})" if names else "")
               + (f", read {len(self.read)} from {os.path.basename(self.read[0])} on"
                  if self.read else ""))
        pruned = _pruned_line(self.directory, self.segments)
        if pruned:
            yield f"pruned: {pruned}"
        yield (f"records: {self.records} ({self.inputs} inputs, {self.outputs} outputs read)")
        yield f"sequence: {self.first_seq} .. {self.last_seq}" if self.last_seq else "sequence: empty log"
        yield (f"snapshot: {os.path.basename(self.snapshot)} (seq {self.snapshot_seq})"
               if self.snapshot else "snapshot: none used, replayed from the start")
        for line in self.rejected_snapshots:
            yield f"snapshot rejected: {line}"
        yield (f"replayed: {self.replayed} commands in {self.seconds:.3f} s"
               + (f", {self.verified} output records matched the replay" if self.verified else ""))
        if self.gateway is not None:
            gateway = self.gateway
            yield (f"gateway: {len(gateway.order_ids)} client tokens, "
                   f"{len(set(gateway.expected) | set(gateway.sequences))} sessions "
                   f"({self.origins} replayed commands came from order entry)")
        yield from (f"tail: {repair.line()}" for repair in self.repairs) if self.repairs else ["tail: clean"]
        yield from (f"note: {note}" for note in self.notes)
        yield f"next seq: {self.last_seq + 1}"
        yield f"state hash: {self.state_hash}"


def recover(directory, symbols=DEFAULT_SYMBOLS, *, accept_corruption=False, use_snapshots=True,
            verify_outputs=False, repair=True, self_trade_prevention=False, snapshot_limit=None):
    """Rebuild the engine from `directory`; return (engine, RecoveryReport).

    By default every record read is checked (CRC, kind, sequence) and INPUT
    records after the snapshot are replayed; `verify_outputs=True` also
    compares every OUTPUT record after the snapshot with the replay's events
    (about twice the time of the replay). `repair=False` reads without changing any file
    (damage in the tail is then only reported). `snapshot_limit` ignores
    snapshots newer than that seq (benchmarks, investigations). An empty or
    missing directory gives an empty engine.
    """
    started = time.perf_counter()
    os.makedirs(directory, exist_ok=True)
    excluded, repairs = [], []
    while True:
        report = RecoveryReport(directory)
        engine = _start_engine(directory, symbols, report, excluded, use_snapshots,
                               self_trade_prevention, snapshot_limit)
        if report.gateway is None:
            report.gateway = GatewayState()
        with _rare_gc():
            last = _replay(directory, engine, report, accept_corruption, verify_outputs, repair)
        repairs += report.repairs
        if not report.snapshot or report.snapshot_seq <= report.log_end_seq:
            break
        # The log was cut short behind this snapshot: the snapshot holds commands
        # the log no longer has, so it cannot be the base. Use an older one.
        log.warning("%s is ahead of the log (log ends at seq %d); not using it",
                    report.snapshot, report.log_end_seq)
        excluded.append(report.snapshot)
    report.repairs = repairs
    report.rejected_snapshots += [f"{os.path.basename(path)} is ahead of the log" for path in excluded]
    report.records = report.inputs + report.outputs
    _settle_resume(directory, report)
    if repair and last is not None:
        _rewrite_missing_output(report, *last)
    report.state_hash = engine.state_hash()
    report.seconds = time.perf_counter() - started
    return engine, report


@contextlib.contextmanager
def _rare_gc():
    """Replay builds no reference cycles: leave what exists alone and collect rarely.

    Like host.runtime.quiet_gc, without its initial full collection, which
    costs more than a short tail's whole replay once a snapshot is loaded.
    """
    old = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(200_000, 50, 1000)
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


def _start_engine(directory, symbols, report, excluded, use_snapshots, self_trade_prevention,
                  snapshot_limit):
    for seq, path in list_snapshots(directory) if use_snapshots else ():
        if path in excluded or (snapshot_limit is not None and seq > snapshot_limit):
            continue
        try:
            state = read_snapshot(path)
            engine = restore(state, symbols)
        except SnapshotError as error:
            log.warning("snapshot rejected: %s", error)
            report.rejected_snapshots.append(str(error))
            continue
        report.snapshot, report.snapshot_seq = path, seq
        report.last_seq = seq
        report.gateway = state.gateway.copy() if state.gateway is not None else None
        return engine
    return MatchingEngine(symbols, self_trade_prevention=self_trade_prevention)


def _replay(directory, engine, report, accept_corruption, verify_outputs, repair):
    """Read and apply every needed segment.

    Returns (command, events) of the last command when its OUTPUT record is
    missing (the crash fell between the two records), else None.
    """
    segments = list_segments(directory)
    skip_to = _first_needed_segment(segments, report.snapshot_seq)
    next_seq = None
    output_seen = True
    last = (None, None)
    report.segments = [path for _, path in segments]
    for index in range(skip_to, len(segments)):
        number, path = segments[index]
        with open(path, "rb") as file:
            data = file.read()
        report.read.append(path)
        try:
            header_number, first_seq = decode_segment_header(data)
            if header_number != number:
                raise ValueError(f"header says segment {header_number}")
            if next_seq is not None and first_seq != next_seq:
                raise ValueError(f"starts at seq {first_seq}, expected {next_seq}")
        except ValueError as error:
            _damaged(report, segments, index, data, 0, str(error), accept_corruption, repair)
            break
        if next_seq is None:
            next_seq = report.first_seq = first_seq
            if first_seq > report.snapshot_seq + 1:
                raise CorruptLog(path, 0, f"the log starts at seq {first_seq} and no snapshot "
                                          f"holds seqs {report.snapshot_seq + 1}..{first_seq - 1}")
        found = []
        end, after, output_seen, outputs, damage = check_records(
            data, next_seq, SEGMENT_HEADER_SIZE, output_seen, found, keep_outputs=verify_outputs)
        report.inputs += after - next_seq
        report.outputs += outputs
        replay = _replay_verified if verify_outputs else _replay_inputs
        last = replay(engine, report, path, data, found, next_seq, last)
        next_seq = after
        report.log_end_seq = next_seq - 1
        report.last_seq = max(report.last_seq, next_seq - 1)
        report.resume = (number, path, next_seq)
        if damage is not None:
            _damaged(report, segments, index, data, damage.offset, damage.reason,
                     accept_corruption, repair)
            break
    command, events = last
    return (command, events) if command is not None and not output_seen else None


def _decode(view, offset, stop, seq, path):
    """(command, origin or None) in the INPUT record at view[offset:stop], which
    must carry `seq`."""
    payload = offset + HEADER_SIZE
    try:
        command, origin = split_input(view, payload, stop - TRAILER_SIZE)
    except (KeyError, IndexError, ValueError, struct.error):
        raise CorruptLog(path, offset, f"INPUT record seq {seq} holds no valid command") from None
    if command[1] != seq:
        raise CorruptLog(path, offset, f"record seq {seq} holds command seq {command[1]}")
    return command, origin


def _replay_inputs(engine, report, path, data, found, first_seq, last):
    """Apply the INPUT records at `found` (offset, end pairs) newer than the snapshot.

    The hot loop of recovery: one struct unpack and one `engine.apply` per
    command, then the gateway state's `replay` of its origin (one more unpack
    when it has one) and events.
    """
    skip = max(0, report.snapshot_seq + 1 - first_seq)
    if skip * 2 >= len(found):
        return (None, None) if found else last
    view = memoryview(data)
    apply, replay = engine.apply, report.gateway.replay
    layouts = _command_layout
    seq = first_seq + skip
    command = events = None
    positions = iter(found)
    if skip:
        positions = itertools.islice(positions, 2 * skip, None)
    origins = 0
    for offset, stop in zip(positions, positions):
        payload = offset + HEADER_SIZE
        body_end = stop - TRAILER_SIZE
        try:
            unpack, size = layouts[view[payload]]
            end = payload + size
            command = unpack(view, payload)
            origin = None
            if end != body_end:
                if end + ORIGIN_SIZE != body_end:
                    raise ValueError
                origin = decode_origin(view, end)
                origins += 1
        except (KeyError, IndexError, ValueError, struct.error):
            _decode(view, offset, stop, seq, path)          # raises, naming the record
        if command[1] != seq:
            _decode(view, offset, stop, seq, path)
        events = apply(command)
        replay(command, origin, events)
        seq += 1
    report.origins += origins
    report.replayed += seq - first_seq - skip
    return command, events


def _replay_verified(engine, report, path, data, found, first_seq, last):
    """Apply INPUT records newer than the snapshot, comparing each OUTPUT record with the replay."""
    view = memoryview(data)
    snapshot_seq = report.snapshot_seq
    command, events = last
    seq = first_seq
    positions = iter(found)
    for offset, stop in zip(positions, positions):
        if view[offset + HEADER_SIZE - 1] == INPUT:
            if seq > snapshot_seq:
                command, origin = _decode(view, offset, stop, seq, path)
                events = engine.apply(command)
                report.gateway.replay(command, origin, events)
                report.origins += origin is not None
                report.replayed += 1
            else:
                command = None
            seq += 1
        else:
            if command is not None:
                if view[offset + HEADER_SIZE:stop - TRAILER_SIZE] != b"".join(map(_encode_event, events)):
                    raise CorruptLog(path, offset, f"replaying seq {seq - 1} gives other events "
                                                   f"than its OUTPUT record holds")
                report.verified += 1
            command = None
    return command, events


def _pruned_line(directory, segments):
    """What happened to the segments before the first one present, if any were pruned."""
    first = SEGMENT_PATTERN.fullmatch(os.path.basename(segments[0])) if segments else None
    if not first or int(first.group(1)) == 0:
        return ""
    number = int(first.group(1))
    archive = os.path.join(directory, "archive")
    archived = (sum(1 for name in os.listdir(archive) if SEGMENT_PATTERN.fullmatch(name))
                if os.path.isdir(archive) else 0)
    where = (f"{archived} of them in {archive}" if archived
             else "not in LOGDIR/archive (deleted, or archived elsewhere)")
    return (f"{segment_name(0)} .. {segment_name(number - 1)} (before the snapshot), {where}")


def _first_needed_segment(segments, snapshot_seq):
    """Index of the segment holding seq snapshot_seq + 1: earlier ones need no reading."""
    needed = 0
    for index in range(1, len(segments)):
        with open(segments[index][1], "rb") as file:
            try:
                _, first_seq = decode_segment_header(file.read(SEGMENT_HEADER_SIZE))
            except ValueError:
                break
        if first_seq > snapshot_seq + 1:
            break
        needed = index
    return needed


def _damaged(report, segments, index, data, offset, reason, accept_corruption, repair):
    """Cut a damaged tail; refuse (or, with the flag, cut) damage anywhere else."""
    path = segments[index][1]
    in_tail = index == len(segments) - 1 and find_valid_record(data, offset + 1) is None
    if not in_tail:
        if not accept_corruption:
            raise CorruptLog(path, offset, reason)
        reason += " (cut by --accept-corruption)"
    _cut(report, path, data, offset, reason, repair)
    if not in_tail:
        for _, later in segments[index + 1:]:
            with open(later, "rb") as file:
                _cut(report, later, file.read(), 0, "follows a cut corrupt record", repair)


def _cut(report, path, data, offset, reason, repair):
    """Save data[offset:] under damaged/ and cut the segment there (offset 0: move it whole)."""
    directory = os.path.dirname(path)
    saved = os.path.join(directory, "damaged", f"{os.path.basename(path)}.at-{offset}")
    report.repairs.append(Repair(path, offset, reason, len(data) - offset,
                                 saved if repair else "(nothing changed: read-only)"))
    log.warning("%s: %s at offset %d; %s", path, reason, offset,
                "cutting the log there" if repair else "read-only, left as is")
    if not repair:
        return
    os.makedirs(os.path.dirname(saved), exist_ok=True)
    with open(saved, "wb") as file:
        file.write(data[offset:])
        file.flush()
        os.fsync(file.fileno())
    sync_directory(os.path.dirname(saved))
    if offset == 0:
        os.unlink(path)
    else:
        with open(path, "r+b") as file:
            file.truncate(offset)
            os.fsync(file.fileno())
    sync_directory(directory)


def _settle_resume(directory, report):
    """Where the writer continues: the last segment read, or a new one if it was removed."""
    if report.resume and os.path.exists(report.resume[1]):
        return
    remaining = list_segments(directory)
    number = remaining[-1][0] + 1 if remaining else 0
    report.resume = (number, None, report.last_seq + 1)
    if not remaining and report.segments:
        report.notes.append(f"no readable segment left; the log restarts at seq {report.last_seq + 1}")


def _rewrite_missing_output(report, command, events):
    """The crash fell between a command's INPUT and OUTPUT records: write the OUTPUT."""
    number, path, next_seq = report.resume
    if path is None:
        return
    file = AppendFile(path, create=False)
    try:
        file.write(encode_record(command[1], command[2], OUTPUT,
                                 b"".join(map(_encode_event, events))))
        file.sync()
    finally:
        file.close()
    report.outputs += 1
    report.records += 1
    report.notes.append(f"seq {command[1]} had no OUTPUT record; wrote it from the replay")
