"""The primary's side of hot standby: stream durable log records to a follower over TCP.

The stream is the log itself: a sender thread tails the segment files from
the follower's HELLO `next_seq` on, so a follower that connects late (or
reconnects) catches up from disk with no special path. It only ever sends
records the primary's own policy has made durable, so a follower never holds
a command the primary could lose. When idle it sends HEARTBEATs; the
follower promotes itself when they stop (standby.py). Every connection
starts with the epoch handshake of epoch.py: a follower of a newer epoch
fences this primary.

With `synchronous=True` (what a venue wants for failover without loss) an
acknowledgement leaves only once the follower has also logged the command:
then every acknowledged command survives the loss of either machine. The
epochs fence an old primary that comes back; they do not settle a network
partition with both sides alive, which needs an external arbiter before
promotion (see docs/durability.md).
"""

import os
import socket
import threading
import time

from gatebook.wire.codec import ProtocolCodec
from gatebook.wire.wal import (APPLIED, HEARTBEAT, RECORD_HEADER, RECORDS, REFUSE, REPLICATION,
                               WAL, RefuseReason)

from .epoch import Fenced
from .reader import input_crc
from .format import HEADER_SIZE, SEGMENT_HEADER_SIZE, TRAILER_SIZE, decode_segment_header, struct_of
from .segments import list_segments, segment_name

__all__ = ["ReplicationServer", "LogTail", "FRAMES", "recv_exact", "read_frame"]

FRAMES = ProtocolCodec(REPLICATION)
_HEARTBEAT, _RECORDS, _APPLIED, _REFUSE = HEARTBEAT.code, RECORDS.code, APPLIED.code, REFUSE.code
unpack_header = struct_of(RECORD_HEADER, WAL.byte_order).unpack_from
_FRAME_SIZE = {codec.message.code: codec.size for codec in FRAMES.by_code.values()}


def recv_exact(sock, size):
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise ConnectionError("peer closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(sock):
    """(frame tuple, trailing bytes): RECORDS frames carry their records after the header."""
    code = recv_exact(sock, 1)
    size = _FRAME_SIZE.get(code[0])
    if size is None:
        raise ConnectionError(f"unknown replication frame type {code[0]:#04x}")
    frame = FRAMES.decode(code + recv_exact(sock, size - 1))
    return frame, recv_exact(sock, frame[1]) if frame[0] == _RECORDS else b""


class LogTail:
    """Reads whole records from a live log directory, from `start_seq` on, up to a bound.

    Records are returned as the bytes that sit in the segment (they were
    CRC-checked when written, and the follower checks them again).
    """

    def __init__(self, directory, start_seq):
        self.directory = directory
        self.start_seq = start_seq
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

    def read(self, up_to_seq):
        """Bytes of every whole record with start_seq <= seq <= up_to_seq not yet returned."""
        out = []
        while os.path.exists(self._path(self.number)):
            with open(self._path(self.number), "rb") as file:
                file.seek(self.offset)
                data = file.read()
            offset = 0
            while offset + HEADER_SIZE <= len(data):
                length, seq, _, _ = unpack_header(data, offset)
                end = offset + HEADER_SIZE + length + TRAILER_SIZE
                if end > len(data) or seq > up_to_seq:
                    break
                if seq >= self.start_seq:
                    out.append(data[offset:end])
                offset = end
            self.offset += offset
            if offset < len(data) or not os.path.exists(self._path(self.number + 1)):
                break                   # more to come in this segment, or it is the last
            self.number, self.offset = self.number + 1, SEGMENT_HEADER_SIZE
        return b"".join(out)


class ReplicationServer:
    """Serves one follower at a time from a JournaledExchange's log.

    Parameters
    ----------
    exchange : JournaledExchange
    host, port : str, int
        Where to listen; port 0 picks a free one (see `address`).
    heartbeat_interval : float
        Seconds between heartbeats when there is nothing else to send.
    synchronous : bool
        Hold the exchange's acknowledgements until the follower has logged
        the command too.
    """

    def __init__(self, exchange, host="127.0.0.1", port=0, *, heartbeat_interval=0.1,
                 synchronous=True):
        self.exchange = exchange
        self.directory = exchange.directory
        self.heartbeat_interval = heartbeat_interval
        self.synchronous = synchronous
        self.local_seq = exchange.writer.acked_seq
        self.applied_seq = 0
        self.acked = exchange.writer.acked_seq
        self._user_ack = exchange.writer.on_durable
        self._cond = threading.Condition()
        self._listener = socket.create_server((host, port))
        self.address = self._listener.getsockname()
        self._closed = False
        exchange.writer.on_durable = self._local_durable
        threading.Thread(target=self._serve, name="gatebook-replication", daemon=True).start()

    # -- acknowledgements ----------------------------------------------------

    def _local_durable(self, seq):
        with self._cond:
            self.local_seq = seq
            self._cond.notify_all()
        self._release()

    def _release(self):
        if self.exchange.fenced:
            return                      # a newer primary exists: acknowledge nothing more
        ackable = min(self.local_seq, self.applied_seq) if self.synchronous else self.local_seq
        if ackable > self.acked:
            self.acked = ackable
            if self._user_ack is not None:
                self._user_ack(ackable)

    # -- the follower connection ---------------------------------------------

    def _serve(self):
        while not self._closed:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                self._stream(sock)
            except (ConnectionError, OSError):
                pass                    # the follower went away; wait for the next one
            finally:
                sock.close()

    def _stream(self, sock):
        (_, next_seq, epoch, last_crc), _ = read_frame(sock)
        own = self.exchange.epoch
        if epoch > own:
            # Fenced before the peer hears our epoch: once it knows we are
            # stale, no command of ours may be accepted any more.
            self.exchange.fence(Fenced(
                f"a peer at epoch {epoch} connected to this primary (epoch {own}): a failover "
                f"happened and this exchange is stale; accepting no more commands"))
        # The epoch goes first, so a follower knows whose history it is offered.
        sock.sendall(FRAMES.encode((_HEARTBEAT, self.local_seq, time.time_ns(), own)))
        if epoch > own:
            return
        # The follower's log must be a prefix of ours: same record at its last seq.
        if next_seq > 1 and (next_seq - 1 > self.exchange.writer.written_seq
                             or input_crc(self.directory, next_seq - 1) != last_crc):
            sock.sendall(FRAMES.encode((_REFUSE, int(RefuseReason.DIVERGED), next_seq - 1)))
            return
        try:
            tail = LogTail(self.directory, next_seq)
        except ConnectionError as error:
            sock.sendall(FRAMES.encode((_REFUSE, int(RefuseReason.PRUNED), error.args[1])))
            return
        threading.Thread(target=self._read_applied, args=(sock,), daemon=True).start()
        last_sent = time.monotonic()
        while not self._closed:
            records = tail.read(self.local_seq)
            if records:
                sock.sendall(FRAMES.encode((_RECORDS, len(records))) + records)
                last_sent = time.monotonic()
            elif time.monotonic() - last_sent >= self.heartbeat_interval:
                sock.sendall(FRAMES.encode((_HEARTBEAT, self.local_seq, time.time_ns(), own)))
                last_sent = time.monotonic()
            with self._cond:
                self._cond.wait(self.heartbeat_interval / 4)

    def _read_applied(self, sock):
        try:
            while True:
                frame, _ = read_frame(sock)
                if frame[0] == _APPLIED:
                    self.applied_seq = max(self.applied_seq, frame[1])
                    self._release()
        except (ConnectionError, OSError):
            return

    def close(self):
        self._closed = True
        self._listener.close()
