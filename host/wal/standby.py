"""The follower's side of hot standby: a shadow engine fed by the primary's log.

A `Follower` recovers its own log directory, connects to the primary and
authenticates it (channel.py: both ends prove they hold the shared secret,
then every frame carries a MAC), says which sequence number it needs next,
then for every record that arrives: checks it (CRC and sequence, the same
rules as recovery), applies INPUT records to its engine, compares OUTPUT
records with the events its engine produced (the shadow book must agree with
the primary event for event), and appends the records to its own log; once
they are durable there it answers APPLIED.

The failover rule: a lost connection is not a dead primary. The follower
reconnects and resumes from its next sequence number; it promotes only when
it has had no authenticated contact (records or heartbeats) for
`heartbeat_timeout` seconds and every reconnection attempt in that window
failed. A connection that stays silent for half the timeout is dropped and
retried, so a dead link is told from a dead primary. A peer that fails
authentication or a MAC is logged, counted in `refused`, and never counts
as contact. `promote()` then turns the follower into a JournaledExchange
that continues the sequence at the next number, on the same engine, with no
replay, one epoch higher (epoch.py): it refuses to follow a primary of an
older epoch, and fences one that connects to it.
"""

import collections
import logging
import struct
import threading
import time

from gatebook.wire.wal import APPLIED, HEARTBEAT, HELLO, RECORDS, REFUSE, RefuseReason
from gatebook.host.symbols import DEFAULT_SYMBOLS

from .channel import AuthError, connect_follower, require_secret
from .epoch import Fenced, read_epoch, write_epoch
from .format import HEADER_SIZE, INPUT, TRAILER_SIZE, SegmentScan, output_matches, split_input
from .journal import JournaledExchange
from .origins import UnknownOrigin, split_origin
from .reader import input_crc
from .recovery import recover
from .writer import Durability, LogWriter

__all__ = ["Follower", "ShadowMismatch", "Refused"]

log = logging.getLogger("gatebook.standby")
_FROM_PRIMARY = frozenset((HEARTBEAT.code, RECORDS.code, REFUSE.code))


class ShadowMismatch(RuntimeError):
    """The follower's engine produced other events than the primary logged."""


class Refused(RuntimeError):
    """The primary will not serve this follower (its log diverged, or is too old to catch up)."""


_REFUSALS = {
    RefuseReason.DIVERGED: lambda seq: (
        f"the primary refuses this follower: its log holds another record at seq {seq} (or "
        f"none): this directory's history diverged from the primary's (an old primary's "
        f"unacknowledged tail?). Cut it back or start from an empty directory."),
    RefuseReason.PRUNED: lambda seq: (
        f"the primary's log now starts at seq {seq} (older segments pruned): copy a snapshot "
        f"and the segments after it into this directory first."),
}


class Follower:
    """Follows a primary, reconnecting as needed, until it is gone for good.

    Parameters
    ----------
    directory : str
        The follower's own log directory.
    primary : (host, port)
    secret : bytes
        The shared replication secret (channel.load_secret).
    heartbeat_timeout : float
        Seconds without authenticated contact, reconnecting all along, after
        which the primary counts as dead (default 1 s).
    policy : Durability or str
        The follower's own log policy.
    connect_timeout : float
        Seconds the first connection and handshake may take.
    origin_codecs : dict or None
        {protocol id: LogOriginCodec} reading the order-entry origins it
        applies; by default the registered ones (origins.py).
    front : callable(engine, saved) -> object, optional
        What stands in front of the primary's engine (the pre-trade risk gate), as
        `JournaledExchange` takes it: built in recovery, fed every INPUT record, so
        its decisions are checked against the primary's OUTPUT records too, and
        handed on by `promote`.

    Raises OSError when the primary cannot be reached at first, and
    channel.AuthError when it does not authenticate (a wrong secret).

    Attributes
    ----------
    refused : collections.Counter
        Authentication and frame failures, by kind.
    reconnects, failed_attempts : int
        Reconnections made, and attempts that failed.
    """

    def __init__(self, directory, primary, symbols=DEFAULT_SYMBOLS, *, secret,
                 heartbeat_timeout=1.0, policy=Durability.STRICT, connect_timeout=10.0,
                 origin_codecs=None, front=None):
        self._secret = require_secret(secret)
        self.directory = directory
        self.primary = primary
        self.symbols = symbols
        self.heartbeat_timeout = heartbeat_timeout
        self.engine, self.recovery = recover(directory, symbols, origin_codecs=origin_codecs,
                                             front=front)
        self.front = self.recovery.front        # the risk gate, as the primary's decides
        self.states = self.recovery.states      # order entry's states, kept as the log goes
        self.epoch = read_epoch(directory)
        self.primary_epoch = None           # known once the primary's first HEARTBEAT arrives
        self.next_seq = self.recovery.last_seq + 1
        self.durable_seq = self.recovery.last_seq
        # The CRC field of the INPUT record of next_seq - 1, which HELLO carries. Kept
        # as records arrive: after a reconnection it may not be on disk yet.
        self.last_crc = (input_crc(directory, self.next_seq - 1) or 0) if self.next_seq > 1 else 0
        self.last_ts = 0
        self.primary_durable = 0
        self.refused = collections.Counter()
        self.reconnects = self.failed_attempts = 0
        self.channel = self.sock = None
        self.closed = False
        self._lock = threading.Lock()       # the channel, against the writer thread's APPLIED
        self.writer = LogWriter(directory, policy, resume=self.recovery.resume,
                                on_durable=self._durable)
        try:
            self._connect(connect_timeout)
        except BaseException:
            self.writer.close()
            raise
        self.last_heard = time.monotonic()

    def _connect(self, timeout):
        """Authenticate a new connection; say HELLO and what is already durable here."""
        channel = connect_follower(self.primary, self._secret, timeout)
        with self._lock:
            try:
                channel.send((HELLO.code, self.next_seq, self.epoch, self.last_crc))
                if self.durable_seq:
                    channel.send((APPLIED.code, self.durable_seq))
            except OSError:
                channel.close()
                raise
            if self.closed:             # close() ran meanwhile, from another thread
                channel.close()
                raise ConnectionError("this follower was closed")
            self.channel, self.sock = channel, channel.sock

    def _durable(self, seq):
        with self._lock:
            self.durable_seq = seq
            if self.channel is not None:
                try:
                    self.channel.send((APPLIED.code, seq))
                except OSError:
                    pass                # gone; the next connection says it again

    def _drop(self, why):
        with self._lock:
            channel, self.channel = self.channel, None
        if channel is not None:
            channel.close()
            if not self.closed:
                log.warning("lost the primary %s (%s); reconnecting from seq %d",
                            channel.name, why, self.next_seq)

    def _refuse(self, kind, reason):
        self.refused[kind] += 1
        log.warning("refused %s:%s (%s): %s", *self.primary, kind, reason)

    def _reconnect(self):
        step = self.heartbeat_timeout / 8
        left = self.heartbeat_timeout - (time.monotonic() - self.last_heard)
        started = time.monotonic()
        try:
            # Half the timeout even near the window's end: a busy primary's
            # slow answer must not pass for a dead one.
            self._connect(self.heartbeat_timeout / 2)
        except AuthError as error:
            self._refuse(error.kind, str(error))
        except OSError:
            pass
        else:
            self.reconnects += 1
            log.warning("reconnected to %s:%s, resuming from seq %d", *self.primary,
                        self.next_seq)
            return
        self.failed_attempts += 1
        time.sleep(max(0.0, min(step - (time.monotonic() - started), left)))

    def follow(self):
        """Apply the stream until the primary is gone for good; return the seconds of silence.

        Returns at once, too, when `close()` is called from another thread.
        """
        step = self.heartbeat_timeout / 8
        while not self.closed:
            if self.channel is None:
                silence = time.monotonic() - self.last_heard
                if silence >= self.heartbeat_timeout:
                    return silence      # no contact, and every reconnection in the window failed
                self._reconnect()
                continue
            try:
                got = self.channel.recv(step, _FROM_PRIMARY)
            except AuthError as error:
                self._refuse(error.kind, str(error))
                self._drop(str(error))
                continue
            except OSError as error:
                self._drop(str(error) or type(error).__name__)
                continue
            if got is None:
                silence = time.monotonic() - self.last_heard
                if silence >= self.heartbeat_timeout / 2:
                    # Maybe a dead link rather than a dead primary: a fresh
                    # connection tells them apart before the timeout runs out.
                    self._drop(f"silent for {silence:.3f} s")
                continue
            self.last_heard = time.monotonic()
            frame, records = got
            if frame.type == REFUSE.code:
                explain = _REFUSALS.get(frame.reason)
                raise Refused(explain(frame.seq) if explain else
                              f"the primary refuses this follower (reason {frame.reason})")
            if frame.type == RECORDS.code:
                if self.primary_epoch is None:
                    raise ConnectionError("the primary sent records before its epoch")
                self._apply(records)
            else:
                self.primary_durable = frame.durable_seq
                self._check_epoch(frame.epoch)
        return time.monotonic() - self.last_heard

    def _check_epoch(self, epoch):
        if epoch < self.epoch:
            raise Fenced(f"the primary is at epoch {epoch}, this log at {self.epoch}: it is a "
                         f"stale primary from before a failover; refusing to follow it")
        if epoch > self.epoch:
            write_epoch(self.directory, epoch)      # following a newer history now
            self.epoch = epoch
        self.primary_epoch = epoch

    def _apply(self, records):
        scan = SegmentScan(records, self.next_seq, start=0)
        pending = None
        first, last_crc = self.next_seq, self.last_crc
        for seq, ts, kind, payload, offset in scan:
            if kind == INPUT:
                trailer = offset + HEADER_SIZE + len(payload)
                last_crc = int.from_bytes(records[trailer:trailer + TRAILER_SIZE], "little")
                try:
                    command, at = split_input(payload, 0, len(payload))
                    protocol = origin = None
                    if at is not None:
                        protocol, first, end = split_origin(payload, at, len(payload), None)
                        origin = self.states.decode(payload, first, end, protocol, seq)
                except UnknownOrigin as error:
                    raise ConnectionError(f"seq {seq}: {error}") from None
                except (KeyError, IndexError, ValueError, struct.error) as error:
                    raise ConnectionError(f"seq {seq}: the primary's INPUT record holds no "
                                          f"valid command ({error})") from None
                pending = (self.front or self.engine).apply(command)
                self.states.replay(command, protocol, origin, pending)
                self.last_ts = ts
            elif pending is None:
                raise ConnectionError(f"seq {seq}: the primary sent an OUTPUT record without "
                                      f"its INPUT record")
            elif not output_matches(payload, pending):
                raise ShadowMismatch(f"seq {seq}: the shadow engine's events differ from the "
                                     f"primary's OUTPUT record")
        if scan.damage is not None:
            raise ConnectionError(f"bad record from the primary at seq {scan.next_seq}: "
                                  f"{scan.damage.reason}")
        self.next_seq, self.last_crc = scan.next_seq, last_crc
        self.writer.append_records(first, self.next_seq - 1, records)

    def close(self):
        """Stop following without promoting: close the connection and the log."""
        self.closed = True
        self._drop("closed by this follower")
        self.writer.close()

    def promote(self, **options):
        """Stop following; return a JournaledExchange continuing at the next sequence number.

        The directory's epoch goes up by one first (durably), so the old
        primary, should it come back, is fenced by the handshake.
        """
        with self._lock:
            channel, self.channel = self.channel, None
        if channel is not None:
            channel.close()
        self.writer.close()
        self.epoch += 1
        write_epoch(self.directory, self.epoch)
        resume = self.writer.resume_point()
        return JournaledExchange(self.directory, self.symbols,
                                 recovered=(self.engine, self.next_seq - 1, resume,
                                            self.states, self.front),
                                 **options)
