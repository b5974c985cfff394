"""The WebSocket market-data feed: books that match the engine, conflation, hostile clients.

A real server on a loopback port, fed as `gatebook run` feeds it: the golden
engine's events through the ITCH feed and the MoldUDP64 publisher, whose
packets pass the `FeedTap`. Clients are the `websockets` library's, or raw
sockets doing what no library would (tests/md_ws_clients.py).
"""

import json
import time

import pytest

from gatebook.host.config import ConfigError, check_config, parse_config
from gatebook.host.engine import MatchingEngine
from gatebook.host.flow import generate_flow
from gatebook.host.marketdata.feed_tap import FeedTap, LocalSource
from gatebook.host.marketdata.itch_feed import ItchFeed
from gatebook.host.marketdata.publisher import MoldPublisher
from gatebook.host.marketdata.depth import TRADES_KEPT
from gatebook.host.marketdata.websocket import MarketDataServer
from gatebook.host.marketdata.ws_hub import Hub, Subscriber
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.wire import internal
from gatebook.wire.enums import Side
from gatebook.wire.positions import CODE, INTERNAL

from md_ws_clients import Client, RawClient

START = 1_700_000_000_000_000_000
NAMES = {spec.symbol_id: spec.name for spec in DEFAULT_SYMBOLS}


class NullPort:
    """Where the feed's packets would go on (the test reads them from the tap)."""

    def send(self, datagrams):
        return len(datagrams)


class Market:
    """Engine, ITCH feed and publisher sending through a FeedTap, as the exchange does."""

    def __init__(self, tap_capacity=4096):
        self.tap = FeedTap(NullPort(), capacity=tap_capacity)
        self.publisher = MoldPublisher(
            "GATEBOOK01", lambda packets: self.tap.send([(packet, None) for packet in packets]))
        self.engine = MatchingEngine(DEFAULT_SYMBOLS)
        self.records = []
        feed = ItchFeed(DEFAULT_SYMBOLS, self.records.extend)
        self.engine.subscribe(feed)
        self.executions = {}                # symbol name -> executions, from the engine
        self.engine.subscribe(self._count)
        self.publisher.publish(feed.start_of_day(START))

    def trade(self, commands):
        """Apply `commands`, publishing after each (as a burst of one); return the seconds
        the publishing (the engine thread's share of the fanout) took at most, once."""
        slowest = 0.0
        for command in commands:
            self.engine.apply(command)
            if self.records:
                started = time.perf_counter()
                self.publisher.publish(self.records)
                slowest = max(slowest, time.perf_counter() - started)
                self.records.clear()
        return slowest

    def _count(self, events):
        for event in events:
            if event[CODE] == internal.EXECUTED.code:
                name = NAMES[event[INTERNAL.EXECUTED.symbol]]
                self.executions[name] = self.executions.get(name, 0) + 1

    def l2(self, symbol_id, levels):
        book = self.engine.books[symbol_id]
        return ([list(level) for level in book.depth(Side.BUY, levels)],
                [list(level) for level in book.depth(Side.SELL, levels)])


@pytest.fixture
def market():
    return Market()


@pytest.fixture
def server_of():
    servers = []

    def start(market, **options):
        server = MarketDataServer(LocalSource(market.tap, market.publisher), **options)
        servers.append(server)
        return server
    yield start
    for server in servers:
        server.close()


def _shows(market, symbol_id, levels):
    name = NAMES[symbol_id]

    def done(client):
        message = client.latest.get(("l2", name))
        return message is not None and (message["bids"], message["asks"]) == market.l2(
            symbol_id, levels)
    return done


def _shows_engine_book(market, levels):
    def done(client):
        for symbol_id, name in NAMES.items():
            message = client.latest.get(("l2", name))
            if message is None or (message["bids"], message["asks"]) != market.l2(symbol_id,
                                                                                  levels):
                return False
        return True
    return done


def test_every_symbol_l1_l2_and_trades_match_the_engine(market, server_of):
    server = server_of(market)
    client = Client(server.address)
    assert client.hello["symbols"] == sorted(NAMES.values())
    for name in NAMES.values():
        client.subscribe(name, depth=5)
    client.read(0.3)
    market.trade(generate_flow(3000, seed=4))
    client.read_until(_shows_engine_book(market, 5))
    for symbol_id, name in NAMES.items():
        bids, asks = market.l2(symbol_id, 1)
        l1 = client.latest["l1", name]
        assert (l1["bid"], l1["ask"]) == (bids[0] if bids else None, asks[0] if asks else None)
        # Every execution, once each, in match order (none missed: the client kept up).
        trades = client.trades.get(name, [])
        assert len(trades) == market.executions.get(name, 0)
        assert [trade["match"] for trade in trades] == sorted(trade["match"] for trade in trades)
        assert client.latest.get(("trades", name), {"missed": 0})["missed"] == 0
    assert sum(market.executions.values()) > 100
    client.close()
    assert server.cut == {} and server.refused == {}


def test_changes_a_subscriber_has_not_taken_are_conflated_into_the_latest(market):
    """However many changes come between two sends, one message per channel waits."""
    source = LocalSource(market.tap, market.publisher)
    hub = Hub(source.symbols)
    waiting = Subscriber(hub)
    waiting.subscribe("AAPL", frozenset({"l1", "l2", "trades"}), 3)
    first = waiting.take()
    assert [json.loads(text)["type"] for text in first] == ["l1", "l2"]
    flow = list(generate_flow(3000, seed=9))
    for start in range(0, 3000, 100):
        market.trade(flow[start:start + 100])
        source.drain()
        hub.changed([source.symbols["AAPL"].name])
    texts = [json.loads(text) for text in waiting.take()]
    assert [text["type"] for text in texts] == ["l1", "l2", "trades"]
    assert (texts[1]["bids"], texts[1]["asks"]) == market.l2(2, 3)
    trades = texts[2]
    assert trades["count"] == market.executions["AAPL"] > TRADES_KEPT
    assert len(trades["trades"]) == TRADES_KEPT
    assert trades["missed"] == market.executions["AAPL"] - TRADES_KEPT
    assert waiting.take() == []                      # nothing new: nothing to send
    waiting.close()
    assert hub.watchers == {}


def test_a_slow_reader_ends_with_the_latest_state(market, server_of):
    server = server_of(market)
    fast, slow = Client(server.address), Client(server.address)
    for client in (fast, slow):
        client.subscribe("AAPL", channels=["l2"], depth=3)
    flow = list(generate_flow(4000, seed=9))
    for start in range(0, 4000, 200):
        market.trade(flow[start:start + 200])
        fast.read(0.01)
    fast.read_until(_shows(market, 2, 3))
    slow.read_until(_shows(market, 2, 3))
    assert slow.latest["l2", "AAPL"]["seq"] == fast.latest["l2", "AAPL"]["seq"]
    for client in (fast, slow):
        client.close()


def test_a_client_that_never_reads_is_cut_and_slows_no_one(market, server_of):
    server = server_of(market, send_timeout=1.0, write_limit=4096, send_buffer=4096,
                       ping_interval=None)
    stuck = RawClient(server.address, receive_buffer=4096)
    assert stuck.status == 101
    for name in NAMES.values():
        stuck.frame(json.dumps({"op": "subscribe", "symbol": name, "depth": 50}))
    fast = Client(server.address)
    fast.subscribe("GATE", depth=5)
    slowest = 0.0
    flow = list(generate_flow(20_000, seed=14))
    deadline = time.monotonic() + 30
    while server.cut["slow"] == 0:
        assert time.monotonic() < deadline and flow, server.cut
        slowest = max(slowest, market.trade(flow[:100]))
        del flow[:100]
        fast.read(0.01)
    fast.read_until(_shows(market, 1, 5))
    # The engine thread only appends to the handoff: never a wait on a client.
    assert slowest < 0.05, slowest
    assert stuck.closed_by_server(5)
    stuck.close()
    fast.close()


def test_hostile_requests_are_refused_by_kind_and_the_server_goes_on(market, server_of):
    server = server_of(market, max_errors=6)
    client = Client(server.address)
    for bad, kind in (("{not json", "bad_json"), ("[1, 2]", "bad_json"),
                      ('{"op": "subscribe", "symbol": "NOPE"}', "unknown_symbol"),
                      ('{"op": "dance", "symbol": "AAPL"}', "bad_request"),
                      ('{"op": "subscribe", "symbol": "AAPL", "depth": 10000}', "bad_request"),
                      ("[" * 2000 + "]" * 2000, "bad_json")):
        client.ws.send(bad)
        answer, = client.read(1.0)
        assert answer == {"type": "error", "error": kind, "detail": answer["detail"]}, bad
    client.close()
    assert server.refused == {"bad_json": 3, "unknown_symbol": 1, "bad_request": 2}

    too_many = RawClient(server.address)            # one error past max_errors: cut
    for _ in range(8):
        too_many.frame("{")
    assert too_many.closed_by_server(5)
    huge = RawClient(server.address)
    huge.frame("x" * 100_000)
    assert huge.closed_by_server(5)
    binary = Client(server.address)
    binary.ws.send(b"\x00\x01")
    assert binary.read(1.0)[0]["error"] == "binary"
    binary.close()
    # Subscribing to a million symbols that do not exist, as fast as a socket takes it:
    # refused, then cut for the errors; nothing is kept per request.
    many = RawClient(server.address)
    many.send_bytes(b"".join(RawClient.encode(f'{{"op":"subscribe","symbol":"S{number}"}}',
                                              mask=bytes(4)) for number in range(1_000_000)))
    assert many.closed_by_server(10)
    # Valid requests, faster than `rate` a second: cut as a flood.
    flood = RawClient(server.address)
    flood.send_bytes(RawClient.encode('{"op":"subscribe","symbol":"AAPL","channels":["l1"]}',
                                      mask=bytes(4)) * 1000)
    assert flood.closed_by_server(10)
    deadline = time.monotonic() + 5
    while server.cut.keys() < {"errors", "too_large", "flood"} or server.cut["errors"] < 2:
        assert time.monotonic() < deadline, server.cut
        time.sleep(0.05)
    # After all of that, a client is served as before.
    good = Client(server.address)
    good.subscribe("MSFT")
    assert {message["type"] for message in good.read(1.0)} >= {"subscribed", "l1", "l2"}
    good.close()
    for raw in (too_many, huge, many, flood):
        raw.close()


def test_half_open_connections_and_too_many_clients_are_cut(market, server_of):
    server = server_of(market, ping_interval=0.5, ping_timeout=0.5, max_clients=3)
    silent = RawClient(server.address)          # never answers a ping, never reads
    others = [RawClient(server.address) for _ in range(2)]
    refused = RawClient(server.address)
    assert refused.status == 503
    assert server.cut["too_many_clients"] == 1
    assert silent.closed_by_server(10)
    deadline = time.monotonic() + 5
    while server.cut["ping_timeout"] < 3:
        assert time.monotonic() < deadline, server.cut
        time.sleep(0.05)
    assert server.clients == 0
    for raw in [silent, refused, *others]:
        raw.close()


def test_connections_that_never_finish_the_handshake_are_cut(market, server_of):
    import socket
    server = server_of(market, open_timeout=0.5)
    mute = socket.create_connection(server.address)            # says nothing at all
    halfway = socket.create_connection(server.address)
    halfway.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\n")     # and never ends its request
    for sock in (mute, halfway):
        sock.settimeout(5)
        assert sock.recv(100) == b""                           # closed by the server
        sock.close()
    assert server.cut == {"handshake_timeout": 2}
    good = Client(server.address)                              # and it goes on
    good.close()


def test_a_server_that_fell_behind_reloads_from_the_snapshot(market):
    """The handoff holds 4 packets: the server, not draining, loses some; it reloads."""
    small = Market(tap_capacity=4)
    source = LocalSource(small.tap, small.publisher)
    small.trade(generate_flow(2000, seed=12))
    assert small.tap.overflowed > 0
    source.drain()
    assert source.resyncs == 1
    for symbol_id, name in NAMES.items():
        depth = source.symbols[name]
        assert (depth.levels("B", 50), depth.levels("S", 50)) == small.l2(symbol_id, 50)
    small.trade(generate_flow(500, seed=13))        # and follows packet by packet again
    source.drain()
    assert source.resyncs == 1 or small.tap.overflowed


def test_config_names_the_websocket_and_it_needs_the_feed():
    config = parse_config('[market_data]\nwebsocket = "127.0.0.1:26480"\n'
                          '[sessions]\naccounts = "a.json"\n')
    assert config.market_data.websocket == ("127.0.0.1", 26480)
    check_config(config)
    quiet = parse_config('[market_data]\nwebsocket = "127.0.0.1:26480"\ndestination = "none"\n'
                         '[sessions]\naccounts = "a.json"\n')
    with pytest.raises(ConfigError, match="--md-websocket"):
        check_config(quiet)


def test_subscriptions_per_connection_are_capped(market, server_of):
    server = server_of(market, max_subscriptions=2)
    client = Client(server.address)
    for name in ("AAPL", "MSFT", "GATE"):
        client.subscribe(name, channels=["l1"])
    answers = [message for message in client.read(1.0) if message["type"] != "l1"]
    assert [message["type"] for message in answers] == ["subscribed", "subscribed", "error"]
    assert answers[2]["error"] == "too_many_subscriptions"
    client.send(op="unsubscribe", symbol="AAPL")
    client.subscribe("GATE", channels=["l1"])         # room again
    assert [message["type"] for message in client.read(1.0)
            if message["type"] != "l1"] == ["unsubscribed", "subscribed"]
    client.close()
    assert server.refused == {"too_many_subscriptions": 1}
