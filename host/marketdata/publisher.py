"""ITCH 5.0 in MoldUDP64: one session, its sequence numbers, and what it can send again.

# Ref: NASDAQ MoldUDP64 Protocol Specification 1.00 ("Downstream Packets",
#      "Request Packets", heartbeats and end of session).

`MoldPublisher` numbers every ITCH message of a session from 1 (or from where
a restarted session left off), packs messages into downstream packets that
fit one Ethernet MTU, and hands them to a `send` callable. It keeps the last
`store_messages` messages, so the re-request server (request_server.py) can
send a range again, and the book a subscriber holds after every message so
far (`SnapshotBook`), so the snapshot service (snapshot_server.py) can hand a
late joiner the same book with the sequence number that follows it.

The exchange loop publishes; the services read from another thread. One lock
covers the sequence number, the store and the book, so a snapshot or a
retransmission always sees them as of the same message.
"""

import threading
import time
from collections import deque

from gatebook.wire import itch50, mold
from gatebook.wire.codec import ProtocolCodec, WireError
from gatebook.wire.moldudp64 import HEADER

from .snapshot import SnapshotBook

__all__ = ["MoldPublisher", "RetransmissionStore", "pack_packets", "MAX_PAYLOAD",
           "STORE_MESSAGES"]

# A downstream packet's bytes after its header: IPv4 (20) + UDP (8) + MoldUDP64
# header (20) + this stays under a 1500-byte Ethernet MTU, with room to spare.
MAX_PAYLOAD = 1400
# Messages kept for retransmission: a few seconds of a busy day, ~5 MB.
STORE_MESSAGES = 100_000

_ITCH = ProtocolCodec(itch50.ITCH50)
_BLOCK = 2                        # each message's length prefix (moldudp64.BLOCK_LENGTH)
_SESSION_WIDTH = HEADER.field("session").width


def pack_packets(session, first_sequence, messages, max_payload=MAX_PAYLOAD):
    """Downstream packets carrying `messages` (bytes each) in order, the first
    numbered `first_sequence`; each packet's blocks fit `max_payload` bytes (a
    message larger than that goes alone)."""
    packets, batch, size, sequence = [], [], 0, first_sequence
    for message in messages:
        if batch and (size + _BLOCK + len(message) > max_payload
                      or len(batch) == mold.MAX_MESSAGE_COUNT):
            packets.append(mold.build(session, sequence, batch))
            sequence += len(batch)
            batch, size = [], 0
        batch.append(message)
        size += _BLOCK + len(message)
    if batch:
        packets.append(mold.build(session, sequence, batch))
    return packets


class RetransmissionStore:
    """The last `capacity` messages of a session, by sequence number.

    A message is its bytes, or, for one replayed after a restart, its ITCH
    record tuple (the publisher encodes it when asked).

    Parameters
    ----------
    capacity : int
        Messages kept; older ones are forgotten as new ones come.
    next_sequence : int
        The sequence number the first message appended will have.
    """

    def __init__(self, capacity, next_sequence=1):
        if capacity < 1:
            raise ValueError(f"a retransmission store holds at least 1 message, not {capacity}")
        self.capacity = capacity
        self.next_sequence = next_sequence
        self._messages = []       # grows to 2 * capacity, then drops its older half
        self._first = next_sequence

    @property
    def first_sequence(self):
        """The oldest sequence number still held (== next_sequence when empty)."""
        return max(self._first, self.next_sequence - self.capacity)

    def skip(self, count):
        """Number `count` messages that will never be asked for (older than what is kept)."""
        self._messages.clear()
        self.next_sequence += count
        self._first = self.next_sequence

    def extend(self, messages):
        """Keep `messages`, numbered from `next_sequence` on."""
        self._messages.extend(messages)
        self.next_sequence += len(messages)
        excess = len(self._messages) - self.capacity
        if excess > self.capacity:
            del self._messages[:excess]
            self._first += excess

    def held(self):
        """(first sequence number, the messages held from it on, oldest first)."""
        first = self.first_sequence
        return first, self._messages[first - self._first:]

    def get(self, sequence, count):
        """Up to `count` messages from `sequence` on; [] when it is not held."""
        if not self.first_sequence <= sequence < self.next_sequence or count < 1:
            return []
        start = sequence - self._first
        return self._messages[start:start + count]


class MoldPublisher:
    """A MoldUDP64 session: sequence numbers, packets, retransmission store and book.

    Parameters
    ----------
    session : str
        The session name: ASCII, at most 10 characters.
    send : callable(list of bytes) -> int
        Sends downstream packets to the feed's destination; returns how many left.
    store_messages : int
        Messages kept for retransmission.
    max_payload : int
        Bytes of message blocks per packet.
    next_sequence : int
        The sequence number of the next message (1 for a new session).
    clock : callable returning int nanoseconds
        Monotonic time, for heartbeats when the feed is quiet.
    """

    def __init__(self, session, send, store_messages=STORE_MESSAGES, max_payload=MAX_PAYLOAD,
                 next_sequence=1, clock=time.monotonic_ns):
        if not isinstance(session, str) or not session.isascii() \
                or not 0 < len(session) <= _SESSION_WIDTH or not session.isprintable():
            raise ValueError(f"a MoldUDP64 session name is 1 to {_SESSION_WIDTH} printable "
                             f"ASCII characters, not {session!r}")
        self.session = session
        self.max_payload = max_payload
        self.lock = threading.Lock()
        self.store = RetransmissionStore(store_messages, next_sequence)
        self.book = SnapshotBook()
        self.ended = False
        self.packets = self.messages = 0          # sent on the feed so far
        self._send = send
        self._replayed = deque(maxlen=store_messages)
        self._replayed_count = 0
        self.clock = clock
        self.last_sent = clock()                 # when the feed last sent anything
        # Called under the lock after each publish (the feed checkpoint's moment).
        self.on_published = None

    @property
    def next_sequence(self):
        """The sequence number the next message will have."""
        return self.store.next_sequence

    def publish(self, records):
        """Number, store and send ITCH record tuples; return (packets sent, messages).

        Raises `WireError` for a record that does not encode (nothing is sent),
        or once the session has ended.
        """
        if not records:
            return 0, 0
        messages = [_ITCH.encode(record) for record in records]
        with self.lock:
            if self.ended:
                raise WireError(f"MoldUDP64 session {self.session} has ended")
            packets = pack_packets(self.session, self.store.next_sequence, messages,
                                   self.max_payload)
            self.store.extend(messages)
            self.book.apply_all(records)
            self.last_sent = self.clock()
            if self.on_published is not None:
                self.on_published()
        sent = self._send(packets)
        self.packets += sent
        self.messages += len(messages)
        return sent, len(messages)

    def replay(self, records):
        """Take `records` as already sent: number and apply them, send nothing.

        How a restarted exchange rebuilds the session its predecessor was
        publishing (resume.py); `end_replay` then fills the store.
        """
        with self.lock:
            self.book.apply_all(records)
            self._replayed.extend(records)
            self._replayed_count += len(records)

    def end_replay(self):
        """Put the last of the replayed records in the store, as records: they are
        encoded only if a subscriber asks for them (most never are)."""
        with self.lock:
            kept = list(self._replayed)
            if self._replayed_count > len(kept):     # older than the store keeps
                self.store.skip(self._replayed_count - len(kept))
            self.store.extend(kept)
            self._replayed.clear()
            self._replayed_count = 0

    def restore(self, records, next_sequence, messages):
        """Start where a checkpoint left the session (checkpoint.py), sending nothing.

        `records` rebuild the subscribers' book (a snapshot's), `messages`
        (bytes, the last ones sent, ending just before `next_sequence`)
        refill the retransmission store.
        """
        with self.lock:
            self.book = SnapshotBook()
            self.book.apply_all(records)
            kept = messages[-self.store.capacity:]
            self.store = RetransmissionStore(self.store.capacity, next_sequence - len(kept))
            self.store.extend(kept)

    def checkpoint(self):
        """(book records, next sequence number, (first sequence, messages held)), as of
        the same message; call with `lock` held (from `on_published`)."""
        return self.book.records(), self.store.next_sequence, self.store.held()

    def heartbeat(self):
        """A heartbeat packet: no messages, the next sequence number."""
        return mold.heartbeat(self.session, self.next_sequence)

    def send_heartbeat(self):
        """Send a heartbeat: subscribers learn the next sequence number, and any gap."""
        self.last_sent = self.clock()
        self.packets += self._send([self.heartbeat()])

    def heartbeat_if_quiet(self, interval_ns):
        """A heartbeat packet when the feed sent nothing for `interval_ns`, else None.

        The spec's heartbeats (about one a second) let a subscriber that lost
        the last packet before a quiet spell see its gap; the caller sends it.
        Once the session has ended, end-of-session packets take their place.
        """
        with self.lock:
            now = self.clock()
            if now - self.last_sent < interval_ns:
                return None
            self.last_sent = now
            end = mold.end_of_session if self.ended else mold.heartbeat
            return end(self.session, self.store.next_sequence)

    def end_session(self):
        """Send MoldUDP64's end of session; nothing may be published after it.

        Retransmission requests are still answered (the spec's last chance to
        fill a gap)."""
        with self.lock:
            self.ended = True
            self.last_sent = self.clock()
            packet = mold.end_of_session(self.session, self.store.next_sequence)
        self.packets += self._send([packet])

    def retransmission(self, sequence, count):
        """What answers a request for `count` messages from `sequence`.

        Returns (packets, messages): downstream packets holding the messages
        still in the store from `sequence` on (at most `count`), or, when the
        store does not hold `sequence`, one packet without messages carrying
        the next sequence number: a heartbeat, or an end of session once the
        session has ended.
        """
        with self.lock:
            messages = [message if isinstance(message, bytes) else _ITCH.encode(message)
                        for message in self.store.get(sequence, count)]
            if messages:
                return pack_packets(self.session, sequence, messages, self.max_payload), \
                    len(messages)
            end = mold.end_of_session if self.ended else mold.heartbeat
            return [end(self.session, self.store.next_sequence)], 0

    def snapshot(self):
        """(ITCH records, next sequence number): every subscriber's book right now."""
        with self.lock:
            return self.book.records(), self.store.next_sequence

    def holds(self, sequence):
        """Whether `sequence` can be sent again (what the store holds)."""
        with self.lock:
            return self.store.first_sequence <= sequence < self.store.next_sequence
