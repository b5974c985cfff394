"""The ledger writer: the log's executions into the ledger database, exactly once.

`LedgerWriter` tails a log directory (tail.py) from the seq after the one the
database's cursor holds, turns each EXECUTED event into an execution row and
its double-entry postings (postings.py), and applies up to `batch_commands`
commands per transaction (store.py), moving the cursor in that same
transaction. So:

- replaying the log, or restarting (or SIGKILLing) the writer, never applies
  an execution twice nor skips one: a batch is in the database whole, cursor
  included, or not at all, and the next start reads from the cursor;
- matching never waits for it: it reads the log's files after the exchange
  wrote them, in its own thread or process;
- when the database is down, it waits (backing off to 1 s), reconnects and
  catches up from the log, which holds everything;
- before the first batch it checks that the log still holds the last command
  applied, with the same CRC: a ledger fed from another log, or a log cut or
  rewritten behind it, stops the writer with a sentence saying so.

Lag (`status()`): the newest seq in the log minus the newest applied.
"""

import threading
from collections import Counter
from typing import NamedTuple

from ..wal.reader import input_crc
from .postings import (CASH, FeeSchedule, Unrepresentable, execution_of, postings)
from .store import CursorMoved, StoreRejected, StoreUnavailable
from .tail import LogTail, newest_seq

__all__ = ["LedgerWriter", "Batch", "build_batch", "Status"]

# Seconds between attempts to reach a database that is down (the last repeats).
RETRY_SECONDS = (0.05, 0.1, 0.2, 0.5, 1.0)


class Batch(NamedTuple):
    """One transaction's worth: rows to insert and balance changes to add."""
    last_seq:   int
    last_crc:   int
    executions: list        # Execution rows
    postings:   list        # Posting rows
    cash:       dict        # account -> change
    positions:  dict        # (account, symbol) -> change


class Status(NamedTuple):
    applied_seq:  int       # every command up to here is in the database
    produced_seq: int       # the newest command in the log
    lag:          int       # produced_seq - applied_seq
    executions:   int       # applied by this writer since it started
    batches:      int
    database:     str       # "up", or why it is down
    problem:      object    # why the writer cannot go on, or None
    errors:       dict      # problems met, by kind


def build_batch(commands, fees):
    """A Batch of `commands` (tail.Command), or raise Unrepresentable naming the
    first execution the ledger cannot hold."""
    rows, legs, cash, positions = [], [], {}, {}
    for command in commands:
        for event in command.executions:
            execution = execution_of(event, fees)
            rows.append(execution)
            for posting in postings(execution):
                legs.append(posting)
                if posting.book == CASH:
                    cash[posting.account] = cash.get(posting.account, 0) + posting.amount
                else:
                    key = (posting.account, posting.symbol)
                    positions[key] = positions.get(key, 0) + posting.amount
    last = commands[-1]
    return Batch(last.seq, last.input_crc, rows, legs, cash, positions)


class LedgerWriter:
    """Apply a log directory's executions to a ledger database, in batches.

    Parameters
    ----------
    log_dir : str
        The exchange's log directory (read only; never changed).
    store : LedgerStore
        The database (store.open_store); reconnected here when it drops.
    fees : FeeSchedule
    batch_commands : int
        Most commands per transaction.
    poll_seconds : float
        How long to sleep when the log has nothing new.
    sleep : callable(seconds) or None
        How to wait before trying a database that is down again; by default a
        wait that `stop()` cuts short.
    """

    def __init__(self, log_dir, store, *, fees=None, batch_commands=5000, poll_seconds=0.02,
                 sleep=None):
        self.log_dir = log_dir
        self.store = store
        self.fees = fees or FeeSchedule()
        self.batch_commands = batch_commands
        self.poll_seconds = poll_seconds
        self.sleep = sleep or self.wait
        self.tail = None
        self.applied_seq = None
        self.applied_crc = None
        self.executions = 0
        self.batches = 0
        self.database = "not connected"
        self.problem = None
        self.errors = Counter()         # the writer's own problems, by kind
        self._tail_errors = Counter()   # the log's problems, from tails dropped so far
        self._retry = 0
        self._one_at_a_time_until = 0   # after a refused batch: find the command refused
        self._stop = threading.Event()
        self._thread = None

    # -- one step -----------------------------------------------------------------------

    def step(self):
        """Apply what the log has ready (at most one batch); the number of commands applied.

        Never raises for the database or the log: a database that is down is
        counted and retried later, a log or execution the ledger cannot take
        is `problem`.
        """
        try:
            if self.tail is None:
                self._start_from_cursor()
                if self.tail is None:
                    return 0
            limit = 1 if self.tail.next_seq <= self._one_at_a_time_until else self.batch_commands
            commands = self.tail.poll(limit)
            if self.tail.problem and not commands:
                self._set_problem(self.tail.problem, None)
                return 0
            if not commands:
                self.problem = None
                return 0
            try:
                batch = build_batch(commands, self.fees)
            except Unrepresentable as error:
                return self._refuse(commands, str(error), "unrepresentable")
            try:
                self.store.apply(self.applied_seq, batch)
            except StoreRejected as error:
                return self._refuse(commands, f"the database refused it: {error}",
                                    "refused_by_database")
            self.applied_seq, self.applied_crc = batch.last_seq, batch.last_crc
            self.executions += len(batch.executions)
            self.batches += 1
            self.database = "up"
            self.problem = None
            self._retry = 0
            return len(commands)
        except StoreUnavailable as error:
            self._database_down(str(error))
            return 0
        except CursorMoved as error:
            self.errors["cursor_moved"] += 1
            self.problem = str(error)
            self._drop_tail()           # start again from what the database holds
            return 0

    def _refuse(self, commands, reason, kind):
        """A batch the ledger cannot take: narrow it down to one command, then stop there."""
        self._drop_tail()               # re-read them from the cursor
        if len(commands) > 1:
            self._one_at_a_time_until = commands[-1].seq
            return self.step()
        self._set_problem(f"seq {commands[0].seq}: {reason}; the ledger stops before it", kind)
        return 0

    def _set_problem(self, text, kind):
        """Record why the writer cannot go on; `kind` counts it (None: the tail counted it)."""
        if text != self.problem and kind is not None:
            self.errors[kind] += 1
        self.problem = text

    def _drop_tail(self):
        if self.tail is not None:
            self._tail_errors += self.tail.refused
            self.tail = None

    def _database_down(self, text):
        if self.database == "up" or self.database == "not connected":
            self.errors["database_unavailable"] += 1
        self.database = text
        self._drop_tail()               # the cursor may have moved before the connection broke
        self.sleep(RETRY_SECONDS[min(self._retry, len(RETRY_SECONDS) - 1)])
        self._retry += 1

    def _start_from_cursor(self):
        """Read the cursor, check the log still holds what it names and the ledger's fees
        are ours, position the tail."""
        cursor = self.store.cursor()
        self.database = "up"
        self.applied_seq, self.applied_crc = cursor.applied_seq, cursor.applied_crc
        held = self.store.adopt_fees(self.fees)
        if held != self.fees:
            self._set_problem(f"the ledger was written with other fees ({held}), not "
                              f"{self.fees}: one ledger keeps one fee schedule (give the "
                              "writer the same --fees, or start a new database)", "fees_differ")
            return
        if self.applied_seq and self.applied_crc is not None:
            try:
                found = input_crc(self.log_dir, self.applied_seq)
            except OSError as error:
                self._set_problem(f"{self.log_dir}: {error.strerror}", "log_unreadable")
                return
            except ValueError:          # a segment missing: the tail says which
                found = None
            newest = newest_seq(self.log_dir)
            if found is None and newest is not None and newest < self.applied_seq:
                self._set_problem(
                    f"the log ends at seq {newest}, before the ledger's seq {self.applied_seq}: "
                    "the log was cut behind the ledger, or this is another log", "log_behind")
                return
            if found is not None and found != self.applied_crc:
                self._set_problem(
                    f"the log's command {self.applied_seq} is not the one the ledger applied "
                    f"(INPUT CRC {found:#010x}, the ledger holds {self.applied_crc:#010x}): this "
                    "database was fed from another log, or the log was rewritten", "foreign_log")
                return
        self.tail = LogTail(self.log_dir, self.applied_seq + 1)

    # -- running ------------------------------------------------------------------------

    def status(self):
        """The writer's Status; produced_seq from the log's newest COMMIT record (or the
        newest command read, if the log does not end with one)."""
        applied = self.applied_seq or 0
        produced = max(applied, self.tail.probe_end() if self.tail
                       else newest_seq(self.log_dir) or 0)
        errors = self.errors + self._tail_errors + (self.tail.refused if self.tail else Counter())
        return Status(applied, produced, produced - applied, self.executions, self.batches,
                      self.database, self.problem, dict(errors))

    def run(self, until=None):
        """Step until `stop()` (or `until()` returns true), sleeping when idle."""
        while not self._stop.is_set() and not (until and until()):
            if not self.step():
                self._stop.wait(self.poll_seconds)

    def catch_up(self):
        """Apply everything the log holds now; return the Status (stops early on a
        problem, or when the database is down)."""
        while self.step():
            pass
        return self.status()

    def start(self):
        """Run in a background thread (daemon: the log, not this thread, is the truth)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="ledger-writer", daemon=True)
        self._thread.start()
        return self

    def stopping(self):
        """Whether `stop()` was called."""
        return self._stop.is_set()

    def wait(self, seconds):
        """Sleep `seconds`, or less if `stop()` is called meanwhile."""
        self._stop.wait(seconds)

    def stop(self):
        """Make `run` return (and join its thread, if `start` made one); safe in a
        signal handler."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def close(self):
        """Stop, and close the store's connection."""
        self.stop()
        self.store.close()
