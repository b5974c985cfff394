"""Counting a bench sender's replies from their session headers, with every loss flagged.

The end-to-end shard bench (`shards_e2e`) does not decode its replies into
records: it frames each datagram by the message sizes of the OUCH tables
(`frame_datagram`, which walks the type bytes only) and counts the messages its
header numbers. Counting header counts alone would let a duplicate hide a lost
datagram (two wrongs summing right), so the numbering is checked as the exchange
checks its own inbound side (`SessionTracker`): a datagram ahead of the next
expected number is a gap, one behind it a duplicate that is not counted again.
"""

from collections import Counter

from gatebook.wire import ouch

from ..ouch.framing import SessionTracker, frame_datagram

__all__ = ["ReplyTally"]

_OUT_SIZES = {message.code: message.size for message in ouch.OUTBOUND.messages}


class ReplyTally:
    """The replies to one user, counted without decoding them.

    Parameters
    ----------
    owner : int
        What a reply's header carries in its `session` field: the user id whose
        replies these are (LOGIN_ACCEPTED's `user_id`; `gatebook.wire.ouch`).
    first : int
        The sequence number of its next reply (LOGIN_ACCEPTED's `next_outbound`).

    Attributes
    ----------
    messages : int
        Replies counted, each sequence number once.
    refused : collections.Counter
        Datagrams not counted, by kind: a framing refusal's name
        (`framing.REFUSALS`) or `FOREIGN_SESSION`.
    """

    def __init__(self, owner, first):
        self.owner = owner
        self.messages = 0
        self.refused = Counter()
        self._tracker = SessionTracker({owner: first})

    def add(self, data):
        """Count datagram `data`; the replies it adds (0 for a duplicate or a refused one)."""
        session, sequence, count, error = frame_datagram(data, _OUT_SIZES)
        if error is not None:
            self.refused[error[0]] += 1
            return 0
        if session != self.owner:
            self.refused["FOREIGN_SESSION"] += 1
            return 0
        added = count - self._tracker.check(session, sequence, count).skip
        self.messages += added
        return added

    @property
    def gap_messages(self):
        """Replies skipped over by a later datagram's numbering (lost on the way)."""
        return self._tracker.gaps

    @property
    def duplicate_messages(self):
        """Replies that arrived again and were not counted twice."""
        return self._tracker.duplicates

    def complete(self, expected):
        """Whether exactly `expected` replies arrived, numbered without a gap."""
        return self.messages == expected and self.gap_messages == 0
