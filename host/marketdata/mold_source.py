"""An edge's symbol states from the exchange's own MoldUDP64 feed, with no NATS between.

# Ref: MoldUDP64 1.00 (downstream packets); GLIMPSE-style snapshot (snapshot.py).

`gatebook md-edge --mold GROUP:PORT --snapshot IP:PORT` subscribes to the
feed `gatebook run` already sends (normally multicast) and starts from its
snapshot service, so serving WebSocket clients costs the exchange process
nothing at all: the books are rebuilt in the edge's process. A gap in the
feed (a lost datagram) is repaired by taking a new snapshot; datagrams that
arrive meanwhile are kept and applied after it. A datagram that is not a
downstream packet of the session is counted in `refused` and dropped.
"""

import asyncio
import logging
from collections import Counter

from gatebook.dpdk_bridge.udp import SocketUdp
from gatebook.wire.codec import WireError

from .depth import DepthBook
from .snapshot import decode_snapshot
from .snapshot_server import read_snapshot

__all__ = ["MoldSource"]

_log = logging.getLogger("gatebook.marketdata")
# Datagrams kept while a snapshot is taken; past it the oldest go (the snapshot covers them).
PENDING_PACKETS = 65536


class MoldSource:
    """Symbol states kept from a MoldUDP64 feed and its snapshot service.

    Parameters
    ----------
    feed : (ip, port)
        Where the feed arrives: a multicast group (joined on `interface`) or
        a unicast address of this host.
    snapshot : (ip, port)
        The exchange's snapshot service (`gatebook run --md-snapshot`).
    interface : str
        The local address multicast is received on.

    Attributes
    ----------
    symbols : dict
        Name -> SymbolDepth.
    snapshots : int
        Snapshots taken (the first, then one per gap).
    refused : Counter
        Datagrams dropped, by reason.
    """

    def __init__(self, feed, snapshot, interface="127.0.0.1"):
        group = feed[0] if _is_multicast(feed[0]) else None
        self.socket = SocketUdp(interface if group else feed[0], feed[1], group=group)
        self.snapshot_address = snapshot
        self.book = DepthBook()
        self.symbols = self.book.by_name
        self.snapshots = 0
        self.refused = Counter()
        self._pending = []
        self._syncing = False
        self._changed = None

    async def prepare(self):
        """Start listening, then take the first snapshot (datagrams meanwhile are kept)."""
        loop = asyncio.get_running_loop()
        loop.add_reader(self.socket.sock, self._readable)
        await self._resync()

    def start(self, loop, changed):
        self._changed = changed
        self._notify()

    def _readable(self):
        for packet, _ in self.socket.recv(256):
            if self._syncing:
                if len(self._pending) < PENDING_PACKETS:
                    self._pending.append(packet)
                continue
            self._apply(packet)
        self._notify()

    def _apply(self, packet):
        try:
            if not self.book.apply_packet(packet):
                self._syncing = True
                self._pending.append(packet)
                asyncio.get_running_loop().create_task(self._resync())
        except WireError:
            self.refused["not_moldudp64"] += 1

    async def _resync(self):
        """Take a snapshot, then apply what arrived since (older messages are skipped)."""
        self._syncing = True
        loop = asyncio.get_running_loop()
        while True:
            try:
                stream = await loop.run_in_executor(None, read_snapshot, self.snapshot_address)
                records, next_sequence = decode_snapshot(stream)
                break
            except (OSError, WireError, ValueError) as failure:
                _log.warning("snapshot from %s:%d failed (%s); again in 1 s",
                             *self.snapshot_address, failure)
                await asyncio.sleep(1.0)
        self.snapshots += 1
        self.book.load(records, next_sequence)
        pending, self._pending = self._pending, []
        self._syncing = False
        for packet in pending:
            if self._syncing:                     # another gap: the new snapshot covers it
                self._pending.append(packet)
            else:
                self._apply(packet)
        self._notify()

    def _notify(self):
        book = self.book
        if book.changed and self._changed is not None:
            names = [book.symbols[locate].name for locate in book.changed]
            book.changed.clear()
            self._changed(names)

    def close(self):
        try:
            asyncio.get_running_loop().remove_reader(self.socket.sock)
        except RuntimeError:
            pass
        self.socket.close()


def _is_multicast(ip):
    first = int(ip.split(".")[0]) if ip.split(".")[0].isdigit() else 0
    return 224 <= first <= 239
