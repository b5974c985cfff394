"""The latest replies to each user, by number: what a client that logs in again may ask for.

# Ref: NASDAQ SoupBinTCP 4.1 (Login Request's requested sequence number: the
#      server sends the sequenced messages from there on).

`Exchange` adds every reply datagram it sends, or would send to a user
with no session (`Replier.flush(unaddressed=True)`), once the replies may
leave (with a journal: once their commands are durable). A LOGIN_REQUEST
with `requested_sequence_number` R > 0 then gets, after LOGIN_ACCEPTED, the
kept replies numbered R and later, in datagrams numbered as before. At most
`per_user` replies are kept per user; a client asking for older ones gets
what is kept and sees the gap.
"""

from collections import deque

from gatebook.wire import ouch

from .replier import MAX_PAYLOAD, pack_reply
from .framing import HEADER_STRUCT

__all__ = ["ReplyHistory", "KEPT_PER_USER"]

# Replies kept per user, live and by a recovery (`GatewayState.keep_recent`).
KEPT_PER_USER = 1000

_HEADER, _HEADER_PACK = HEADER_STRUCT.size, HEADER_STRUCT.pack
_SIZES = {message.code: message.size for message in ouch.OUTBOUND.messages}


class ReplyHistory:
    """Per user, the latest `per_user` reply messages as (number, bytes)."""

    def __init__(self, per_user=KEPT_PER_USER):
        self.per_user = per_user
        self.kept = {}                      # user -> deque of (number, message bytes)

    def add(self, datagrams):
        """Keep the messages of reply datagrams `(payload, peer)` (peer may be None)."""
        for payload, _ in datagrams:
            user, number, count = HEADER_STRUCT.unpack_from(payload)
            box = self.kept.get(user)
            if box is None:
                box = self.kept[user] = deque(maxlen=self.per_user)
            at = _HEADER
            for number in range(number, number + count):
                size = _SIZES[payload[at]]
                box.append((number, payload[at:at + size]))
                at += size

    def seed(self, recent, symbols):
        """Start from the replies a recovery remembered (`GatewayState.recent`:
        per user, (number, event, token, extra)), so a client learns the
        outcome of commands that were logged but not reported before a crash."""
        names = {spec.symbol_id: spec.name.encode().ljust(8) for spec in symbols}
        for user, remembered in recent.items():
            box = self.kept[user] = deque(maxlen=self.per_user)
            for number, event, token, extra in remembered:
                box.append((number, pack_reply(event, token, extra, names)))

    def datagrams(self, user, first, peer, limit=MAX_PAYLOAD):
        """The kept replies to `user` numbered `first` and later, as (payload,
        peer) datagrams of consecutive numbers under `limit` bytes."""
        out, batch, size, start = [], [], _HEADER, None
        for number, message in self.kept.get(user, ()):
            if number < first:
                continue
            if batch and (size + len(message) > limit or number != start + len(batch)):
                out.append((_HEADER_PACK(user, start, len(batch)) + b"".join(batch), peer))
                batch, size = [], _HEADER
            if not batch:
                start = number
            batch.append(message)
            size += len(message)
        if batch:
            out.append((_HEADER_PACK(user, start, len(batch)) + b"".join(batch), peer))
        return out
