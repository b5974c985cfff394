"""The exchange with a log: sequencer, engine and log writer as one crash-safe unit.

Opening a `JournaledExchange` recovers its directory first, so the engine
starts exactly where the last acknowledged command left it and the sequencer
continues at the next number. `submit` stamps a command, applies it and
queues it for the log; the caller's `on_ack(seq)` fires (on the writer's
thread) once every command up to `seq` may be acknowledged under the
durability policy. Events are computed at once, but an exchange must hold
them back from clients until that acknowledgement.

A command from order entry is logged with its origin (`apply(command,
(protocol, origin bytes))`), so recovery rebuilds the order-entry
protocols' states too (`states`, an `EntryStates`: origins.py). An exchange
whose order entries keep their own state hands the journal an
`entry_states` callable; snapshots then wait for `snapshot_due` to be served
between bursts, when those states are exactly the states after the last
command. Without one the journal keeps the states itself from what it logs.

Once the log fails (disk full, I/O error) `submit` raises LogFailure for
good: the engine already holds commands the log will never have, so the
only way on is a restart, which recovers from what is on disk.
"""

import os
import threading

from gatebook.wire.codec import WireError
from gatebook.wire.positions import INTERNAL
from gatebook.host.clock import WallClock
from gatebook.host.sequencer import Sequencer
from gatebook.host.symbols import DEFAULT_SYMBOLS

from .recovery import recover
from .epoch import read_epoch
from .origins import EntryStates
from .segments import PRUNE_MODES, prune_segments
from .snapshot import capture, encode, list_snapshots, write_snapshot
from .writer import Durability, LogFailure, LogWriter

__all__ = ["JournaledExchange"]

_SEQ, _TS = INTERNAL.NEW_ORDER.seq, INTERNAL.NEW_ORDER.ts     # every command's (gatebook.wire.positions)


class JournaledExchange:
    """A matching engine whose every command is logged before it is acknowledged.

    Parameters
    ----------
    directory : str
        The log directory (created if missing, recovered if not empty).
    symbols : iterable of SymbolSpec
    policy : Durability or str
        strict (default), batched or none; see writer.py.
    clock : callable returning int nanoseconds
    on_ack : callable(seq) or None
        Called from the writer thread as acknowledgements become allowed.
    snapshot_every : int
        Take a snapshot every this many commands (default 50,000: recovery
        then replays at most that many, about 0.3 s); 0 never.
    keep_snapshots : int
        Older snapshot files are deleted (the log still holds everything).
    prune : str
        What happens to segments that hold only commands before the oldest
        kept snapshot, once a snapshot is durable: "keep" (the default; the
        log stays the complete audit trail), "archive" (moved to
        `archive_dir`) or "delete".
    archive_dir : str or None
        Where "archive" moves them (default LOGDIR/archive; another file
        system is fine: they are copied and fsync'ed before removal).
    accept_corruption : bool
        Passed to recovery: cut the log at a corrupt record in the middle.
    accept_loss : bool
        Passed to recovery: recover a cut log (one that ends before a
        snapshot, or lacks a segment) to where it ends.
    recovered : (engine, last seq, resume point[, EntryStates[, front]]) or None
        Skip recovery and continue from this state (a promoted follower,
        whose engine is already current).
    origin_codecs : dict or None
        {protocol id: LogOriginCodec} reading the order-entry origins the log
        holds; by default the registered ones (origins.py).
    matcher : callable(engine) -> matcher, optional
        What matches the logged commands, built around the recovered engine:
        an object with `apply(command) -> events` and `reclaim()` (which
        brings every order it holds elsewhere back into the engine's books),
        such as a `gatebook.host.hybrid.HybridExchange` whose lanes are FPGAs. By
        default the engine itself. Its events must be the engine's (the
        hybrid equivalence tests hold it to that); snapshots reclaim first.
    front : callable(engine, saved) -> object, optional
        What stands in front of the engine (host/risk/: the pre-trade risk gate),
        built in recovery around the recovered engine from the snapshot's `risk`
        state (`saved`, None without one); every command goes through its `apply`,
        and snapshots keep its `export()`. Public as `front`: set it to None to take
        it away (then take a snapshot, so recovery replays without it).
    writer_options : dict
        More LogWriter arguments (batch_ms, segment_bytes, on_batch, max_pending).
    """

    def __init__(self, directory, symbols=DEFAULT_SYMBOLS, *, policy=Durability.STRICT,
                 clock=None, on_ack=None, snapshot_every=50_000, keep_snapshots=2,
                 prune="keep", archive_dir=None, accept_corruption=False, accept_loss=False,
                 recovered=None, matcher=None, origin_codecs=None, front=None,
                 **writer_options):
        self.directory = directory
        if recovered is None:
            self.engine, self.recovery = recover(directory, symbols,
                                                 accept_corruption=accept_corruption,
                                                 accept_loss=accept_loss,
                                                 origin_codecs=origin_codecs, front=front)
            last_seq, resume = self.recovery.last_seq, self.recovery.resume
            self.states = self.recovery.states
            self.front = self.recovery.front
        else:
            self.engine, last_seq, resume = recovered[:3]
            self.states = recovered[3] if len(recovered) > 3 else EntryStates(origin_codecs)
            self.recovery = None
            # A promoted follower hands over its front as it stands.
            self.front = recovered[4] if len(recovered) > 4 else (
                front(self.engine, None) if front is not None else None)
        # The order-entry states as of the last command: kept here from what is
        # logged until an exchange supplies them (entry_states), then as it says.
        self.entry_states = None
        self.snapshot_due = False
        self.matcher = matcher(self.engine) if matcher is not None else None
        self.epoch = read_epoch(directory)
        self.fenced = None                  # a Fenced error once a newer primary is known
        self.sequencer = Sequencer(clock or WallClock(), last_seq + 1)
        self.writer = LogWriter(directory, policy, on_durable=on_ack, resume=resume,
                                **writer_options)
        self.snapshot_every = snapshot_every
        self.keep_snapshots = max(1, keep_snapshots)
        if prune not in PRUNE_MODES:
            raise ValueError(f"prune must be one of {', '.join(PRUNE_MODES)}, not {prune!r}")
        self.prune = prune
        self.archive_dir = archive_dir or os.path.join(directory, "archive")
        self.pruned = []                    # segment paths deleted or archived so far
        # Counted from the newest snapshot on disk, not from this process's
        # start: a log restarted more often than every `snapshot_every`
        # commands would otherwise never get one, and each restart would
        # replay more of it.
        # From the snapshot recovery used (the newest valid one: a damaged newer
        # one is replaced soon), or, for a promoted follower, the newest on disk.
        newest = (self.recovery.snapshot_seq if self.recovery is not None else max(
            (seq for seq, _ in list_snapshots(directory) if seq <= last_seq), default=0))
        self._since_snapshot = last_seq - newest
        self._last_ts = 0
        self._snapshot_thread = None
        self.snapshot_error = None
        self.snapshot_listeners = []        # callables(last_seq) told of each capture

    def submit(self, code, *fields):
        """Sequence, apply and log one command; return (seq, events).

        Raises WireError for a command the log cannot encode (nothing is
        sequenced), LogFailure once the log has failed and epoch.Fenced once
        a newer primary is known.
        """
        failure = self.writer.failure or self.fenced
        if failure:
            raise failure
        command = self.sequencer.stamp(code, *fields)
        return command[_SEQ], self.apply(command)

    def apply(self, command, origin=None):
        """Log and apply one command already stamped by `self.sequencer`; return its events.

        The engine interface (`apply(command) -> events`) for callers that
        stamp commands themselves, as order entry does with this exchange's
        sequencer. The command must carry the sequencer's latest number; on
        WireError that number is given back (the log stays gapless).
        `origin` is `(protocol id, the protocol's origin bytes)` for a command
        from order entry (`OrderEntry.origin`), logged in its INPUT record.
        """
        failure = self.writer.failure or self.fenced
        if failure:
            raise failure
        writer = self.writer
        # The INPUT record is encoded first, straight into the writer's batch:
        # a command or origin the log cannot hold never reaches the engine.
        try:
            writer.log_input(command[_SEQ], command[_TS], command, origin)
            if origin is not None:
                protocol = origin[0]
                if self.entry_states is None:
                    origin = self.states.decode(origin[1], 0, len(origin[1]), protocol,
                                                command[_SEQ])
            else:
                protocol = None
        except (WireError, ValueError) as error:
            writer.drop_input()
            self.give_back(command)
            if isinstance(error, WireError):
                raise
            raise WireError(f"origin of seq {command[_SEQ]}: {error}") from None
        try:
            events = (self.front or self.matcher or self.engine).apply(command)
        except BaseException:
            writer.drop_input()             # never applied: its number goes to the next
            self.give_back(command)
            raise
        writer.log_output(events)
        self._last_ts = command[_TS]
        if self.entry_states is None:
            self.states.replay(command, protocol, origin, events)
        if self.snapshot_every:
            self._since_snapshot += 1
            if self._since_snapshot >= self.snapshot_every:
                if self.entry_states is None:
                    self.snapshot()
                else:
                    self.snapshot_due = True    # the exchange takes it between bursts
        return events

    def give_back(self, command):
        """`command` will not be applied: its sequence number goes to the next one.

        Only the latest number can go back (the log stays gapless); an older
        command's number is already followed by others and stays taken.
        """
        sequencer = self.sequencer
        if command[_SEQ] == sequencer.next_seq - 1:
            sequencer.next_seq -= 1

    def fence(self, error):
        """A newer primary exists (`error` is a Fenced saying which): accept no more commands."""
        self.fenced = error

    def snapshot(self, wait=False):
        """Capture the engine now; write the file once the log is durable that far.

        Returns False when the previous snapshot is still being written (this
        one is skipped rather than queued).
        """
        if self._snapshot_thread is not None and self._snapshot_thread.is_alive():
            return False
        self._since_snapshot = 0
        self.snapshot_due = False
        if self.matcher is not None:
            self.matcher.reclaim()
        entry_states = self.states.export() if self.entry_states is None else self.entry_states()
        state = capture(self.engine, self._last_ts, entry_states,
                        self.front.export() if self.front is not None else None)
        self._snapshot_thread = threading.Thread(target=self._write_snapshot, args=(state,),
                                                 name="gatebook-snapshot", daemon=True)
        self._snapshot_thread.start()
        for listen in self.snapshot_listeners:      # e.g. the feed checkpoint (marketdata)
            listen(state.last_seq)
        if wait:
            self._snapshot_thread.join()
            if self.snapshot_error:
                raise self.snapshot_error
        return True

    def _write_snapshot(self, state):
        try:
            # Durable, not only acknowledged: under batched and none an
            # acknowledged command may still be only in the page cache.
            self.writer.wait_synced(state.last_seq)
            write_snapshot(self.directory, encode(state), state.last_seq)
            kept = list_snapshots(self.directory)
            for _, path in kept[self.keep_snapshots:]:
                os.unlink(path)
            if self.prune != "keep":
                # Recovery may fall back to the oldest kept snapshot (the newest
                # damaged, or ahead of a log cut with --accept-loss), so only
                # what precedes that goes.
                oldest = kept[:self.keep_snapshots][-1][0]
                self.pruned += prune_segments(self.directory, oldest, self.prune,
                                              self.archive_dir)
        except (OSError, LogFailure) as error:
            # A missing snapshot costs recovery time, never data: note it and go on.
            self.snapshot_error = error

    @property
    def acked_seq(self):
        return self.writer.acked_seq

    def close(self):
        """Write and sync everything queued; raise LogFailure if that failed."""
        if self._snapshot_thread is not None:
            self._snapshot_thread.join()
        self.writer.close()
