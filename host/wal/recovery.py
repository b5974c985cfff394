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

A log shorter than its own evidence was cut, and recovering it would go
back in time silently: it ends before the seq of a snapshot (which is only
written once the log is durable that far), or a segment number is missing.
Recovery refuses that with `LostLog`, changing nothing, unless the caller
passes `accept_loss=True`: then it recovers to where the log ends and sets
the later segments and the snapshots ahead of it aside, so that they are
never taken as a base again.

Nothing is deleted: cut bytes and set-aside files are kept under `damaged/`
for a person to look at (repair.py). A failure of the file system (full,
permission denied, ...) is a `RecoveryError` naming the file and what to do.

Besides the engine, recovery rebuilds the order-entry protocols' states
(`report.states`, an `EntryStates`: one per log-origin codec, origins.py):
the snapshot's states, then every replayed command's origin and events. A
version 1 log or snapshot holds no origins: its commands leave the states as
they were (empty for a wholly version 1 log). An origin or a snapshot state
of a protocol no codec reads is refused (`UnknownOrigin`).
"""

import contextlib
import gc
import logging
import os
import time

from gatebook.wire.wal import COMMIT_VERSION
from gatebook.host.engine import MatchingEngine
from gatebook.host.symbols import DEFAULT_SYMBOLS

from . import repair as disk
from .errors import BadSegment, CorruptLog, LostLog, RecoveryError
from .format import SEGMENT_HEADER_SIZE, check_records, decode_segment_header, segment_version
from .origins import EntryStates, UnknownOrigin
from .repair import Repair
from .replay import replay_inputs, replay_verified
from .report import RecoveryReport
from .segments import list_segments, segment_name
from .snapshot import SnapshotError, list_snapshots, read_snapshot, restore

__all__ = ["CorruptLog", "LostLog", "RecoveryError", "Repair", "RecoveryReport", "UnknownOrigin",
           "recover"]

log = logging.getLogger("gatebook.wal")


def recover(directory, symbols=DEFAULT_SYMBOLS, *, accept_corruption=False, accept_loss=False,
            use_snapshots=True, verify_outputs=False, repair=True, self_trade_prevention=False,
            snapshot_limit=None, origin_codecs=None, front=None):
    """Rebuild the engine from `directory`; return (engine, RecoveryReport).

    By default every record read is checked (CRC, kind, sequence) and INPUT
    records after the snapshot are replayed; `verify_outputs=True` also
    compares every OUTPUT record after the snapshot with the replay's events
    (about twice the time of the replay). `repair=False` reads without changing any file
    (damage in the tail is then only reported). `snapshot_limit` ignores
    snapshots newer than that seq (benchmarks, investigations). An empty or
    missing directory gives an empty engine. `origin_codecs` ({protocol id:
    LogOriginCodec}) read the order-entry origins; by default the registered
    ones (origins.py). `front(engine, saved)` builds what stands in front of the
    engine (the pre-trade risk gate: an object with `apply`), from the snapshot's
    `risk` state (None without one); the log is replayed through it, so it decides
    again what it decided, and it is returned as `report.front`. Without `front`, a
    snapshot's risk gate is restored as it was kept.

    Raises CorruptLog (a damaged record in the middle; `accept_corruption`
    cuts there), LostLog (the log ends before a snapshot or lacks a segment;
    `accept_loss` recovers to its end and sets the rest aside), UnknownOrigin
    (an origin of a protocol no codec reads) or RecoveryError (the file
    system refused: full, permission denied, ...).
    """
    try:
        return _recover(directory, symbols, accept_corruption, accept_loss, use_snapshots,
                        verify_outputs, repair, self_trade_prevention, snapshot_limit,
                        origin_codecs, front)
    except RecoveryError:
        raise
    except OSError as error:
        raise RecoveryError(directory, error) from error


def _recover(directory, symbols, accept_corruption, accept_loss, use_snapshots, verify_outputs,
             repair, self_trade_prevention, snapshot_limit, origin_codecs, front):
    started = time.perf_counter()
    os.makedirs(directory, exist_ok=True)
    excluded, repairs, notes = [], [], []
    while True:
        report = RecoveryReport(directory)
        if repair and not excluded:
            disk.remove_partial_snapshots(directory, report)
            notes += report.notes
        report.states = EntryStates(origin_codecs)
        engine, saved_risk = _start_engine(directory, symbols, report, excluded, use_snapshots,
                                           self_trade_prevention, snapshot_limit)
        report.snapshot_risk = saved_risk       # the risk gate's state the snapshot kept
        if front is None and saved_risk is not None:
            front = _saved_gate(symbols)        # its commands were decided by that gate
        report.front = front(engine, saved_risk) if front is not None else None
        with _rare_gc():
            last = _replay(directory, report.front or engine, report, accept_corruption,
                           accept_loss, verify_outputs, repair)
        repairs += report.repairs
        if not report.snapshot or report.snapshot_seq <= report.log_end_seq:
            break
        # The log ends before this snapshot: it was cut behind it (a snapshot is
        # only written once the log is durable that far).
        if not accept_loss:
            raise _behind(report, report.snapshot)
        log.warning("%s is ahead of the log (log ends at seq %d); not using it",
                    report.snapshot, report.log_end_seq)
        excluded.append(report.snapshot)
    report.repairs, report.notes = repairs, notes + report.notes
    report.rejected_snapshots += [f"{os.path.basename(path)} is ahead of the log" for path in excluded]
    if accept_loss:
        # Every snapshot past the log's end goes, damaged or not: left in place,
        # it would become the base once the log grows past its seq again.
        for seq, path in list_snapshots(directory):
            if seq > report.log_end_seq:
                disk.set_aside(report, path, f"holds seqs up to {seq}, past the log's end at seq "
                                             f"{report.log_end_seq} (--accept-loss)", repair)
    report.records = report.inputs + report.outputs
    disk.settle_resume(directory, report)
    if repair and last is not None:
        disk.rewrite_missing_output(report, *last)
        report.sealed = False
    if repair and not report.sealed:
        disk.seal(report, report.log_end_seq)
    report.state_hash = engine.state_hash()
    report.seconds = time.perf_counter() - started
    return engine, report


def _saved_gate(symbols):
    """The `front` of a log whose snapshot holds a risk gate and whose reader named none:
    that gate, as the snapshot kept it (replayed without it, the log's commands would be
    decided otherwise than they were)."""
    from gatebook.host.risk import RiskGate     # only such a log needs it

    def front(engine, saved):
        return RiskGate.restore(engine, symbols, saved)
    return front


def _behind(report, snapshot):
    seq = report.snapshot_seq
    end = report.log_end_seq
    return LostLog(report.directory,
                   f"{os.path.basename(snapshot)} holds the state up to seq {seq} but the log "
                   f"ends at seq {end} (seqs {end + 1}..{seq} are gone)", end, snapshot)


@contextlib.contextmanager
def _rare_gc():
    """Replay builds no reference cycles: leave what exists alone and collect rarely.

    Like gatebook.host.runtime.quiet_gc, without its initial full collection, which
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
            report.states.restore(state.entry_states, os.path.basename(path))
        except (SnapshotError, OSError) as error:
            # An unreadable snapshot costs replay time, never data: skip it.
            reason = (str(error) if isinstance(error, SnapshotError) else
                      f"{os.path.basename(path)}: cannot read it ({error.strerror})")
            log.warning("snapshot rejected: %s", reason)
            report.rejected_snapshots.append(reason)
            continue
        report.snapshot, report.snapshot_seq = path, seq
        report.last_seq = seq
        return engine, state.risk
    return MatchingEngine(symbols, self_trade_prevention=self_trade_prevention), None


def _replay(directory, engine, report, accept_corruption, accept_loss, verify_outputs, repair):
    """Read and apply every needed segment (`engine`: the engine, or what stands in front).

    Returns (command, events) of the last command when its OUTPUT record is
    missing (the crash fell between the two records), else None.
    """
    segments = list_segments(directory, allow_gaps=True)
    report.segments = [path for _, path in segments]
    skip_to = _first_needed_segment(segments, report.snapshot_seq)
    segments, skip_to = _close_gaps(directory, report, segments, skip_to, accept_loss, repair)
    next_seq = None
    output_seen = True
    last = (None, None)
    final = None                            # (index, data, ScanEnd) of the last segment read

    def refuse_tail(path, offset, reason):
        if report.snapshot and report.snapshot_seq > report.log_end_seq and not accept_loss:
            raise _behind(report, report.snapshot)

    for index in range(skip_to, len(segments)):
        number, path = segments[index]
        with open(path, "rb") as file:
            data = file.read()
        report.read.append(path)
        try:
            header_number, first_seq = decode_segment_header(data)
            if header_number != number:
                raise ValueError(f"header says segment {header_number}")
            if next_seq is not None and first_seq > next_seq:
                if _missing_seqs(report, segments, index, first_seq, next_seq, accept_loss,
                                 repair):
                    break
            if next_seq is not None and first_seq != next_seq:
                raise ValueError(f"starts at seq {first_seq}, expected {next_seq}")
        except ValueError as error:
            if not _torn_header(data) and not accept_corruption:
                raise BadSegment(path, str(error)) from None
            disk.damaged(report, segments, index, data, 0, str(error), accept_corruption, repair,
                         refuse_tail)
            break
        if next_seq is None:
            next_seq = report.first_seq = first_seq
            if first_seq > report.snapshot_seq + 1:
                raise CorruptLog(path, 0, f"the log starts at seq {first_seq} and no snapshot "
                                          f"holds seqs {report.snapshot_seq + 1}..{first_seq - 1}")
        found = []
        scan = check_records(data, next_seq, SEGMENT_HEADER_SIZE, output_seen, found,
                             keep_outputs=verify_outputs)
        end, after, output_seen, outputs, damage, _ = scan
        final = (index, data, scan)
        report.inputs += after - next_seq
        report.outputs += outputs
        replay = replay_verified if verify_outputs else replay_inputs
        last = replay(engine, report, path, data, found, next_seq, last)
        next_seq = after
        report.log_end_seq = next_seq - 1
        report.last_seq = max(report.last_seq, next_seq - 1)
        report.resume = (number, path, next_seq)
        if damage is not None:
            disk.damaged(report, segments, index, data, damage.offset, damage.reason,
                         accept_corruption, repair, refuse_tail)
            final = None
            break
    if final is not None and final[0] == len(segments) - 1:
        _judge_end(report, segments, *final, accept_loss)
    elif report.resume:
        report.sealed = False               # cut: the end needs a COMMIT record again
    command, events = last
    return (command, events) if command is not None and not output_seen else None


def _judge_end(report, segments, index, data, scan, accept_loss):
    """How a log that ends without damage ends: sealed by its last write, cut at a record
    boundary, or missing the segment its last COMMIT record says comes next."""
    path = segments[index][1]
    name = os.path.basename(path)
    marker = scan.marker
    if segment_version(data) < COMMIT_VERSION:
        report.tail = (f"clean as far as a version {segment_version(data)} segment can tell "
                       f"(it has no COMMIT records to tell a cut at a record boundary)")
        return
    if marker is not None and marker.closed:
        following = segment_name(segments[index][0] + 1)
        reason = (f"{name} ends saying the log goes on in {following}, which is missing "
                  f"(it was created before that was written)")
        if not accept_loss:
            raise LostLog(report.directory, reason, report.log_end_seq,
                          os.path.join(report.directory, following))
        report.tail = f"{reason}; its loss accepted (--accept-loss)"
        report.sealed = False
    elif marker is not None:
        report.tail = f"clean (the last write's COMMIT record, seq {marker.seq})"
    elif scan.end > SEGMENT_HEADER_SIZE:
        report.tail = (f"cut at a record boundary after seq {report.log_end_seq}: the last "
                       f"write of {name} has no COMMIT record (torn by a crash, or the end of "
                       f"the log was lost)")
        report.sealed = False
        log.warning("%s: %s", path, report.tail)
    else:
        report.tail = f"clean ({name} holds no records yet)"


def _missing_seqs(report, segments, index, first_seq, next_seq, accept_loss, repair):
    """A segment starts after the seq the one before it ends with: commands between are
    gone. Refuse; with `accept_loss`, set it and the later ones aside and return True."""
    name, before = (os.path.basename(segments[i][1]) for i in (index, index - 1))
    reason = (f"{before} ends at seq {next_seq - 1} but {name} starts at seq {first_seq} "
              f"(seqs {next_seq}..{first_seq - 1} are gone)")
    if not accept_loss:
        raise LostLog(report.directory, reason, next_seq - 1, segments[index][1])
    for _, path in segments[index:]:
        disk.set_aside(report, path, f"{reason} (--accept-loss)", repair)
    return True


def _torn_header(data):
    """A segment header a crash can leave (short, or zeros): not a file that is something else."""
    return len(data) < SEGMENT_HEADER_SIZE or not any(data[:SEGMENT_HEADER_SIZE])


def _close_gaps(directory, report, segments, skip_to, accept_loss, repair):
    """Refuse missing segment numbers; with `accept_loss`, keep the run the state needs.

    A gap at or before the segment the snapshot's tail starts in only cuts
    the audit trail: the segments before it are set aside (as if pruned). A
    gap after it cuts the log: the segments after it are set aside, and the
    log ends where the segment before the gap ends.
    """
    gaps = [index for index in range(1, len(segments))
            if segments[index][0] != segments[index - 1][0] + 1]
    if not gaps:
        return segments, skip_to
    if not accept_loss:
        index = gaps[0]
        missing = segment_name(segments[index - 1][0] + 1)
        before, after = (os.path.basename(segments[i][1]) for i in (index - 1, index))
        raise LostLog(directory, f"{missing} is missing ({before} is followed by {after})",
                      f"the end of {before}", os.path.join(directory, missing))
    front = max([index for index in gaps if index <= skip_to], default=0)
    back = min([index for index in gaps if index > skip_to], default=len(segments))
    for _, path in segments[:front]:
        disk.set_aside(report, path, "before a missing segment (--accept-loss)", repair)
    for _, path in segments[back:]:
        disk.set_aside(report, path, "after a missing segment (--accept-loss)", repair)
    return segments[front:back], skip_to - front


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
