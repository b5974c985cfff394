"""What recovery found, for people (`gatebook recover`, `gatebook run`) and for code.

`RecoveryReport` is filled in by recovery.py; `lines()` is what `gatebook
recover` prints: segments read, pruned ones, records, the sequence range, the
snapshot used or rejected, the replay, the order-entry protocols' states,
how the log ends (`tail:`), notes, the next seq and the state hash.
"""

import os
from dataclasses import dataclass, field

from .origins import EntryStates
from .segments import SEGMENT_PATTERN, segment_name

__all__ = ["RecoveryReport"]


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
    states: EntryStates = None   # the order-entry protocols' states as of last_seq
    origins: int = 0             # replayed commands that came from order entry
    tail: str = "clean"          # how the log ends, when nothing had to be cut
    sealed: bool = True          # whether the log ends with a COMMIT record (or cannot)

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
        if self.states is not None:
            yield f"order entry: {self.origins} replayed commands came from order entry"
            yield from (f"order entry {line}" for line in self.states.lines())
        yield from (f"tail: {repair.line()}" for repair in self.repairs) if self.repairs else [f"tail: {self.tail}"]
        yield from (f"note: {note}" for note in self.notes)
        yield f"next seq: {self.last_seq + 1}"
        yield f"state hash: {self.state_hash}"



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
