"""What the replication tests share: a primary and followers on loopback, a TCP relay
that records, cuts or alters the stream, and the handshake's sizes on the wire."""

import os
import socket
import threading

import pytest

from gatebook.wire.codec import ProtocolCodec
from gatebook.wire.wal import (AUTH_CHALLENGE, AUTH_HELLO, AUTH_PROOF, MAC_SIZE, NONCE_SIZE,
                               REPLICATION)
from gatebook.host.clock import ManualClock
from gatebook.host.wal.journal import JournaledExchange
from gatebook.host.wal.loadgen import START_NS, STEP_NS, seeded_commands
from gatebook.host.wal.replication import ReplicationServer
from gatebook.host.wal.standby import Follower

from waiting import wait_for

__all__ = ["HERE", "REPO", "SECRET", "SEED", "TIMEOUT", "FRAMES", "CHALLENGE_BYTES",
           "HANDSHAKE_TO_FOLLOWER", "HANDSHAKE_TO_PRIMARY", "wait_for", "Relay", "shutdown",
           "follow_in_thread", "read_until_closed", "read_exactly", "secret_file", "caught_up",
           "primary", "followers"]

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SECRET = os.urandom(32)
SEED = 23
TIMEOUT = 0.5                   # the followers' heartbeat timeout
FRAMES = ProtocolCodec(REPLICATION)
CHALLENGE_BYTES = AUTH_CHALLENGE.size + NONCE_SIZE      # all an unauthenticated peer ever gets
HANDSHAKE_TO_FOLLOWER = CHALLENGE_BYTES + AUTH_PROOF.size + MAC_SIZE
HANDSHAKE_TO_PRIMARY = AUTH_HELLO.size + NONCE_SIZE + AUTH_PROOF.size + MAC_SIZE


class Relay:
    """A TCP relay in front of the primary: records what the first follower connection
    sends, alters bytes of the first connection in one direction, cuts on demand.

    `tamper` is (direction, start, end, change): bytes start..end of that
    direction's stream go on as change(those bytes); the rest is untouched.
    """

    def __init__(self, target, tamper=None):
        self.target = target
        self.tamper = tamper
        self.recorded = bytearray()
        self.connections = 0
        self._closed = False
        self._sockets = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = self._listener.getsockname()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._closed:
                    client.close()
                    upstream.close()
                    return
                index = self.connections
                self.connections += 1
                self._sockets += [client, upstream]
            for source, sink, direction in ((client, upstream, "to_primary"),
                                            (upstream, client, "to_follower")):
                threading.Thread(target=self._pump, args=(source, sink, direction, index),
                                 daemon=True).start()

    def _pump(self, source, sink, direction, index):
        tamper = self.tamper if index == 0 and self.tamper and self.tamper[0] == direction \
            else None
        passed, held = 0, bytearray()   # bytes sent on before `start`; bytes held from it
        try:
            while data := source.recv(65536):
                if index == 0 and direction == "to_primary":
                    self.recorded += data
                if tamper is None:
                    sink.sendall(data)
                    continue
                _, start, end, change = tamper
                held += data
                if passed < start:
                    ahead = held[:start - passed]
                    sink.sendall(ahead)
                    del held[:len(ahead)]
                    passed += len(ahead)
                if passed == start and len(held) >= end - start:
                    sink.sendall(change(bytes(held[:end - start])) + held[end - start:])
                    tamper = None
        except OSError:
            pass
        for end in (source, sink):
            shutdown(end)

    def cut(self):
        """Close every connection through the relay at once; new ones are still relayed."""
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            shutdown(sock)
            sock.close()

    def close(self):
        with self._lock:
            self._closed = True
        shutdown(self._listener)
        self._listener.close()
        self.cut()


def shutdown(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def follow_in_thread(follower):
    result = {}

    def run():
        try:
            result["silence"] = follower.follow()
        except Exception as error:          # handed to the test thread
            result["error"] = error
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def read_until_closed(sock, seconds=5.0):
    sock.settimeout(seconds)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def read_exactly(sock, size):
    sock.settimeout(5)
    data = b""
    while len(data) < size and (chunk := sock.recv(size - len(data))):
        data += chunk
    return data


def secret_file(tmp_path, data=None, mode=0o600):
    path = tmp_path / "secret"
    path.write_bytes(os.urandom(32) if data is None else data)
    path.chmod(mode)
    return str(path)


def caught_up(follower, server, seq):
    wait_for(lambda: follower.next_seq > seq and server.acked >= seq,
             f"the follower to log seq {seq} and the primary to acknowledge it")


@pytest.fixture
def primary(tmp_path):
    """make(**server options) -> (exchange, server, submit(count) -> last seq)."""
    made = []

    def make(**options):
        exchange = JournaledExchange(str(tmp_path / "primary"),
                                     clock=ManualClock(START_NS, STEP_NS))
        options.setdefault("heartbeat_interval", 0.05)
        server = ReplicationServer(exchange, secret=SECRET, **options)
        stream = seeded_commands(SEED)

        def submit(count):
            for _ in range(count):
                seq, _ = exchange.submit(*next(stream))
            wait_for(lambda: server.local_seq >= seq, f"seq {seq} durable on the primary")
            return seq
        made.append((exchange, server))
        return exchange, server, submit
    yield make
    for exchange, server in made:
        server.close()
        exchange.close()


@pytest.fixture
def followers(tmp_path):
    """make(address, name="follower", **options) -> (follower, thread, result); stopped after."""
    made = []

    def make(address, name="follower", **options):
        options.setdefault("secret", SECRET)
        follower = Follower(str(tmp_path / name), address, heartbeat_timeout=TIMEOUT, **options)
        thread, result = follow_in_thread(follower)
        made.append((follower, thread))
        return follower, thread, result
    yield make
    for follower, thread in made:
        follower.close()
        thread.join(5)
