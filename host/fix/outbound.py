"""What FIX order entry sends each user: numbered in order, held for the log, kept for resends.

# Ref: FIX 4.4 Volume 2 (message recovery: ResendRequest, PossDupFlag,
#      SequenceReset-GapFill).

Every message to a user takes the user's next outbound MsgSeqNum when it is
made. A report of a logged command may be *held* until the log acknowledges
the command; whatever the user is sent after it waits behind it, so numbers
reach the client in order and nothing about an unacknowledged command leaves
early. Order messages (not session messages) are kept, the last
`KEPT_PER_USER` per user, so a ResendRequest gets them again with PossDupFlag;
anything else asked for is gap-filled (SequenceReset-GapFill).
"""

from collections import OrderedDict, deque

from .codec import encode, fix_time
from .dictionary import TAG

__all__ = ["Outbound", "KEPT_PER_USER", "SESSION_TYPES"]

KEPT_PER_USER = 10_000
SESSION_TYPES = frozenset("0A12345")


class _UserOutbound:
    __slots__ = ("queue", "kept", "released")

    def __init__(self):
        self.queue = deque()                # [seq, bytes, ready]
        self.kept = OrderedDict()           # seq -> (SendingTime, MsgType, body), ascending
        self.released = 0                   # the highest seq handed to a connection


class Outbound:
    """Every user's outbound messages (see the module docstring).

    Parameters
    ----------
    state : FixState
        Holds each user's next outbound number (`numbers_of(user)[1]`).
    comp_id : str
        Ours (SenderCompID).
    clock : callable returning int nanoseconds
    connection_of : callable(user) -> Connection or None
    """

    def __init__(self, state, comp_id, clock, connection_of):
        self.state, self.comp_id, self.clock = state, comp_id, clock
        self.connection_of = connection_of
        self.users = {}

    def send(self, user, msg_type, body, held=False):
        """Number a message for `user`, queue it; the queue entry (`release` takes it)."""
        numbers = self.state.numbers_of(user)
        seq = numbers[1]
        numbers[1] = seq + 1
        out = self.users.get(user)
        if out is None:
            out = self.users[user] = _UserOutbound()
        connection = self.connection_of(user)
        target = connection.comp_id if connection is not None else "CLIENT"
        sending_time = fix_time(self.clock())
        entry = [seq, encode(msg_type, seq, self.comp_id, target, sending_time, body), not held]
        out.queue.append(entry)
        if msg_type not in SESSION_TYPES:
            out.kept[seq] = (sending_time, msg_type, body)
            if len(out.kept) > KEPT_PER_USER:
                out.kept.popitem(last=False)
        return entry

    def release(self, entries):
        """Held entries the log acknowledged may go."""
        for entry in entries:
            entry[2] = True

    def flush(self, user):
        """Write the user's ready messages, in order, to its connection (or drop them
        when it has none: order messages stay kept for a resend)."""
        out = self.users.get(user)
        if out is None:
            return
        connection = self.connection_of(user)
        queue, now = out.queue, self.clock()
        while queue and queue[0][2]:
            seq, data, _ = queue.popleft()
            out.released = seq
            if connection is not None and not connection.closing:
                connection.write(data, now)

    def flush_all(self):
        for user in list(self.users):
            self.flush(user)

    def forget(self, user):
        """A session reset (ResetSeqNumFlag): nothing kept or waiting counts any more."""
        self.users.pop(user, None)

    def resend(self, connection, begin, end):
        """Answer a ResendRequest for [begin, end] (end 0: all): kept order messages
        again with PossDupFlag, every other number gap-filled."""
        user = connection.user
        self.flush(user)
        out = self.users.get(user) or _UserOutbound()
        last = out.released
        end = last if end == 0 or end > last else end
        begin, now = max(begin, 1), self.clock()
        if begin > end:
            return
        expected = begin
        for seq, (sending_time, msg_type, body) in list(out.kept.items()):
            if seq < begin or seq > end:
                continue
            if seq > expected:
                self._gap_fill(connection, expected, seq, now)
            connection.write(encode(msg_type, seq, self.comp_id, connection.comp_id,
                                    fix_time(now), body, poss_dup_of=sending_time), now)
            expected = seq + 1
        if expected <= end:
            self._gap_fill(connection, expected, end + 1, now)

    def _gap_fill(self, connection, first, next_seq, now):
        connection.write(encode("4", first, self.comp_id, connection.comp_id, fix_time(now),
                                [(TAG.GapFillFlag, "Y"), (TAG.NewSeqNo, next_seq)],
                                poss_dup_of=fix_time(now)), now)
