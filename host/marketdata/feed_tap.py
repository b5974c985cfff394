"""The bounded handoff from the exchange loop to the WebSocket server's thread.

The exchange loop must never wait for a market-data client. `FeedTap` sits
where the loop sends its MoldUDP64 packets (it is the exchange's `md_port`):
it sends them on as before and appends each to a bounded deque, waking the
server's event loop only when it is not already due to drain. That is all
the loop's thread does: no JSON, no book, no lock shared with a client.

`LocalSource`, on the server's loop, drains the deque into a `DepthBook`.
When the deque overflowed (the server fell behind by `capacity` packets) or
a packet skips ahead, it reloads the book from the publisher's snapshot (the
book and its sequence number, taken together under the publisher's lock),
so a server that fell behind catches up with the present, never with a
broken book.
"""

import logging
import threading
from collections import deque

from gatebook.wire.codec import WireError

from .depth import DepthBook

__all__ = ["FeedTap", "LocalSource", "HANDOFF_PACKETS"]

_log = logging.getLogger("gatebook.marketdata")

# Packets the handoff holds: ~5 MB of MoldUDP64, a few seconds of a busy feed.
HANDOFF_PACKETS = 4096


class FeedTap:
    """A DatagramPort for the exchange's market data that also hands each packet off.

    Parameters
    ----------
    port : DatagramPort
        Where the packets go on to (the feed's real port).
    capacity : int
        Packets held for the server at most; past it the oldest are dropped
        (counted in `overflowed`) and the server resynchronises.
    """

    def __init__(self, port, capacity=HANDOFF_PACKETS):
        self.port = port
        self.packets = deque(maxlen=capacity)
        self.overflowed = 0
        self._wake = None              # set by the server: schedules a drain on its loop
        self._due = False

    def send(self, datagrams):
        """Send `(packet, destination)` pairs on the port; keep each packet for the server."""
        sent = self.port.send(datagrams)
        packets = self.packets
        for packet, _ in datagrams:
            if len(packets) == packets.maxlen:
                self.overflowed += 1
            packets.append(packet)
        if not self._due and self._wake is not None:
            self._due = True
            try:
                self._wake()
            except RuntimeError:       # the server's loop has closed: nothing to wake
                self._wake = None
        return sent

    def bind(self, wake):
        """Call `wake()` (thread-safe) when packets arrive and no drain is due; None unbinds."""
        self._wake = wake

    def take(self):
        """All packets held, oldest first (on the server's thread)."""
        self._due = False               # before popping: a packet put after this wakes again
        taken = []
        packets = self.packets
        while packets:
            taken.append(packets.popleft())
        return taken


class LocalSource:
    """The server's view of an in-process publisher: a `DepthBook` kept from a `FeedTap`.

    Parameters
    ----------
    tap : FeedTap
    publisher : MoldPublisher
        Its `snapshot()` starts the book and resynchronises it.
    on_trade : callable(SymbolDepth, trade), optional
        Called on the server's loop with each trade as the book applies it.
    """

    def __init__(self, tap, publisher, on_trade=None):
        self.tap, self.publisher = tap, publisher
        self.book = DepthBook(on_trade)
        self.symbols = self.book.by_name
        self.resyncs = self.bad_packets = 0
        self._seen_overflow = 0
        self._changed = None
        self._lock = threading.Lock()      # load vs drain: the first load may be off-loop
        self.load()

    def load(self):
        """(Re)start the book from the publisher's snapshot."""
        records, next_sequence = self.publisher.snapshot()
        with self._lock:
            self.book.load(records, next_sequence)

    def start(self, loop, changed):
        """Drain on `loop`; call `changed(names)` after every change."""
        self._changed = changed
        self.tap.bind(lambda: loop.call_soon_threadsafe(self.drain))
        loop.call_soon(self.drain)

    def drain(self):
        """Apply what the tap holds; resynchronise when something was lost."""
        book = self.book
        with self._lock:
            packets = self.tap.take()
            lost = self.tap.overflowed != self._seen_overflow
            self._seen_overflow = self.tap.overflowed
            if not lost:
                for packet in packets:
                    try:
                        if not book.apply_packet(packet):
                            lost = True
                            break
                    except WireError:
                        self.bad_packets += 1
        if lost:
            self.resyncs += 1
            _log.warning("WebSocket feed fell behind the exchange: reloading from a snapshot")
            self.load()
        if book.changed:
            names = [book.symbols[locate].name for locate in book.changed]
            book.changed.clear()
            if self._changed is not None:
                self._changed(names)

    def close(self):
        self.tap.bind(None)
