"""A market-data subscriber for tests, written from the specs, reading ITCH with itchfeed.

`PeerBook` builds a full-depth book from ITCH 5.0 messages as the independent
parser `itchfeed` (PyPI; `itch.parser.MessageParser`) decodes them, not with
Gatebook's codec or ItchBook. `Subscriber` reads MoldUDP64 (parsed by hand,
as the spec lays it out), drops a share of the data packets on purpose, and
asks the re-request server for every gap. `peer_snapshot` reads the snapshot
service's stream. Used by tests/test_md_recovery.py and tests/test_md_run.py.
"""

import random
import time

from gatebook.dpdk_bridge.udp import SocketUdp
from gatebook.wire.enums import Side
from gatebook.host.marketdata.request_server import request_packet
from gatebook.host.symbols import DEFAULT_SYMBOLS

from itch.parser import MessageParser

__all__ = ["PeerBook", "Subscriber", "assert_same_book", "peer_snapshot", "SESSION"]

SESSION = "GATEBOOK01"
_PARSER = MessageParser()


class PeerBook:
    """A full-depth book from ITCH messages as itchfeed parses them."""

    def __init__(self):
        self.orders = {}          # ref -> [locate, side (b"B"/b"S"), price, shares], arrival order
        self.names = {}

    def apply(self, payload):
        message = _PARSER.get_message_type(payload)
        kind = message.message_type
        if kind in (b"A", b"F"):
            assert message.order_reference_number not in self.orders
            self.orders[message.order_reference_number] = [
                message.stock_locate, message.buy_sell_indicator, message.price, message.shares]
        elif kind in (b"E", b"C", b"X"):
            taken = message.cancelled_shares if kind == b"X" else message.executed_shares
            order = self.orders[message.order_reference_number]
            assert 0 < taken <= order[3]
            order[3] -= taken
            if not order[3]:
                del self.orders[message.order_reference_number]
        elif kind == b"D":
            del self.orders[message.order_reference_number]
        elif kind == b"U":
            locate, side, _, _ = self.orders.pop(message.order_reference_number)
            self.orders[message.new_order_reference_number] = [
                locate, side, message.price, message.shares]
        elif kind == b"R":
            self.names[message.stock_locate] = message.stock.decode("ascii").strip()

    def orders_at(self, locate, side):
        levels = {}
        for order_locate, order_side, price, shares in self.orders.values():
            if (order_locate, order_side) == (locate, side):
                levels.setdefault(price, []).append(shares)
        return [(price, levels[price]) for price in sorted(levels, reverse=side == b"B")]


def assert_same_book(peer, engine):
    for symbol, book in engine.books.items():
        for side, letter in ((Side.BUY, b"B"), (Side.SELL, b"S")):
            expected = [(price, [order.qty for order in orders])
                        for price, orders in book.orders_at(side)]
            assert peer.orders_at(symbol, letter) == expected, (symbol, side)
    assert peer.names == {spec.symbol_id: spec.name for spec in DEFAULT_SYMBOLS}


def _mold(packet):
    """(session, first sequence, [message bytes], count field) parsed by hand, as a
    subscriber written from the MoldUDP64 spec would."""
    session = packet[:10].decode("ascii").rstrip()
    sequence, count = int.from_bytes(packet[10:18], "big"), int.from_bytes(packet[18:20], "big")
    messages, position = [], 20
    for _ in range(count if count != 0xFFFF else 0):
        length = int.from_bytes(packet[position:position + 2], "big")
        messages.append(packet[position + 2:position + 2 + length])
        position += 2 + length
    return session, sequence, messages, count


class Subscriber:
    """Reads the feed, drops `loss` of the data packets on purpose, and asks
    `request_server` for every gap it sees.

    The feed arrives on its own socket (`address`), or, with `group`, on a
    socket joined to that multicast group (port `group[1]`); requests always
    leave from the own socket, where the answers come back.
    """

    def __init__(self, request_server, loss=0.0, seed=0, next_sequence=1, group=None):
        self.sock = SocketUdp("127.0.0.1", 0)
        self.address = self.sock.address
        self.feed = SocketUdp("127.0.0.1", group[1], group=group[0]) if group else None
        self.request_server, self.loss, self.rng = request_server, loss, random.Random(seed)
        self.book = PeerBook()
        self.next_sequence = next_sequence
        self.pending = {}         # sequence -> message bytes that arrived ahead of a gap
        self.announced = 0        # the highest next sequence a packet announced
        self.sessions = set()
        self.dropped = self.requests = 0
        self._asked = 0.0

    def poll(self):
        for sock in (self.sock, self.feed) if self.feed else (self.sock,):
            for packet, source in sock.recv(256):
                self._packet(packet, retransmitted=source == self.request_server)
        while self.next_sequence in self.pending:
            self.book.apply(self.pending.pop(self.next_sequence))
            self.next_sequence += 1
        self._ask_for_gaps()

    def _packet(self, packet, retransmitted):
        session, sequence, messages, count = _mold(packet)
        self.sessions.add(session)
        if messages and not retransmitted and self.rng.random() < self.loss:
            self.dropped += 1
            return
        # A heartbeat or an end of session announces the next sequence number.
        self.announced = max(self.announced, sequence + len(messages))
        for offset, message in enumerate(messages):
            if sequence + offset >= self.next_sequence:
                self.pending[sequence + offset] = message

    def want(self, next_sequence):
        """Ask for everything before `next_sequence` (learnt elsewhere: a snapshot)."""
        self.announced = max(self.announced, next_sequence)

    def _ask_for_gaps(self):
        if self.announced > self.next_sequence and time.monotonic() - self._asked > 0.05:
            end = min((s for s in self.pending if s > self.next_sequence),
                      default=self.announced)
            self.sock.send([(request_packet(SESSION, self.next_sequence,
                                            min(end - self.next_sequence, 0xFFFF)),
                             self.request_server)])
            self.requests += 1
            self._asked = time.monotonic()

    def caught_up(self, next_sequence):
        return self.next_sequence == next_sequence and not self.pending

    def close(self):
        self.sock.close()
        if self.feed:
            self.feed.close()


def peer_snapshot(data):
    """Books and the sequence to continue from, parsed from the snapshot stream with itchfeed
    (each message BinaryFILE-framed; the last is GLIMPSE's End of Snapshot, 'G')."""
    book, position, sequence = PeerBook(), 0, None
    while position < len(data):
        length = int.from_bytes(data[position:position + 2], "big")
        message = data[position + 2:position + 2 + length]
        position += 2 + length
        if message[:1] == b"G":
            sequence = int(message[1:].decode("ascii"))
            assert position == len(data)
        else:
            book.apply(message)
    return book, sequence
