"""The snapshot service over real TCP on loopback: whole snapshots, and hostile clients cut."""

import socket

import pytest

from gatebook.wire import itch50
from gatebook.wire.codec import WireError
from gatebook.host.marketdata.itch_feed import ItchFeed
from gatebook.host.marketdata.publisher import MoldPublisher
from gatebook.host.marketdata.service import RecoveryService
from gatebook.host.marketdata.snapshot import decode_snapshot, encode_snapshot
from gatebook.host.marketdata.snapshot_server import read_snapshot
from gatebook.host.symbols import DEFAULT_SYMBOLS

from waiting import wait_for

START = 1_700_000_000_000_000_000


def _publisher_with(orders):
    """A publisher whose book holds `orders` resting buy orders of the first symbol."""
    publisher = MoldPublisher("GATEBOOK01", len)
    publisher.publish(ItchFeed(DEFAULT_SYMBOLS, list).start_of_day(START))
    spec = DEFAULT_SYMBOLS[0]
    fields = {"stock_locate": spec.symbol_id, "tracking_number": 0, "timestamp": 5,
              "side": itch50.BUY, "shares": 100, "stock": spec.name, "price": 100_0000}
    for first in range(1, orders + 1, 10_000):
        publisher.publish([(itch50.ADD_ORDER.code,) + tuple(
            dict(fields, order_ref=ref)[name] for name in itch50.ADD_ORDER.field_names)
            for ref in range(first, min(first + 10_000, orders + 1))])
    return publisher


def _connect(address, receive_buffer=None):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect(address)
    return sock


def test_a_snapshot_is_the_book_and_the_sequence_number_taken_together():
    publisher = _publisher_with(25)
    service = RecoveryService(publisher, snapshot=("127.0.0.1", 0))
    try:
        records, next_sequence = decode_snapshot(read_snapshot(service.snapshots.address))
    finally:
        service.close()
    kinds = [itch50.ITCH50.by_code()[record[0]].name for record in records]
    assert kinds == (["system_event"] * 3 + ["stock_directory"] * len(DEFAULT_SYMBOLS)
                     + ["stock_trading_action"] * len(DEFAULT_SYMBOLS) + ["add_order"] * 25)
    assert next_sequence == publisher.next_sequence == 3 + 2 * len(DEFAULT_SYMBOLS) + 25 + 1
    assert service.snapshots.served == {"snapshots": 1, "orders": 25}


def test_a_cut_or_forged_snapshot_stream_is_refused_with_a_reason():
    publisher = _publisher_with(3)
    data = encode_snapshot(*publisher.snapshot())
    assert decode_snapshot(data)[1] == publisher.next_sequence
    for cut in range(len(data)):
        with pytest.raises(WireError):
            decode_snapshot(data[:cut])
    with pytest.raises(WireError, match="after End of Snapshot"):
        decode_snapshot(data + b"\x00\x01S")
    with pytest.raises(WireError, match="message at offset"):
        decode_snapshot(b"\xff\xff" + b"A" * 100)
    with pytest.raises(WireError, match="not a number"):
        decode_snapshot(b"\x00\x15G" + b"x" * 20)


def test_slow_busy_and_talkative_clients_are_cut_and_the_service_goes_on():
    publisher = _publisher_with(30_000)          # ~1.1 MB: more than the socket buffers hold
    service = RecoveryService(publisher, snapshot=("127.0.0.1", 0), snapshot_options=dict(
        max_clients=1, deadline_seconds=1.0, max_input=1000))
    server = service.snapshots
    try:
        slow = _connect(server.address, receive_buffer=4096)    # connects, never reads
        wait_for(lambda: len(server.clients) == 1, "the slow client is being served")
        with _connect(server.address) as busy:
            busy.settimeout(5)
            assert busy.recv(100) == b""                        # closed at once: one at a time
        wait_for(lambda: server.refused["too_slow"] == 1, "the slow client is cut", seconds=10)
        slow.close()
        with _connect(server.address) as talkative:
            talkative.sendall(b"x" * 5000)
            wait_for(lambda: server.refused["talkative"] == 1, "the talkative client is cut")
        records, next_sequence = decode_snapshot(read_snapshot(server.address))
        assert len(records) == 3 + 2 * len(DEFAULT_SYMBOLS) + 30_000
        assert server.refused == {"busy": 1, "too_slow": 1, "talkative": 1}
        assert server.served["snapshots"] == 1 and not service.errors
    finally:
        service.close()


def test_snapshots_are_rate_limited_and_the_limit_refills():
    from gatebook.host.clock import ManualClock
    publisher = _publisher_with(5)
    clock = ManualClock(0, 0)
    service = RecoveryService(publisher, snapshot=("127.0.0.1", 0),
                              snapshot_options=dict(per_second=2, clock=clock))
    server = service.snapshots
    try:
        got = [read_snapshot(server.address) for _ in range(4)]
        assert [bool(data) for data in got] == [True, True, False, False]  # two, then closed
        clock.advance(500_000_000)                                          # one more token
        assert decode_snapshot(read_snapshot(server.address))[1] == publisher.next_sequence
        assert server.refused == {"rate_limited": 2} and server.served["snapshots"] == 3
    finally:
        service.close()
