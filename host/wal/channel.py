"""The replication connection: mutual authentication and a MAC over every frame.

# Ref: RFC 2104 (HMAC), FIPS 180-4 (SHA-256).

Both ends hold the same secret (a file of at least 32 random bytes,
`load_secret`). A connection opens with a challenge-response handshake in
both directions (the frames are in gatebook.wire.wal):

    follower -> primary   AUTH_HELLO      version, nonce_f (fresh, random)
    primary  -> follower  AUTH_CHALLENGE  version, nonce_p (fresh, random)
    follower -> primary   AUTH_PROOF      HMAC(secret, "follower proof" | nonce_f | nonce_p)
    primary  -> follower  AUTH_PROOF      HMAC(secret, "primary proof"  | nonce_f | nonce_p)

The follower proves itself first, so the primary computes nothing for a
peer that does not hold the secret and sends it nothing but a nonce; a
recorded handshake cannot be replayed, because the other end's nonce is new
each time. Each direction then has its own key, HMAC(secret, direction label
| nonce_f | nonce_p), and every frame after the handshake is followed by
HMAC(key, counter | frame bytes), the counter counting that direction's
frames from 0 and never sent: a frame altered, replayed, reordered or
dropped fails the next MAC.

Why a shared secret and not TLS: the two ends are one operator's pair of
machines, so a secret file is all the identity they need, with no
certificate authority, expiry or host names to manage, and the standard
library's hmac and hashlib do it in a page of code whose every byte is in
the wire tables. What it does not do is hide the log from someone who can
watch the link (the frames are authenticated, not encrypted): run it over a
private link or an encrypted tunnel (WireGuard, IPsec) where that matters.

Anything that breaks the rules raises `AuthError`, whose `kind` the caller
counts and logs; nothing received is acted on before its MAC is checked.
"""

import collections
import hashlib
import hmac
import os
import select
import socket
import stat
import struct
import threading
import time

from gatebook.wire.codec import ProtocolCodec, WireError
from gatebook.wire.wal import (AUTH_CHALLENGE, AUTH_HELLO, AUTH_PROOF, AUTH_TRAILER_BYTES,
                               MAC_SIZE, NONCE_SIZE, RECORDS, RECORDS_MAX_BYTES, REPLICATION,
                               REPLICATION_VERSION)

__all__ = ["SECRET_MIN_BYTES", "SecretError", "AuthError", "load_secret", "require_secret",
           "Channel", "FRAMES", "connect_follower", "accept_follower"]

SECRET_MIN_BYTES = 32
_SECRET_MAX_BYTES = 4096
FRAMES = ProtocolCodec(REPLICATION)
# Each frame type as a named tuple, so readers say `frame.next_seq`, never `frame[1]`.
_VIEWS = {message.code: collections.namedtuple(message.name, ("type",) + message.field_names)
          for message in REPLICATION.messages}
_SIZE = {message.code: message.size for message in REPLICATION.messages}
_COUNTER = struct.Struct("<Q")
_LABEL = b"gatebook-replication-%d " % REPLICATION_VERSION
_FOLLOWER_PROOF, _PRIMARY_PROOF = _LABEL + b"follower proof", _LABEL + b"primary proof"
_TO_PRIMARY, _TO_FOLLOWER = _LABEL + b"follower to primary", _LABEL + b"primary to follower"
_SEND_TIMEOUT = 5.0      # a peer that takes no bytes for this long is gone


class SecretError(ValueError):
    """The secret file cannot be used; the message says why and what to do."""


class AuthError(ConnectionError):
    """The peer broke the protocol or failed authentication; `kind` names how, for counting."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def load_secret(path):
    """The replication secret in the file at `path`, refusing a weak or exposed one.

    Raises SecretError (a sentence saying what to do) when the file is
    missing, readable by every user, or shorter than SECRET_MIN_BYTES.
    """
    make = (f"make one with `(umask 077; head -c 32 /dev/urandom > {path})` and copy it to "
            f"the primary and the standby")
    try:
        with open(path, "rb") as file:
            mode = os.fstat(file.fileno()).st_mode
            secret = file.read(_SECRET_MAX_BYTES + 1)
    except OSError as error:
        raise SecretError(f"cannot read the replication secret {path}: {error.strerror}; "
                          f"{make}") from None
    if not stat.S_ISREG(mode):
        raise SecretError(f"the replication secret {path} is not a regular file; {make}")
    if mode & stat.S_IROTH:
        raise SecretError(f"the replication secret {path} is readable by every user (mode "
                          f"{stat.S_IMODE(mode):04o}): run `chmod 600 {path}` and, since "
                          f"others may have read it, make a new one")
    if len(secret) < SECRET_MIN_BYTES:
        raise SecretError(f"the replication secret {path} holds {len(secret)} bytes, fewer "
                          f"than {SECRET_MIN_BYTES}: {make}")
    if len(secret) > _SECRET_MAX_BYTES:
        raise SecretError(f"the replication secret {path} is over {_SECRET_MAX_BYTES} bytes: "
                          f"is it the right file? {make}")
    return secret


def require_secret(secret):
    """`secret` if it is bytes of at least SECRET_MIN_BYTES; ValueError otherwise."""
    if not isinstance(secret, (bytes, bytearray)) or len(secret) < SECRET_MIN_BYTES:
        raise ValueError(f"a replication secret is at least {SECRET_MIN_BYTES} bytes "
                         f"(channel.load_secret reads one from a file)")
    return bytes(secret)


def _mac(key, *parts):
    return hmac.new(key, b"".join(parts), hashlib.sha256).digest()


class Channel:
    """One replication connection: frames in and out, raw in the handshake, MAC'd after it.

    `send` and `recv` may run on different threads (each direction has its
    own counter and lock). `recv` keeps partial frames across timeouts.
    """

    def __init__(self, sock, peer):
        self.sock = sock
        self.peer = peer
        self.name = f"{peer[0]}:{peer[1]}"
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(_SEND_TIMEOUT)      # recv waits in select, never here
        self._buffer = bytearray()
        self._send_lock = threading.Lock()
        self._send_key = self._recv_key = None
        self._sent = self._received = 0
        self.closed = False

    # -- frames ---------------------------------------------------------------

    def send(self, frame, payload=b""):
        """Encode `frame` (a tuple, type first), add `payload` and, once keyed, its MAC."""
        data = FRAMES.encode(frame) + payload
        with self._send_lock:
            if self._send_key is not None:
                data += _mac(self._send_key, _COUNTER.pack(self._sent), data)
                self._sent += 1
            self.sock.sendall(data)

    def recv(self, timeout, allowed):
        """(frame view, payload) of the next frame, or None if none is whole within `timeout`.

        `allowed` is the set of frame type codes the peer may send now; any
        other, a RECORDS frame longer than RECORDS_MAX_BYTES, or a bad MAC
        raises AuthError; a closed connection raises ConnectionError.
        """
        deadline = time.monotonic() + timeout
        while True:
            got = self._parse(allowed)
            if got is not None:
                return got
            left = deadline - time.monotonic()
            try:
                if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                    return None
            except ValueError:          # closed by another thread (its fd is -1 now)
                raise ConnectionError(f"the connection to {self.name} was closed") from None
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError(f"{self.name} closed the connection")
            self._buffer += chunk

    def _parse(self, allowed):
        buffer = self._buffer
        if not buffer:
            return None
        code = buffer[0]
        if code not in allowed:
            raise AuthError("unexpected_frame",
                            f"{self.name} sent frame type {code:#04x}, which is not allowed "
                            f"{'in the handshake' if self._recv_key is None else 'here'}")
        size = _SIZE[code]
        if len(buffer) < size:
            return None
        frame = _VIEWS[code](*FRAMES.decode(bytes(buffer[:size])))
        body = frame.length if code == RECORDS.code else AUTH_TRAILER_BYTES.get(code, 0)
        if body > RECORDS_MAX_BYTES:
            raise AuthError("too_long", f"{self.name} announced a {body}-byte RECORDS frame; "
                                        f"the limit is {RECORDS_MAX_BYTES}")
        mac = MAC_SIZE if self._recv_key is not None else 0
        end = size + body + mac
        if len(buffer) < end:
            return None
        data = bytes(buffer[:size + body])
        if mac:
            expected = _mac(self._recv_key, _COUNTER.pack(self._received), data)
            if not hmac.compare_digest(expected, bytes(buffer[size + body:end])):
                raise AuthError("bad_mac", f"{self.name} sent frame {self._received} with a "
                                           f"MAC that does not check (altered, replayed, "
                                           f"reordered or dropped frames, or a wrong key)")
            self._received += 1
        del buffer[:end]
        return frame, data[size:]

    def _key(self, secret, send_label, recv_label, nonces):
        """From now on every frame carries a MAC under the direction's own key."""
        self._send_key = _mac(secret, send_label, nonces)
        self._recv_key = _mac(secret, recv_label, nonces)

    def close(self):
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)   # wakes a thread blocked on it
        except OSError:
            pass
        self.sock.close()


def _expect(channel, code, deadline, what):
    left = deadline - time.monotonic()
    try:
        got = channel.recv(max(0.0, left), {code}) if left > 0 else None
    except WireError as error:
        raise AuthError("bad_frame", f"{channel.name}: {error}") from None
    except AuthError:
        raise
    except OSError:
        raise AuthError("closed_in_handshake", f"{channel.name} closed the connection "
                                               f"before {what}") from None
    if got is None:
        raise AuthError("handshake_timeout", f"{channel.name} sent no {what} in time")
    return got


def connect_follower(address, secret, timeout):
    """The follower's end: connect to `address`, run the handshake; return the keyed Channel.

    Raises OSError if nothing accepts the connection and AuthError if the
    peer does not prove it holds the secret (or refuses our proof).
    """
    deadline = time.monotonic() + timeout
    sock = socket.create_connection(address, timeout=timeout)
    channel = Channel(sock, address)
    try:
        nonce_f = os.urandom(NONCE_SIZE)
        channel.send((AUTH_HELLO.code, REPLICATION_VERSION), nonce_f)
        challenge, nonce_p = _expect(channel, AUTH_CHALLENGE.code, deadline, "challenge")
        if challenge.version != REPLICATION_VERSION:
            raise AuthError("bad_version", f"{channel.name} speaks replication version "
                                           f"{challenge.version}, this build {REPLICATION_VERSION}")
        nonces = nonce_f + nonce_p
        channel.send((AUTH_PROOF.code,), _mac(secret, _FOLLOWER_PROOF, nonces))
        try:
            _, proof = _expect(channel, AUTH_PROOF.code, deadline, "proof")
        except AuthError as error:
            if error.kind == "closed_in_handshake":
                raise AuthError("proof_refused", f"{channel.name} refused this follower's "
                                                 f"proof: the secrets differ?") from None
            raise
        if not hmac.compare_digest(proof, _mac(secret, _PRIMARY_PROOF, nonces)):
            raise AuthError("bad_proof", f"{channel.name} does not hold the replication "
                                         f"secret (its proof is wrong): the secrets differ, or "
                                         f"it is not our primary")
        channel._key(secret, _TO_PRIMARY, _TO_FOLLOWER, nonces)
        return channel
    except BaseException:
        channel.close()
        raise


def accept_follower(channel, secret, timeout):
    """The primary's end of the handshake on an accepted `channel`; keys it or raises AuthError.

    The whole handshake must finish within `timeout` seconds (a peer that
    trickles bytes gains nothing). Nothing but the nonce is sent to a peer
    before its proof checks.
    """
    deadline = time.monotonic() + timeout
    hello, nonce_f = _expect(channel, AUTH_HELLO.code, deadline, "hello")
    if hello.version != REPLICATION_VERSION:
        raise AuthError("bad_version", f"{channel.name} speaks replication version "
                                       f"{hello.version}, this build {REPLICATION_VERSION}")
    nonce_p = os.urandom(NONCE_SIZE)
    channel.send((AUTH_CHALLENGE.code, REPLICATION_VERSION), nonce_p)
    _, proof = _expect(channel, AUTH_PROOF.code, deadline, "proof")
    nonces = nonce_f + nonce_p
    if not hmac.compare_digest(proof, _mac(secret, _FOLLOWER_PROOF, nonces)):
        raise AuthError("bad_proof", f"{channel.name} failed authentication: its proof is "
                                     f"wrong (a wrong secret, or a replayed handshake)")
    channel.send((AUTH_PROOF.code,), _mac(secret, _PRIMARY_PROOF, nonces))
    channel._key(secret, _TO_FOLLOWER, _TO_PRIMARY, nonces)
