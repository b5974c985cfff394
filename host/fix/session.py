"""The FIX 4.4 session layer of one TCP connection: logon, numbers, heartbeats, resends.

# Ref: FIX 4.4 Volume 2 (session protocol: Logon, Heartbeat, TestRequest,
#      ResendRequest, SequenceReset, Logout, Reject; message recovery).

Ours rather than PyPI `quickfix`: it has no wheel here and builds from source
for many minutes, and its sessions run threads and their own message store,
where Gatebook's order entry is polled on the exchange's thread and its store
is the write-ahead log. simplefix parses and serialises; this module keeps
the rules.

A `Connection` is one client socket: bytes in are framed (codec.py), each
message is checked against the dictionary (required tags, formats, comp ids),
then by sequence number: the expected one is taken, a higher one asks for a
resend (ResendRequest) and is dropped until the gap is filled, a lower one is
a duplicate when PossDupFlag says so and ends the session otherwise. Session
messages are answered here; order messages go to the entry (`FixEntry`),
which turns them into commands. Numbers belong to the user (the account),
not the connection: a user's next connection goes on where the last stopped.
"""

from collections import deque

from .codec import FramingError, parse, split
from .dictionary import FIELD_TYPES, MESSAGES, REQUIRED, SESSION_REJECT, TAG

__all__ = ["Connection", "check_fields", "SessionReject", "APPLICATION"]

APPLICATION = frozenset("DFGq")          # the order messages the entry serves
_INTEGER_TYPES = frozenset(("INT", "SEQNUM", "LENGTH", "QTY"))
MAX_BUFFER = 65_536                      # unframed bytes held per connection
MAX_OUTPUT = 4 << 20                     # bytes waiting for a slow reader before it is cut


class SessionReject(ValueError):
    """A message the session layer rejects (35=3); `reason` is SessionRejectReason."""

    def __init__(self, reason, tag, text):
        super().__init__(text)
        self.reason, self.tag = SESSION_REJECT[reason], tag


def check_fields(fields, twice):
    """Raise SessionReject unless `fields` fit the dictionary for their MsgType."""
    msg_type = fields.get(TAG.MsgType)
    if msg_type not in MESSAGES:
        raise SessionReject("INVALID_MSGTYPE", TAG.MsgType, f"MsgType {msg_type!r:.10} "
                                                            "is not served")
    if twice:
        raise SessionReject("TAG_APPEARS_MORE_THAN_ONCE", twice[0],
                            f"tag {twice[0]} appears more than once")
    for tag in REQUIRED[msg_type]:
        if tag not in fields:
            raise SessionReject("REQUIRED_TAG_MISSING", tag,
                                f"required tag {tag} ({FIELD_TYPES[tag][0]}) is missing")
    for tag, value in fields.items():
        kind = FIELD_TYPES.get(tag, (None, None))[1]
        if kind in _INTEGER_TYPES and not (value.isdigit() and len(value) <= 18):
            raise SessionReject("INCORRECT_DATA_FORMAT_FOR_VALUE", tag,
                                f"tag {tag} must be a whole number")
        if kind == "CHAR" and len(value) != 1 or kind == "BOOLEAN" and value not in "YN":
            raise SessionReject("INCORRECT_DATA_FORMAT_FOR_VALUE", tag,
                                f"tag {tag} must be one character")
        if tag in (TAG.Text, TAG.ClOrdID, TAG.OrigClOrdID, TAG.Symbol) and len(value) > 256:
            raise SessionReject("VALUE_IS_INCORRECT", tag, f"tag {tag} is too long")


class Connection:
    """One client's TCP connection and its session (see the module docstring).

    Attributes
    ----------
    user : int or None
        The account's user id once its logon is accepted.
    comp_id : str or None
        The client's SenderCompID, from its logon.
    heartbeat_ns : int
        The HeartBtInt it asked for.
    inbox : deque of (fields, raw) waiting to be handled
    """

    def __init__(self, sock, peer, now):
        self.sock, self.peer = sock, peer
        self.buffer, self.output = bytearray(), bytearray()
        self.inbox = deque()
        self.user = self.comp_id = None
        self.checking = False               # a logon's password is being checked
        self.closing = False                # close once the output is written
        self.closed = False
        self.opened = self.last_in = self.last_out = now
        self.heartbeat_ns = 30_000_000_000
        self.test_sent = None               # (TestReqID, when) of an unanswered TestRequest
        self.resend_asked = False
        self.logon, self.check = {}, None   # the Logon's fields; its password check

    def read(self, now, counts):
        """Take what the socket has; frame it into `inbox`. False once the connection is gone."""
        try:
            data = self.sock.recv(65_536)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            counts["connection_error"] += 1
            return False
        if not data:
            return False
        self.last_in = now
        if self.closing:
            return True                     # a logout was sent: what follows is not read
        self.buffer += data
        try:
            messages, used = split(self.buffer)
        except FramingError as error:
            counts[error.kind] += 1
            return False
        del self.buffer[:used]
        if len(self.buffer) > MAX_BUFFER:
            counts["too_large"] += 1
            return False
        for raw in messages:
            try:
                fields, twice = parse(raw)
            except ValueError:
                counts["garbage"] += 1
                return False
            self.inbox.append((fields, twice))
        return True

    def write(self, data, now):
        self.output += data
        self.last_out = now

    def flush(self, counts):
        """Write what the socket takes; False when the connection must go."""
        if self.output:
            try:
                sent = self.sock.send(self.output)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                counts["connection_error"] += 1
                return False
            del self.output[:sent]
            if len(self.output) > MAX_OUTPUT:
                counts["slow_consumer"] += 1
                return False
        return not (self.closing and not self.output)

    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass
