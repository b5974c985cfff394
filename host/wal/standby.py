"""The follower's side of hot standby: a shadow engine fed by the primary's log.

A `Follower` recovers its own log directory, connects to the primary, says
which sequence number it needs next, then for every record that arrives:
checks it (CRC and sequence, the same rules as recovery), applies INPUT
records to its engine, compares OUTPUT records with the events its engine
produced (the shadow book must agree with the primary event for event), and
appends the records to its own log; once they are durable there it answers
APPLIED. When nothing (records or heartbeats) has arrived for
`heartbeat_timeout` seconds it stops following and `promote()` turns it into
a JournaledExchange that continues the sequence at the next number, on the
same engine, with no replay, one epoch higher (epoch.py): it refuses to follow
a primary of an older epoch, and fences one that connects to it.
"""

import socket
import struct
import time

from gatebook.wire import internal
from gatebook.wire.codec import ProtocolCodec
from gatebook.wire.wal import APPLIED, HELLO, RECORDS, REFUSE, RefuseReason
from host.symbols import DEFAULT_SYMBOLS

from .epoch import Fenced, read_epoch, write_epoch
from .format import INPUT, SegmentScan, split_input
from .journal import JournaledExchange
from .reader import input_crc
from .recovery import recover
from .replication import FRAMES, read_frame
from .writer import Durability, LogWriter

__all__ = ["Follower", "ShadowMismatch", "Refused"]

_encode_event = ProtocolCodec(internal.EVENTS).encode


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
    """Follows a primary until its heartbeats stop.

    Parameters
    ----------
    directory : str
        The follower's own log directory.
    primary : (host, port)
    heartbeat_timeout : float
        Seconds of silence after which the primary counts as dead (default 1 s).
    policy : Durability or str
        The follower's own log policy.
    """

    def __init__(self, directory, primary, symbols=DEFAULT_SYMBOLS, *, heartbeat_timeout=1.0,
                 policy=Durability.STRICT, connect_timeout=10.0):
        self.directory = directory
        self.symbols = symbols
        self.heartbeat_timeout = heartbeat_timeout
        self.engine, self.recovery = recover(directory, symbols)
        self.gateway = self.recovery.gateway    # the gateway's state, kept as the log goes
        self.epoch = read_epoch(directory)
        self.primary_epoch = None           # known once the primary's first HEARTBEAT arrives
        self.next_seq = self.recovery.last_seq + 1
        self.last_ts = 0
        self.writer = LogWriter(directory, policy, resume=self.recovery.resume,
                                on_durable=self._durable)
        self.sock = socket.create_connection(primary, timeout=connect_timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        last_crc = input_crc(directory, self.next_seq - 1) if self.next_seq > 1 else 0
        self.sock.sendall(FRAMES.encode((HELLO.code, self.next_seq, self.epoch, last_crc or 0)))
        self.last_heard = time.monotonic()
        self.primary_durable = 0
        self.silent_since = None

    def _durable(self, seq):
        try:
            self.sock.sendall(FRAMES.encode((APPLIED.code, seq)))
        except OSError:
            pass                        # the primary is gone; the heartbeat watch notices

    def follow(self):
        """Apply the stream until the primary falls silent; return the seconds of silence."""
        self.sock.settimeout(self.heartbeat_timeout / 4)
        while True:
            try:
                frame, records = read_frame(self.sock)
            except socket.timeout:
                frame = None
            except (ConnectionError, OSError):
                # A closed connection is not proof of death (a restart, a proxy);
                # only the heartbeat timeout is. Keep waiting out the silence.
                time.sleep(self.heartbeat_timeout / 4)
                frame = None
            now = time.monotonic()
            if frame is None:
                if now - self.last_heard >= self.heartbeat_timeout:
                    return now - self.last_heard
                continue
            self.last_heard = now
            if frame[0] == REFUSE.code:
                raise Refused(_REFUSALS[frame[1]](frame[2]))
            if frame[0] == RECORDS.code:
                if self.primary_epoch is None:
                    raise ConnectionError("the primary sent records before its epoch")
                self._apply(records)
            else:
                self.primary_durable = frame[1]
                self._check_epoch(frame[3])

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
        first = self.next_seq
        for seq, ts, kind, payload, offset in scan:
            if kind == INPUT:
                try:
                    command, origin = split_input(payload, 0, len(payload))
                except (KeyError, IndexError, ValueError, struct.error) as error:
                    raise ConnectionError(f"seq {seq}: the primary's INPUT record holds no "
                                          f"valid command ({error})") from None
                pending = self.engine.apply(command)
                self.gateway.replay(command, origin, pending)
                self.last_ts = ts
            elif payload != b"".join(map(_encode_event, pending)):
                raise ShadowMismatch(f"seq {seq}: the shadow engine's events differ from the "
                                     f"primary's OUTPUT record")
        if scan.damage is not None:
            raise ConnectionError(f"bad record from the primary at seq {scan.next_seq}: "
                                  f"{scan.damage.reason}")
        self.next_seq = scan.next_seq
        self.writer.append_records(first, self.next_seq - 1, records)

    def promote(self, **options):
        """Stop following; return a JournaledExchange continuing at the next sequence number.

        The directory's epoch goes up by one first (durably), so the old
        primary, should it come back, is fenced by the handshake.
        """
        self.sock.close()
        self.writer.close()
        self.epoch += 1
        write_epoch(self.directory, self.epoch)
        resume = self.writer.resume_point()
        return JournaledExchange(self.directory, self.symbols,
                                 recovered=(self.engine, self.next_seq - 1, resume,
                                            self.gateway),
                                 **options)
