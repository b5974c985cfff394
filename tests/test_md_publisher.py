"""The MoldUDP64 publisher and its re-request server, over real UDP sockets on loopback."""

import socket
import time

import pytest

from gatebook.dpdk_bridge.udp import SocketUdp
from gatebook.wire import itch50, mold
from gatebook.wire.codec import ProtocolCodec, WireError
from gatebook.host.clock import ManualClock
from gatebook.host.engine import MatchingEngine
from gatebook.host.flow import generate_flow
from gatebook.host.marketdata.itch_feed import ItchFeed
from gatebook.host.marketdata.publisher import MAX_PAYLOAD, MoldPublisher
from gatebook.host.marketdata.request_server import RequestServer, request_packet
from gatebook.host.symbols import DEFAULT_SYMBOLS

ITCH = ProtocolCodec(itch50.ITCH50)
START = 1_700_000_000_000_000_000


def published(commands=3000, seed=4, store_messages=100_000):
    """A publisher fed by a seeded flow; returns (publisher, packets it sent)."""
    sent = []
    publisher = MoldPublisher("GATEBOOK01", lambda packets: sent.extend(packets) or len(packets),
                              store_messages=store_messages)
    records = []
    engine = MatchingEngine(DEFAULT_SYMBOLS)
    feed = ItchFeed(DEFAULT_SYMBOLS, records.extend)
    engine.subscribe(feed)
    publisher.publish(feed.start_of_day(START))
    for index, command in enumerate(generate_flow(commands, seed=seed), 1):
        engine.apply(command)
        if index % 16 == 0 and records:          # a burst's worth at a time, as the exchange does
            publisher.publish(records)
            records.clear()
    publisher.publish(records)
    return publisher, sent


def messages_of(packets):
    """{sequence number: message bytes} of downstream packets."""
    out = {}
    for packet in packets:
        parsed = mold.parse(packet)
        for offset, message in enumerate(parsed.messages):
            out[parsed.sequence_number + offset] = message
    return out


def test_packets_fit_the_mtu_and_number_every_message_once():
    publisher, sent = published()
    assert all(len(packet) <= mold.HEADER_SIZE + MAX_PAYLOAD for packet in sent)
    numbered = messages_of(sent)
    assert sorted(numbered) == list(range(1, publisher.next_sequence))
    assert publisher.messages == len(numbered) and publisher.packets == len(sent)
    assert {mold.parse(packet).session for packet in sent} == {"GATEBOOK01"}


def test_the_store_sends_again_the_very_bytes_sent_and_forgets_beyond_its_size():
    publisher, sent = published(store_messages=500)
    numbered = messages_of(sent)
    last = publisher.next_sequence - 1
    packets, count = publisher.retransmission(last - 499, 700)
    assert count == 500 and messages_of(packets) == {seq: numbered[seq]
                                                     for seq in range(last - 499, last + 1)}
    assert all(len(packet) <= mold.HEADER_SIZE + MAX_PAYLOAD for packet in packets)
    for gone in (1, last - 500, last + 1, last + 10**9):
        (answer,), count = publisher.retransmission(gone, 10)
        parsed = mold.parse(answer)
        assert count == 0 and parsed.is_heartbeat and parsed.sequence_number == last + 1


def test_after_end_of_session_nothing_is_published_and_requests_still_work():
    publisher, sent = published(commands=200)
    end = publisher.next_sequence
    publisher.end_session()
    assert mold.parse(sent[-1]).is_end_of_session and mold.parse(sent[-1]).sequence_number == end
    with pytest.raises(WireError):
        publisher.publish(ItchFeed(DEFAULT_SYMBOLS, print).end_of_day(START))
    assert publisher.retransmission(end - 3, 3)[1] == 3
    (answer,), _ = publisher.retransmission(end, 3)
    assert mold.parse(answer).is_end_of_session


def test_a_session_name_is_what_the_header_can_carry():
    for bad in ("", "ELEVENCHARS", "CAFÉ", "TAB\tNAME", 7):
        with pytest.raises(ValueError):
            MoldPublisher(bad, len)


def _exchange(client, server, request, seconds=2.0):
    """Send `request` from `client`; the datagrams that come back."""
    client.send([(request, server.address)])
    got, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        server.serve()
        got += [payload for payload, _ in client.recv(64)]
        if got and time.monotonic() > deadline - seconds + 0.2:
            break
    return got


def test_the_request_server_answers_over_udp_and_refuses_hostile_requests_by_kind():
    publisher, sent = published()
    numbered = messages_of(sent)
    server = RequestServer(publisher, max_messages=300)
    try:
        with SocketUdp() as client:
            good = _exchange(client, server, request_packet("GATEBOOK01", 40, 25))
            assert messages_of(good) == {seq: numbered[seq] for seq in range(40, 65)}
            hostile = [request_packet("GATEBOOK01", 40, 25)[:-1],        # truncated
                       request_packet("GATEBOOK01", 40, 25) + b"\x00",   # too long
                       b"", b"\xff" * 20,                                 # empty, not ASCII
                       request_packet("OTHERSESS", 40, 25),
                       request_packet("GATEBOOK01", 0, 25),
                       request_packet("GATEBOOK01", 40, 0)]
            # All sent at once, then 0.3 s of silence: none of them is answered (one wait,
            # not one per datagram); the counters below show each was refused.
            client.send([(datagram, server.address) for datagram in hostile])
            answered, deadline = [], time.monotonic() + 0.3
            while time.monotonic() < deadline:
                server.serve()
                answered += client.recv(64)
            assert answered == []
            assert server.refused == {"malformed": 4, "wrong_session": 1, "bad_sequence": 1,
                                      "empty_request": 1}
            huge = _exchange(client, server, request_packet("GATEBOOK01", 1, 0xFFFF))
            assert sorted(messages_of(huge)) == list(range(1, 301))      # capped per request
            ahead = _exchange(client, server, request_packet("GATEBOOK01", 10**12, 5))
            assert len(ahead) == 1 and mold.parse(ahead[0]).is_heartbeat
            assert mold.parse(ahead[0]).sequence_number == publisher.next_sequence
            assert server.answered == {"retransmitted": 2, "not_in_store": 1, "messages": 325}
    finally:
        server.close()


def test_each_source_is_rate_limited_and_refills_with_time():
    publisher, _ = published(commands=500)
    clock = ManualClock(start=0, step=0)
    server = RequestServer(publisher, max_messages=100, messages_per_second=250, clock=clock)
    ask = request_packet("GATEBOOK01", 1, 100)
    try:
        for _ in range(3):
            server.handle(ask, ("127.0.0.1", 40000))
        server.handle(ask, ("127.0.0.1", 40001))      # the same address, another port
        assert server.answered["messages"] == 250 and server.refused == {"rate_limited": 1}
        server.handle(ask, ("127.0.0.2", 40000))       # another source has its own bucket
        assert server.answered["messages"] == 350
        clock.advance(200_000_000)                     # 0.2 s: 50 more messages
        server.handle(ask, ("127.0.0.1", 40000))
        assert server.answered["messages"] == 400
        for source in (("0.0.0.0", 5), ("127.0.0.1", 0), ("239.1.2.3", 5), ("nonsense", 5)):
            server.handle(ask, source)
        assert server.refused["bad_source"] == 4
    finally:
        server.close()


def test_a_flood_of_forged_sources_keeps_the_rate_table_bounded_and_the_total_capped():
    publisher, _ = published(commands=50)
    server = RequestServer(publisher, max_sources=64, clock=ManualClock(0, 0),
                           total_messages_per_second=900)
    try:
        for number in range(1000):
            source = (f"10.0.{number // 250}.{number % 250 + 1}", 9)
            server.handle(request_packet("GATEBOOK01", 1, 1), source)
        assert server.tracked_sources == 64
        assert server.answered["retransmitted"] == 900 and server.refused == {"server_busy": 100}
    finally:
        server.close()


def test_the_server_survives_a_burst_of_garbage_on_its_socket():
    publisher, sent = published(commands=100)
    server = RequestServer(publisher)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
            for size in (1, 19, 20, 21, 9000):
                raw.sendto(b"\x5a" * size, server.address)
        with SocketUdp() as client:
            answer = _exchange(client, server, request_packet("GATEBOOK01", 1, 3))
        assert sorted(messages_of(answer)) == [1, 2, 3]
        assert server.refused == {"malformed": 4, "wrong_session": 1}
    finally:
        server.close()


def test_a_heartbeat_announces_the_next_sequence_number():
    publisher, sent = published(commands=100)
    publisher.send_heartbeat()
    heartbeat = mold.parse(sent[-1])
    assert heartbeat.is_heartbeat and heartbeat.sequence_number == publisher.next_sequence


def test_the_config_names_where_subscribers_recover_and_refuses_them_without_a_feed():
    from gatebook.host.config import ConfigError, check_config, parse_config
    config = parse_config('[sessions]\naccounts = "a.json"\n[market_data]\n'
                          'destination = "239.192.26.1:26400"\nrequest = "127.0.0.1:26401"\n'
                          'snapshot = ":26402"\nstore_messages = 5000\n')
    check_config(config)
    md = config.market_data
    assert (md.request, md.snapshot, md.store_messages) == (
        ("127.0.0.1", 26401), ("127.0.0.1", 26402), 5000)
    for bad in ('request = "nowhere"', "store_messages = 0", "snapshot = 7"):
        with pytest.raises(ConfigError, match=r"\[market_data\]"):
            parse_config(f"[market_data]\n{bad}\n")
    with pytest.raises(ConfigError, match="need --md"):
        check_config(parse_config('[sessions]\naccounts = "a.json"\n[market_data]\n'
                                  'destination = "none"\nrequest = "127.0.0.1:26401"\n'))


def test_a_quiet_feed_sends_heartbeats_from_the_service_thread():
    from gatebook.host.marketdata.service import RecoveryService
    clock = ManualClock(start=0, step=0)
    sent = []
    publisher = MoldPublisher("GATEBOOK01", lambda packets: sent.extend(packets) or len(packets),
                              clock=clock)
    publisher.publish(ItchFeed(DEFAULT_SYMBOLS, list).start_of_day(START))
    assert publisher.heartbeat_if_quiet(1_000_000_000) is None      # it just sent
    clock.advance(1_000_000_000)
    beat = mold.parse(publisher.heartbeat_if_quiet(1_000_000_000))
    assert beat.is_heartbeat and beat.sequence_number == publisher.next_sequence
    assert publisher.heartbeat_if_quiet(1_000_000_000) is None      # one a second
    publisher.end_session()
    clock.advance(5_000_000_000)
    ended = mold.parse(publisher.heartbeat_if_quiet(1_000_000_000))  # in place of heartbeats
    assert ended.is_end_of_session and ended.sequence_number == publisher.next_sequence

    live = MoldPublisher("GATEBOOK01", len)
    live.publish(ItchFeed(DEFAULT_SYMBOLS, list).start_of_day(START))
    with SocketUdp("127.0.0.1", 0) as subscriber:
        service = RecoveryService(live, heartbeat=("127.0.0.1", subscriber.address),
                                  heartbeat_seconds=0.05)
        try:
            got, deadline = [], time.monotonic() + 5
            while len(got) < 3 and time.monotonic() < deadline:
                got += [mold.parse(payload) for payload, _ in subscriber.recv(16)]
                time.sleep(0.01)
        finally:
            service.close()
    assert len(got) >= 3 and all(p.is_heartbeat and p.sequence_number == live.next_sequence
                                 for p in got)
    assert service.heartbeats >= 3


def test_no_datagram_makes_the_request_server_raise():
    import random
    rng = random.Random(12)
    publisher, _ = published(commands=50)
    server = RequestServer(publisher, clock=ManualClock(0, 0))
    try:
        good = request_packet("GATEBOOK01", 1, 3)
        datagrams = [bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 19, 20, 21, 64))))
                     for _ in range(2000)]
        # Mutations of a valid request: every byte position, every kind of refusal.
        datagrams += [good[:i] + bytes([rng.randrange(256)]) + good[i + 1:] for i in range(20)
                      for _ in range(25)]
        for number, datagram in enumerate(datagrams):
            server.handle(datagram, (f"10.1.{number % 200}.{number % 250 + 1}", 1000 + number))
        handled = sum(server.refused.values()) + server.answered["retransmitted"] \
            + server.answered["not_in_store"]
        assert handled == len(datagrams) and server.refused["malformed"] > 1500
    finally:
        server.close()


def test_after_the_end_of_session_the_service_lingers_for_the_last_re_requests():
    from gatebook.host.marketdata.service import RecoveryService
    publisher, _ = published(commands=100)
    with SocketUdp("127.0.0.1", 0) as subscriber:
        service = RecoveryService(publisher, request=("127.0.0.1", 0),
                                  heartbeat=("127.0.0.1", subscriber.address),
                                  heartbeat_seconds=0.05, linger_seconds=0.5)
        publisher.end_session()
        subscriber.send([(request_packet("GATEBOOK01", 1, 4), service.requests.address)])
        started = time.monotonic()
        service.close()                 # serves on for the linger: the spec's last chance
        lingered = time.monotonic() - started
        got = [(mold.parse(payload), source) for payload, source in subscriber.recv(64)]
    again = [packet for packet, source in got if source == service.requests.address]
    assert [p.sequence_number for p in again] == [1] and len(again[0].messages) == 4
    ends = [packet for packet, source in got if source != service.requests.address]
    assert ends and all(p.is_end_of_session for p in ends)
    assert lingered >= 0.45
