"""Subscribers that lose packets or join late rebuild the engine's book exactly.

The subscribers here read the feed with the independent parser `itchfeed`
(PyPI; `itch.parser.MessageParser`), not with Gatebook's codec or ItchBook: a
lossy one asks the re-request server for every gap, a late one starts from
the snapshot service and goes on from the sequence number it names. Real UDP
and TCP sockets on loopback throughout.
"""

import random
import time

import pytest

from gatebook.dpdk_bridge.udp import SocketUdp
from gatebook.wire.enums import Side
from gatebook.host.engine import MatchingEngine
from gatebook.host.flow import FlowMix, generate_flow
from gatebook.host.marketdata.itch_feed import ItchFeed
from gatebook.host.marketdata.publisher import MoldPublisher
from gatebook.host.marketdata.request_server import request_packet
from gatebook.host.marketdata.service import RecoveryService
from gatebook.host.marketdata.snapshot_server import read_snapshot
from gatebook.host.symbols import DEFAULT_SYMBOLS

itch_parser = pytest.importorskip("itch.parser", reason="itchfeed (the peer ITCH parser) "
                                  "is not installed: pip install -e '.[test]'")

START = 1_700_000_000_000_000_000
SESSION = "GATEBOOK01"
_PARSER = itch_parser.MessageParser()


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
    """Reads the feed on its own socket, drops `loss` of the data packets on
    purpose, and asks `request_server` for every gap it sees."""

    def __init__(self, request_server, loss=0.0, seed=0, next_sequence=1):
        self.sock = SocketUdp("127.0.0.1", 0)
        self.address = self.sock.address
        self.request_server, self.loss, self.rng = request_server, loss, random.Random(seed)
        self.book = PeerBook()
        self.next_sequence = next_sequence
        self.pending = {}         # sequence -> message bytes that arrived ahead of a gap
        self.session_end = None   # the next sequence an end of session announced
        self.dropped = self.requests = 0
        self._asked = 0.0

    def poll(self):
        for packet, source in self.sock.recv(256):
            session, sequence, messages, count = _mold(packet)
            assert session == SESSION
            retransmitted = source == self.request_server
            if messages and not retransmitted and self.rng.random() < self.loss:
                self.dropped += 1
                continue
            if count == 0xFFFF:
                self.session_end = sequence
            for offset, message in enumerate(messages):
                if sequence + offset >= self.next_sequence:
                    self.pending[sequence + offset] = message
        while self.next_sequence in self.pending:
            self.book.apply(self.pending.pop(self.next_sequence))
            self.next_sequence += 1
        self._ask_for_gaps()

    def _ask_for_gaps(self):
        seen = max(self.pending, default=0) + 1
        end = max(seen, self.session_end or 0)
        if end > self.next_sequence and time.monotonic() - self._asked > 0.05:
            missing = min(end, min((s for s in self.pending if s > self.next_sequence),
                                   default=end)) - self.next_sequence
            self.sock.send([(request_packet(SESSION, self.next_sequence, missing),
                             self.request_server)])
            self.requests += 1
            self._asked = time.monotonic()

    def caught_up(self, next_sequence):
        return self.next_sequence == next_sequence and not self.pending

    def close(self):
        self.sock.close()


def _peer_snapshot(data):
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


class Rig:
    """Engine -> ItchFeed -> MoldPublisher -> UDP to every subscriber, with the
    recovery service on its own thread."""

    def __init__(self):
        self.engine = MatchingEngine(DEFAULT_SYMBOLS)
        self.records = []
        self.feed = ItchFeed(DEFAULT_SYMBOLS, self.records.extend)
        self.engine.subscribe(self.feed)
        self.sender = SocketUdp()
        self.destinations = []
        self.publisher = MoldPublisher(SESSION, self._send, store_messages=200_000)
        self.service = RecoveryService(self.publisher, request=("127.0.0.1", 0),
                                       snapshot=("127.0.0.1", 0))
        self.publisher.publish(self.feed.start_of_day(START))

    def _send(self, packets):
        return self.sender.send([(packet, destination) for destination in self.destinations
                                 for packet in packets])

    def run(self, commands, subscribers, burst=16):
        for index, command in enumerate(commands, 1):
            self.engine.apply(command)
            if index % burst == 0:
                self.publisher.publish(self.records)
                self.records.clear()
                for subscriber in subscribers:
                    subscriber.poll()
        self.publisher.publish(self.records)
        self.records.clear()

    def settle(self, subscribers, seconds=20):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for subscriber in subscribers:
                subscriber.poll()
            if all(s.caught_up(self.publisher.next_sequence) for s in subscribers):
                return
            time.sleep(0.002)
        raise AssertionError([(s.next_sequence, len(s.pending)) for s in subscribers]
                             + [self.publisher.next_sequence])

    def close(self):
        self.service.close()
        self.sender.close()


def test_a_lossy_subscriber_and_a_late_joiner_rebuild_the_engines_book():
    rig = Rig()
    flow = list(generate_flow(6000, seed=12, mix=FlowMix(replace=0.15, stop=0.03)))
    request_server = rig.service.requests.address
    lossy = Subscriber(request_server, loss=0.2, seed=3)
    steady = Subscriber(request_server)
    late = Subscriber(request_server)
    try:
        rig.destinations += [lossy.address, steady.address]
        rig.run(flow[:3000], [lossy, steady])
        # A late joiner: listens first, then takes the snapshot, then applies the
        # feed from the sequence number the snapshot names.
        rig.destinations.append(late.address)
        late.book, late.next_sequence = _peer_snapshot(read_snapshot(rig.service.snapshots.address))
        assert 1 < late.next_sequence <= rig.publisher.next_sequence
        assert late.book.orders, "the snapshot shows no resting order"
        subscribers = [lossy, steady, late]
        rig.run(flow[3000:], subscribers)
        rig.publisher.end_session()              # announces the last sequence number
        rig.settle(subscribers)
        for subscriber in subscribers:
            assert_same_book(subscriber.book, rig.engine)
        assert lossy.dropped > 50 and lossy.requests > 10
        assert rig.service.requests.answered["retransmitted"] >= lossy.requests // 2
        assert not rig.service.requests.refused and not rig.service.errors
        assert rig.service.snapshots.served["snapshots"] == 1
    finally:
        for subscriber in (lossy, steady, late):
            subscriber.close()
        rig.close()
