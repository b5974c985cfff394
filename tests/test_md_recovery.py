"""Subscribers that lose packets or join late rebuild the engine's book exactly.

The subscribers here read the feed with the independent parser `itchfeed`
(PyPI; `itch.parser.MessageParser`), not with Gatebook's codec or ItchBook: a
lossy one asks the re-request server for every gap, a late one starts from
the snapshot service and goes on from the sequence number it names. Real UDP
and TCP sockets on loopback throughout.
"""

import time

import pytest

from gatebook.dpdk_bridge.udp import SocketUdp
from gatebook.host.engine import MatchingEngine
from gatebook.host.flow import FlowMix, generate_flow
from gatebook.host.marketdata.itch_feed import ItchFeed
from gatebook.host.marketdata.publisher import MoldPublisher
from gatebook.host.marketdata.service import RecoveryService
from gatebook.host.marketdata.snapshot_server import read_snapshot
from gatebook.host.symbols import DEFAULT_SYMBOLS

pytest.importorskip("itch.parser", reason="itchfeed (the peer ITCH parser) is not installed: "
                    "pip install -e '.[test]'")

from md_subscriber import SESSION, Subscriber, assert_same_book, peer_snapshot  # noqa: E402

START = 1_700_000_000_000_000_000


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
        late.book, late.next_sequence = peer_snapshot(read_snapshot(rig.service.snapshots.address))
        assert 1 < late.next_sequence <= rig.publisher.next_sequence
        assert late.book.orders, "the snapshot shows no resting order"
        subscribers = [lossy, steady, late]
        rig.run(flow[3000:], subscribers)
        rig.publisher.end_session()              # announces the last sequence number
        rig.settle(subscribers)
        for subscriber in subscribers:
            assert_same_book(subscriber.book, rig.engine)
            assert subscriber.sessions == {SESSION}
        assert lossy.dropped > 50 and lossy.requests > 10
        assert rig.service.requests.answered["retransmitted"] >= lossy.requests // 2
        assert not rig.service.requests.refused and not rig.service.errors
        assert rig.service.snapshots.served["snapshots"] == 1
    finally:
        for subscriber in (lossy, steady, late):
            subscriber.close()
        rig.close()
