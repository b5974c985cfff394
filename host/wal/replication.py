"""The primary's side of hot standby: stream durable log records to an authenticated follower.

The stream is the log itself: a sender thread tails the segment files from
the follower's HELLO `next_seq` on, so a follower that connects late (or
reconnects) catches up from disk with no special path. It only ever sends
records the primary's own policy has made durable, so a follower never holds
a command the primary could lose. When idle it sends HEARTBEATs; the
follower reconnects when they stop and promotes itself only when it cannot
(standby.py).

Every connection is authenticated first (channel.py: both ends prove they
hold the shared secret, then every frame carries a MAC). Until a peer's
proof checks it gets nothing but a nonce, and nothing it sends touches the
epoch, the acknowledgements or the log; a failure is one log line naming
the peer and the reason, counted by kind in `refused`. Handshakes run on
their own threads with a deadline, so an idle connection never blocks the
real standby; past `max_handshakes` at once the oldest is dropped. A new
authenticated follower replaces the one being served (the same standby
reconnecting). After the handshake the epochs are compared (epoch.py): a
follower of a newer epoch fences this primary.

With `synchronous=True` (what a venue wants for failover without loss) an
acknowledgement leaves only once the follower has also logged the command:
then every acknowledged command survives the loss of either machine. While
the standby is away the primary goes on matching but acknowledges nothing
new; when it is back and has caught up, the held acknowledgements leave. The
wait is bounded: once commands have been held `hold_seconds` with none
released, or more than `max_held` are held, the primary stops taking orders
(`StandbyLost`, a kind of Fenced) rather than match an unbounded backlog
nobody can be told about. The epochs fence an old primary that comes back;
they do not settle a network partition with both sides alive, which needs
an external arbiter before promotion (see docs/durability.md).
"""

import collections
import logging
import os
import socket
import threading
import time

from gatebook.wire.codec import WireError
from gatebook.wire.wal import APPLIED, HEARTBEAT, HELLO, RECORD_HEADER, RECORDS, REFUSE, WAL, \
    RefuseReason

from .channel import AuthError, Channel, accept_follower, require_secret
from .epoch import Fenced
from .format import (HEADER_SIZE, INPUT, SEGMENT_HEADER_SIZE, TRAILER_SIZE,
                     decode_segment_header, struct_of)
from .reader import input_crc
from .segments import list_segments, segment_name

__all__ = ["ReplicationServer", "StandbyLost", "LogTail"]

log = logging.getLogger("gatebook.replication")
unpack_header = struct_of(RECORD_HEADER, WAL.byte_order).unpack_from
_CHUNK_BYTES = 1 << 20          # records per RECORDS frame, about (at least one whole record)
_POLL = 1.0                     # seconds between looks at `closed` while waiting for APPLIED


class StandbyLost(Fenced):
    """Synchronous replication's standby stayed away past the bound: take no more orders."""


class LogTail:
    """Reads whole records from a live log directory, from `start_seq` on, up to a bound.

    Records are returned as the bytes that sit in the segment (they were
    CRC-checked when written, and the follower checks them again).
    """

    def __init__(self, directory, start_seq):
        self.directory = directory
        self.start_seq = start_seq
        self.last_seq = start_seq - 1   # the last record returned so far
        self.number, self.offset = 0, SEGMENT_HEADER_SIZE
        for index, (number, path) in enumerate(list_segments(directory)):
            with open(path, "rb") as file:
                _, first_seq = decode_segment_header(file.read(SEGMENT_HEADER_SIZE))
            if index == 0 and start_seq < first_seq:
                raise ConnectionError(f"the follower needs seq {start_seq}, but this log now "
                                      f"starts at {first_seq} (older segments were pruned); "
                                      f"give the follower a copy of a snapshot first", first_seq)
            if first_seq <= start_seq:
                self.number = number

    def _path(self, number):
        return os.path.join(self.directory, segment_name(number))

    def read(self, up_to_seq, max_bytes=_CHUNK_BYTES):
        """Bytes of the next whole records with seq <= up_to_seq, about `max_bytes` at most."""
        out, size = [], 0
        while os.path.exists(self._path(self.number)):
            with open(self._path(self.number), "rb") as file:
                file.seek(self.offset)
                data = file.read()
            offset = 0
            while offset + HEADER_SIZE <= len(data):
                length, seq, _, kind = unpack_header(data, offset)
                end = offset + HEADER_SIZE + length + TRAILER_SIZE
                if end > len(data) or seq > up_to_seq:
                    break
                if out and size >= max_bytes and kind == INPUT:
                    break               # a command's records never straddle two frames
                if seq >= self.start_seq:
                    out.append(data[offset:end])
                    size += end - offset
                    self.last_seq = seq
                offset = end
            self.offset += offset
            if offset < len(data) or not os.path.exists(self._path(self.number + 1)):
                break                   # more to come in this segment, or it is the last
            self.number, self.offset = self.number + 1, SEGMENT_HEADER_SIZE
        return b"".join(out)


class ReplicationServer:
    """Serves one authenticated follower at a time from a JournaledExchange's log.

    Parameters
    ----------
    exchange : JournaledExchange
    host, port : str, int
        Where to listen; port 0 picks a free one (see `address`).
    secret : bytes
        The shared secret (channel.load_secret); the follower must hold the same.
    heartbeat_interval : float
        Seconds between heartbeats when there is nothing else to send.
    synchronous : bool
        Hold the exchange's acknowledgements until the follower has logged
        the command too.
    handshake_timeout : float
        Seconds a new connection has to authenticate and say HELLO.
    hold_seconds, max_held : float, int
        Synchronous only: how long commands may wait with no acknowledgement
        released, and how many may wait, before the exchange is fenced with
        StandbyLost.
    max_handshakes : int
        Handshakes in progress at once; a new connection past it drops the oldest.

    Attributes
    ----------
    refused : collections.Counter
        Connections and frames refused, by kind (bad_proof, bad_mac, ...).
    standby : str or None
        "host:port" of the authenticated follower being served.
    """

    def __init__(self, exchange, host="127.0.0.1", port=0, *, secret, heartbeat_interval=0.1,
                 synchronous=True, handshake_timeout=2.0, hold_seconds=10.0, max_held=100_000,
                 max_handshakes=16):
        self._secret = require_secret(secret)
        self.exchange = exchange
        self.directory = exchange.directory
        self.heartbeat_interval = heartbeat_interval
        self.synchronous = synchronous
        self.handshake_timeout = handshake_timeout
        self.hold_seconds = hold_seconds
        self.max_held = max_held
        self.max_handshakes = max_handshakes
        self.refused = collections.Counter()
        self.standby = None
        self.local_seq = exchange.writer.acked_seq
        self.applied_seq = 0
        self.acked = exchange.writer.acked_seq
        self._user_ack = exchange.writer.on_durable
        self._cond = threading.Condition()
        self._lock = threading.Lock()       # the connections below, and acknowledging
        self._pending = collections.OrderedDict()      # handshakes in progress, oldest first
        self._evicted = set()
        self._active = None                 # the Channel of the standby being served
        self._progress_at = time.monotonic()
        self._stopped = threading.Event()
        self._listener = socket.create_server((host, port))
        self.address = self._listener.getsockname()
        self._closed = False
        exchange.writer.on_durable = self._local_durable
        threading.Thread(target=self._serve, name="gatebook-replication", daemon=True).start()
        threading.Thread(target=self._watch, name="gatebook-replication-hold",
                         daemon=True).start()

    # -- acknowledgements ----------------------------------------------------

    def _local_durable(self, seq):
        with self._cond:
            if self.local_seq <= self.acked:
                self._progress_at = time.monotonic()    # the first held command starts the clock
            self.local_seq = seq
            self._cond.notify_all()
        self._release()

    def _release(self):
        fenced = self.exchange.fenced
        if fenced is not None and not isinstance(fenced, StandbyLost):
            return                      # a newer primary exists: acknowledge nothing more
        with self._lock:
            ackable = min(self.local_seq, self.applied_seq) if self.synchronous else self.local_seq
            if ackable <= self.acked:
                return
            self.acked = ackable
            self._progress_at = time.monotonic()
            if self._user_ack is not None:
                self._user_ack(ackable)

    def _watch(self):
        """Fence the exchange once synchronous acknowledgements are held past the bound."""
        while not self._stopped.wait(self.heartbeat_interval):
            if not self.synchronous or self.exchange.fenced is not None:
                continue
            with self._cond:
                held = self.local_seq - self.acked
                stalled = time.monotonic() - self._progress_at
            if held > 0 and (stalled >= self.hold_seconds or held > self.max_held):
                where = f"standby {self.standby}" if self.standby else "no standby connected"
                message = (f"synchronous replication: {held} commands (seq {self.acked + 1}.."
                           f"{self.local_seq}) held {stalled:.1f} s with no acknowledgement "
                           f"from a standby ({where}; bound {self.hold_seconds} s or "
                           f"{self.max_held} commands): accepting no more commands. Every "
                           f"acknowledged command (up to seq {self.acked}) is on the standby; "
                           f"bring the standby back, or restart this exchange without "
                           f"--standby-listen")
                log.error(message)
                self.exchange.fence(StandbyLost(message))

    # -- connections -----------------------------------------------------------

    def _refuse(self, channel, kind, reason):
        self.refused[kind] += 1
        log.warning("refused %s (%s): %s", channel.name, kind, reason)

    def _serve(self):
        while not self._closed:
            try:
                sock, peer = self._listener.accept()
            except OSError as error:
                if self._closed:
                    return
                # Out of descriptors (a flood of connections), say: keep the port.
                log.warning("accept failed: %s", error)
                time.sleep(self.heartbeat_interval)
                continue
            try:
                channel = Channel(sock, peer[:2])
            except OSError:             # reset before we looked at it
                sock.close()
                continue
            with self._lock:
                if len(self._pending) >= self.max_handshakes:
                    oldest, _ = self._pending.popitem(last=False)
                    self._evicted.add(oldest)
                    oldest.close()
                self._pending[channel] = None
            threading.Thread(target=self._connection, args=(channel,),
                             name="gatebook-replication-peer", daemon=True).start()

    def _connection(self, channel):
        try:
            accept_follower(channel, self._secret, self.handshake_timeout)
        except (AuthError, OSError) as error:
            with self._lock:
                evicted = channel in self._evicted
                self._evicted.discard(channel)
                self._pending.pop(channel, None)
            if evicted:
                self._refuse(channel, "evicted", f"dropped unauthenticated after "
                                                 f"{self.max_handshakes} newer handshakes")
            elif not self._closed:
                kind = error.kind if isinstance(error, AuthError) else "closed_in_handshake"
                self._refuse(channel, kind, str(error))
            channel.close()
            return
        with self._lock:
            self._pending.pop(channel, None)
        why = "it closed the connection"
        try:
            self._stream(channel)
        except AuthError as error:
            self._refuse(channel, error.kind, str(error))
            why = str(error)
        except (ConnectionError, OSError, WireError) as error:
            why = str(error) or type(error).__name__
        finally:
            self._lost(channel, why)

    def _lost(self, channel, why):
        """The connection ended (whichever thread saw it first); say so if it was the standby."""
        channel.close()
        with self._lock:
            lost = self._active is channel
            if lost:
                self._active, self.standby = None, None
        if lost and not self._closed:
            held = ("holding acknowledgements until it is back; after "
                    f"{self.hold_seconds} s with none released, or {self.max_held} commands "
                    "held, this primary stops taking orders") if self.synchronous else \
                "acknowledging without it (asynchronous)"
            log.warning("standby %s lost at applied seq %d (%s); %s",
                        channel.name, self.applied_seq, why, held)

    def _stream(self, channel):
        got = channel.recv(self.handshake_timeout, {HELLO.code})
        if got is None:
            raise AuthError("handshake_timeout", f"{channel.name} sent no HELLO in time")
        hello, _ = got
        own = self.exchange.epoch
        if hello.epoch > own:
            # Fenced before the peer hears our epoch: once it knows we are
            # stale, no command of ours may be accepted any more.
            self.exchange.fence(Fenced(
                f"a peer at epoch {hello.epoch} connected to this primary (epoch {own}): a "
                f"failover happened and this exchange is stale; accepting no more commands"))
        # The epoch goes first, so a follower knows whose history it is offered.
        channel.send((HEARTBEAT.code, self.local_seq, time.time_ns(), own))
        if hello.epoch > own:
            return
        # The follower's log must be a prefix of ours: same record at its last seq.
        next_seq = hello.next_seq
        if next_seq > 1 and (next_seq - 1 > self.exchange.writer.written_seq
                             or input_crc(self.directory, next_seq - 1) != hello.last_crc):
            channel.send((REFUSE.code, int(RefuseReason.DIVERGED), next_seq - 1))
            return
        try:
            tail = LogTail(self.directory, next_seq)
        except ConnectionError as error:
            channel.send((REFUSE.code, int(RefuseReason.PRUNED), error.args[1]))
            return
        with self._lock:
            previous, self._active, self.standby = self._active, channel, channel.name
        if previous is not None:
            previous.close()            # the same standby, reconnected: serve the new link
            log.warning("standby %s replaced by %s", previous.name, channel.name)
        log.info("standby %s authenticated, from seq %d", channel.name, next_seq)
        threading.Thread(target=self._read_applied, args=(channel, tail),
                         name="gatebook-replication-applied", daemon=True).start()
        last_sent = time.monotonic()
        while not self._closed and not channel.closed:
            records = tail.read(self.local_seq)
            if records:
                channel.send((RECORDS.code, len(records)), records)
                last_sent = time.monotonic()
            elif time.monotonic() - last_sent >= self.heartbeat_interval:
                channel.send((HEARTBEAT.code, self.local_seq, time.time_ns(), own))
                last_sent = time.monotonic()
            with self._cond:
                self._cond.wait(self.heartbeat_interval / 4)

    def _read_applied(self, channel, tail):
        """APPLIED frames from the follower; none may claim a record not sent to it."""
        why = "it closed the connection"
        try:
            while not self._closed:
                got = channel.recv(_POLL, {APPLIED.code})
                if got is None:
                    continue
                seq = got[0].seq
                if seq > tail.last_seq:
                    raise AuthError("applied_unsent", f"{channel.name} claims seq {seq} "
                                                      f"applied; it was sent up to "
                                                      f"{tail.last_seq}")
                if seq > self.applied_seq:
                    self.applied_seq = seq
                    self._release()
        except AuthError as error:
            self._refuse(channel, error.kind, str(error))
            why = str(error)
        except (OSError, WireError) as error:
            why = str(error) or type(error).__name__
        self._lost(channel, why)

    def close(self):
        self._closed = True
        self._stopped.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)      # wakes the accept
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            channels = list(self._pending) + ([self._active] if self._active else [])
        for channel in channels:
            channel.close()
