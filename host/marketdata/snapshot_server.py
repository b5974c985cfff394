"""The snapshot service: on connect, the whole book as ITCH, then where the feed goes on.

# Ref: NASDAQ GLIMPSE 5.0 (a point-in-time snapshot over TCP, ending with
#      End of Snapshot and the sequence number of the real-time feed).

A client connects over TCP and reads: the system events, stock directory,
trading states and an Add Order per displayed order (ITCH 5.0, each message
length-prefixed as in BinaryFILE), then End of Snapshot with the MoldUDP64
sequence number the live feed continues from (snapshot.py). The book and the
number are taken together under the publisher's lock, so applying the live
feed from that number on keeps the book exact. The server then closes the
connection.

Clients are hostile: at most `max_clients` at once (more are closed at once,
counted `busy`), and at most `per_second` snapshots a second (taking one
holds the publisher's lock while the book is copied; more are closed,
counted `rate_limited`); one that has not read its whole snapshot within
`deadline_seconds` is cut (`too_slow`); what a client sends is read and
dropped, and one that sends more than `max_input` bytes is cut (`talkative`).
"""

import errno
import selectors
import socket
import time
from collections import Counter

from gatebook.wire.itch50 import ADD_ORDER
from gatebook.wire.positions import CODE

from .snapshot import encode_snapshot

__all__ = ["SnapshotServer", "read_snapshot"]


_ADD = ADD_ORDER.code
_SEND_BUFFER = 256 * 1024


class _Client:
    __slots__ = ("sock", "data", "sent", "deadline", "received")

    def __init__(self, sock, data, deadline):
        self.sock, self.data, self.deadline = sock, memoryview(data), deadline
        self.sent = self.received = 0


class SnapshotServer:
    """Serves snapshots of a publisher's book over TCP.

    Parameters
    ----------
    publisher : MoldPublisher
    ip, port : str, int
        Where clients connect (port 0: any free port; see `address`).
    max_clients : int
        Connections served at once.
    deadline_seconds : float
        Time a client has to read its whole snapshot.
    max_input : int
        Bytes a client may send (it has nothing to say).
    per_second : float
        Snapshots taken per second at most (a burst of as many is allowed).
    clock : callable returning int nanoseconds
        Monotonic time for the deadlines.

    Attributes
    ----------
    served : Counter
        `snapshots` sent whole, `orders` in them.
    refused : Counter
        Connections cut, by kind: `busy`, `rate_limited`, `too_slow`, `talkative`,
        `reset`.
    """

    def __init__(self, publisher, ip="127.0.0.1", port=0, max_clients=16,
                 deadline_seconds=10.0, max_input=4096, clock=time.monotonic_ns, per_second=20.0):
        self.publisher, self.max_clients, self.max_input = publisher, max_clients, max_input
        self.per_second = per_second
        self._tokens, self._refilled = per_second, clock()
        self.deadline_ns, self.clock = int(deadline_seconds * 1e9), clock
        self.served, self.refused = Counter(), Counter()
        self.clients = {}                 # socket -> _Client
        self._selector = None
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.listener.bind((ip, port))
            self.listener.listen(64)
            self.listener.setblocking(False)
        except BaseException:
            self.listener.close()
            raise
        self.address = self.listener.getsockname()

    def register(self, selector):
        """Have `selector` (a service's) call back on connections and client sockets."""
        self._selector = selector
        selector.register(self.listener, selectors.EVENT_READ, lambda mask: self._accept())

    def _accept(self):
        for _ in range(self.max_clients):
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:               # the client gave up before we took it
                self.refused["reset"] += 1
                continue
            if len(self.clients) >= self.max_clients:
                self.refused["busy"] += 1
                sock.close()
                continue
            if not self._take_token():
                self.refused["rate_limited"] += 1
                sock.close()
                continue
            sock.setblocking(False)
            # Bounded kernel memory per client: the rest waits in our buffer.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SEND_BUFFER)
            records, next_sequence = self.publisher.snapshot()
            client = _Client(sock, encode_snapshot(records, next_sequence),
                             self.clock() + self.deadline_ns)
            self.served["orders"] += sum(1 for record in records if record[CODE] == _ADD)
            self.clients[sock] = client
            self._selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE,
                                    lambda mask, client=client: self._ready(client, mask))

    def _take_token(self):
        now = self.clock()
        self._tokens = min(self.per_second,
                           self._tokens + (now - self._refilled) * self.per_second / 1e9)
        self._refilled = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def _ready(self, client, mask):
        try:
            if mask & selectors.EVENT_READ:
                data = client.sock.recv(4096)
                client.received += len(data)
                if client.received > self.max_input:
                    return self._drop(client, "talkative")
                if not data and client.sent < len(client.data):
                    return self._drop(client, "reset")     # it left before the end
            if mask & selectors.EVENT_WRITE and client.sent < len(client.data):
                client.sent += client.sock.send(client.data[client.sent:client.sent + 65536])
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as error:
            return self._drop(client, "reset" if error.errno in (
                errno.ECONNRESET, errno.EPIPE) else errno.errorcode.get(error.errno, "OSError"))
        if client.sent == len(client.data):
            self.served["snapshots"] += 1
            self._close(client)
        return None

    def sweep(self):
        """Cut the clients past their deadline."""
        now = self.clock()
        for client in [c for c in self.clients.values() if now > c.deadline]:
            self._drop(client, "too_slow")

    def _drop(self, client, kind):
        self.refused[kind] += 1
        self._close(client)

    def _close(self, client):
        self.clients.pop(client.sock, None)
        try:
            self._selector.unregister(client.sock)
        except (KeyError, ValueError):
            pass
        client.sock.close()

    def close(self):
        """Cut every client and stop listening."""
        for client in list(self.clients.values()):
            self._close(client)
        self.listener.close()


def read_snapshot(address, timeout=10.0, limit=1 << 30):
    """The whole snapshot stream served at `address` (bytes; decode_snapshot reads it)."""
    with socket.create_connection(address, timeout=timeout) as sock:
        parts, size = [], 0
        while size <= limit:
            data = sock.recv(1 << 16)
            if not data:
                break
            parts.append(data)
            size += len(data)
    return b"".join(parts)
