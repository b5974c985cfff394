"""The group-commit log writer: a thread that owns the segment files.

The matching thread encodes each command's two records itself, straight into
the writer's `batch.RecordBatch` (compiled from batch.py where built):
`log_input` before the engine applies the command (a command the log cannot
hold is refused before the engine sees it), `log_output` with its events.
It never waits for a disk, and it wakes the writer's thread only when that
thread sleeps with nothing to do. The writer takes every completed command
in the batch at once, writes them with one `write` and, as the policy says,
one `fdatasync`:

========  ==========================================  =======================
policy    an acknowledgement may leave when...         a crash loses
========  ==========================================  =======================
strict    its batch is written and fdatasync'ed        nothing acknowledged
batched   its batch is written (an fdatasync N ms      power cut: the last N ms
          after the last one ended)                    of acks + scheduling +
                                                       one fdatasync; process
                                                       crash: nothing acked
none      its batch is written (fdatasync never,       power cut: everything
          except at segment roll and close)            since the last roll
========  ==========================================  =======================

A killed process loses nothing the kernel already has, so under every policy
acknowledged commands survive SIGKILL; the policies differ on power loss.

Why the records are encoded on the matching thread: the writer thread once
encoded them itself, under the GIL, and two threads both running Python
took turns at the GIL: a logged command cost about 3.8 times the CPU of an
unlogged one (docs/benchmarks.md). Now the writer thread runs Python only
once per batch, between system calls (write, fdatasync), which release the
GIL. The batch is shared under one re-entrant lock (`_lock`, the condition
`_cond`'s), taken twice per command by the matching thread, never held
across the engine.

Every write ends with a COMMIT record (format.encode_commit), so recovery
can tell a log that ended cleanly from one cut at a record boundary. Under
`batched` a backlog is written `batched_chunk` commands at a time, looking
at the sync timer between chunks: one long write must not hold back a
due fdatasync. `waited_micros` and `exposed_micros` measure, per
acknowledgement, the time to the start and to the end of its fdatasync.

Any OSError (ENOSPC, EIO, a failed fdatasync) is final: the writer cuts the
half-written batch off the file, stops, and every later `append` raises
`LogFailure`. It never retries an fdatasync, because after a failed one
Linux may have dropped the dirty pages it could not write.
"""

import collections
import enum
import errno
import threading
import time

from hdrh.histogram import HdrHistogram

from .batch import RecordBatch
from .format import encode_commit
from .segments import SegmentAppender

__all__ = ["Durability", "LogFailure", "LogWriter"]


class Durability(enum.Enum):
    STRICT = "strict"
    BATCHED = "batched"
    NONE = "none"


class LogFailure(RuntimeError):
    """The log cannot take more records; the exchange must stop accepting orders."""


class LogWriter:
    """Writes commands and their events to a log directory from its own thread.

    Parameters
    ----------
    directory : str
    policy : Durability or str
    batch_ms : float
        `batched` only: the longest a written batch waits for its fdatasync.
    segment_bytes : int
        Roll to a new segment past this size (default 16 MiB, about 80,000
        commands: recovery checks the whole segment its snapshot falls in).
    on_durable : callable(seq) or None
        Called from the writer thread once every command up to `seq` may be
        acknowledged under the policy.
    on_batch : callable(batch, first_seq, last_seq) or None
        Called with each batch's bytes at the same moment (replication).
    resume : (segment number, path, next seq) or None
        Where recovery left the log; None starts a new log at seq 1.
    max_pending : int
        Commands queued before `append` blocks (backpressure, bounded memory).
    """

    def __init__(self, directory, policy=Durability.STRICT, *, batch_ms=2.0,
                 segment_bytes=16 << 20, on_durable=None, on_batch=None, resume=None,
                 max_pending=65536):
        self.directory = directory
        self.policy = Durability(policy)
        self.batch_seconds = batch_ms / 1000
        self.on_durable = on_durable
        self.on_batch = on_batch
        self.max_pending = max_pending
        # batched: commands written between two looks at the sync timer (about
        # 3 ms of encoding here), what the loss window may overrun N ms by.
        self.batched_chunk = 256
        number, path, next_seq = resume or (0, None, 1)
        self._appender = SegmentAppender(directory, segment_bytes, number, path, next_seq)
        self.written_seq = self.synced_seq = self.acked_seq = next_seq - 1
        self.failure = None
        self.batches = self.syncs = self.records = self.bytes = 0
        self.sync_micros = HdrHistogram(1, 60_000_000, 3)
        # batched: from an acknowledgement leaving (its batch written) to the start
        # of the fdatasync that covers it (what the policy decides), and to its
        # end (what a power cut could take: that plus the disk's sync time).
        self.waited_micros = HdrHistogram(1, 600_000_000, 3)
        self.exposed_micros = HdrHistogram(1, 600_000_000, 3)
        self._exposed = collections.deque()     # (acked seq, monotonic ns when acked)
        self._batch = RecordBatch(self.batched_chunk)
        self._idle = False                  # the writer's thread waits with nothing to do
        self._sync_wanted = 0               # wait_synced: sync up to here whatever the policy
        self._closing = False
        self._last_sync = time.monotonic()
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self._run, name="gatebook-log-writer", daemon=True)
        self._thread.start()

    # -- the matching thread's side ------------------------------------------

    def log_input(self, seq, ts, command, origin=None):
        """Encode a command's INPUT record (its origin, from order entry: (protocol id,
        bytes)) before the engine applies it; its events follow with `log_output`.

        Raises WireError for a command or origin the log cannot hold (nothing is
        added; the caller gives its sequence number back), LogFailure once failed.
        """
        with self._lock:
            if self.failure:
                raise self.failure
            if self._batch.commands >= self.max_pending:
                self._wait_for_room()
            self._batch.add_input(seq, ts, command, origin)

    def log_output(self, events):
        """Encode the events of the command `log_input` took, and queue both records.

        Events that do not fit their table are an encoding bug: the log stops
        (LogFailure) rather than hold a command without its events.
        """
        with self._lock:
            try:
                self._batch.add_output(events)
            except Exception as error:  # noqa: BLE001 (whatever it is, nothing is queued)
                self._fail(error)
                raise self.failure from error
            if self._idle:
                self._idle = False
                self._cond.notify_all()

    def drop_input(self):
        """Forget the INPUT record `log_input` took: its command was never applied."""
        with self._lock:
            self._batch.drop_input()

    def append(self, seq, ts, command_bytes, events):
        """Queue one command whose INPUT payload is already encoded, and its events;
        raise LogFailure once failed (also for events that do not fit their table)."""
        with self._lock:
            if self.failure:
                raise self.failure
            if self._batch.commands >= self.max_pending:
                self._wait_for_room()
            try:
                self._batch.add_encoded(seq, ts, command_bytes, events)
            except Exception as error:      # noqa: BLE001 (whatever it is, nothing is queued)
                self._fail(error)
                raise self.failure from error
            self._wake()

    def append_records(self, first_seq, last_seq, records):
        """Queue records already encoded (a follower copying its primary's log)."""
        with self._lock:
            if self.failure:
                raise self.failure
            if self._batch.commands >= self.max_pending:
                self._wait_for_room()
            self._batch.add_records(first_seq, last_seq, records)
            self._wake()

    def _wake(self):
        # Under the lock: the writer's thread sleeping with nothing to do gets the batch.
        if self._idle:
            self._idle = False
            self._cond.notify_all()

    def _wait_for_room(self):
        # Under the lock: backpressure, bounded memory.
        while self._batch.commands >= self.max_pending and not self.failure:
            self._cond.wait()
        if self.failure:
            raise self.failure

    def wait_acked(self, seq, timeout=None):
        """Block until `seq` may be acknowledged; False on timeout. Raises LogFailure."""
        with self._cond:
            return self._wait(lambda: self.acked_seq >= seq, timeout)

    def wait_synced(self, seq, timeout=None):
        """Block until every command up to `seq` is fdatasync'ed, asking for that sync
        now whatever the policy; False on timeout. Raises LogFailure.

        What a snapshot waits for: under `batched` and `none` an acknowledged
        command may still be only in the page cache, and a snapshot ahead of
        the durable log would outlive the records a power cut takes.
        """
        with self._cond:
            self._sync_wanted = max(self._sync_wanted, seq)
            self._cond.notify_all()
            return self._wait(lambda: self.synced_seq >= seq, timeout)

    def _wait(self, reached, timeout):
        # Under self._cond: wait until reached(), a failure (raised) or the timeout (False).
        deadline = None if timeout is None else time.monotonic() + timeout
        while not reached():
            if self.failure:
                raise self.failure
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            self._cond.wait(remaining)
        return True

    def close(self):
        """Write and sync everything queued, then stop. Raises LogFailure if that failed."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        self._appender.close()
        if self.failure:
            raise self.failure

    @property
    def position(self):
        return self._appender.position

    def resume_point(self):
        """(segment number, path, next seq): where another writer continues this log."""
        return self._appender.number, self._appender.file.path, self.written_seq + 1

    # -- the writer thread ---------------------------------------------------

    def _run(self):
        try:
            while True:
                with self._cond:
                    while not (self._batch.commands or self._closing or self._sync_due()
                               or self.written_seq > self.synced_seq < self._sync_wanted):
                        self._idle = True
                        self._cond.wait(self._sync_wait())
                    self._idle = False
                    full = self._batch.commands >= self.max_pending
                    items = self._batch.take()
                    closing = self._closing
                    if full:
                        self._cond.notify_all()     # producers blocked on a full batch
                if items and self.policy is Durability.BATCHED:
                    # A sync falls due every N ms even while a big backlog is
                    # written: write it in chunks (the batch's items, at most
                    # `batched_chunk` commands each) and sync between them, so the
                    # time an acknowledgement waits for its fdatasync stays near N.
                    for item in items:
                        self._write([item])
                        self._publish()
                        if self._sync_due():
                            self._sync()
                elif items:
                    self._write(items)
                if self.written_seq > self.synced_seq and (
                        closing or self.policy is Durability.STRICT or self._sync_due()
                        or self._sync_wanted > self.synced_seq):
                    self._sync()
                self._publish()
                if closing and not items:
                    return
        except OSError as error:
            self._fail(error)
        except Exception as error:      # a bug: stop rather than log garbage
            self._fail(error)

    def _write(self, items):
        # items: (first seq, last seq, commands, encoded records), queued in order.
        parts = [records for _, _, _, records in items]
        first, last = items[0][0], items[-1][1]
        # The write ends with a COMMIT record: a log that does not end with one
        # lost the end of a write (torn by a crash, or cut) and recovery says so.
        parts.append(encode_commit(last, self.synced_seq))
        batch = b"".join(parts)
        self._appender.append(batch, first)
        self.written_seq = last
        self.batches += 1
        self.records += 2 * sum(commands for _, _, commands, _ in items)
        self.bytes += len(batch)
        if self.on_batch is not None:
            self.on_batch(batch, first, last)

    def _sync(self):
        started = time.monotonic_ns()
        self._appender.sync()
        done = time.monotonic_ns()
        self.sync_micros.record_value(max(1, (done - started) // 1000))
        with self._cond:
            self.synced_seq = self.written_seq
            self._cond.notify_all()         # wait_synced
        exposed = self._exposed
        while exposed and exposed[0][0] <= self.synced_seq:
            acked_at = exposed.popleft()[1]
            self.waited_micros.record_value(max(1, (started - acked_at) // 1000))
            self.exposed_micros.record_value(max(1, (done - acked_at) // 1000))
        self.syncs += 1
        self._last_sync = time.monotonic()

    def _publish(self):
        ackable = self.synced_seq if self.policy is Durability.STRICT else self.written_seq
        if ackable > self.acked_seq:
            if ackable > self.synced_seq:
                self._exposed.append((ackable, time.monotonic_ns()))
            with self._cond:
                self.acked_seq = ackable
                self._cond.notify_all()
            if self.on_durable is not None:
                self.on_durable(ackable)

    def _sync_due(self):
        return (self.policy is Durability.BATCHED and self.written_seq > self.synced_seq
                and time.monotonic() - self._last_sync >= self.batch_seconds)

    def _sync_wait(self):
        if self.policy is Durability.BATCHED and self.written_seq > self.synced_seq:
            return max(0.0, self._last_sync + self.batch_seconds - time.monotonic())
        return None

    def _fail(self, error):
        number, size = self._appender.position
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            what = "log disk full (ENOSPC)"
        elif isinstance(error, OSError):
            what = f"log write failed ({errno.errorcode.get(error.errno, error.errno)}: {error.strerror})"
        else:
            what = f"log writer stopped ({type(error).__name__}: {error})"
        failure = LogFailure(
            f"{what} at segment-{number:08d}.wal offset {size} in {self.directory}: "
            f"accepting no more commands. Every acknowledged command (up to seq {self.acked_seq}) "
            f"is on disk; commands after it were never acknowledged. Fix the disk, then run "
            f"`gatebook recover --dir {self.directory}`.")
        failure.__cause__ = error
        with self._cond:
            self.failure = failure
            self._batch = RecordBatch(self.batched_chunk)
            self._cond.notify_all()

