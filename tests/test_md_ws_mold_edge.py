"""`gatebook md-edge --mold`: a WebSocket edge on the exchange's own feed, losing datagrams.

`gatebook run` (a real process) sends its MoldUDP64 feed to this test, which
relays it to an edge process and drops every 10th datagram on the way; the
edge must repair each gap from the snapshot service and end with the book
the exchange's log recovers.
"""

import signal
import socket
import subprocess
import sys
import time

from gatebook.dpdk_bridge.udp import SocketUdp
from gatebook.host.flow import generate_flow
from gatebook.host.ouch.gateway import flow_datagrams
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.host.wal.recovery import recover
from gatebook.wire.enums import Side

from md_ws_clients import Client
from ouch_login import FlowClient, flow_accounts

DROP_EVERY = 10          # a loaded exchange packs its bursts into as few as ~50 datagrams


def _free_port(kind=socket.SOCK_DGRAM):
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _relay(inbound, edge_port, counts, lossy=True):
    for packet, _ in inbound.recv(256):
        counts["seen"] += 1
        if not lossy or counts["seen"] % DROP_EVERY:
            inbound.send([(packet, ("127.0.0.1", edge_port))])
        else:
            counts["dropped"] += 1


def test_an_edge_on_the_feed_repairs_gaps_from_snapshots(tmp_path):
    directory = str(tmp_path / "log")
    order_port, edge_port = _free_port(), _free_port()
    snapshot = ("127.0.0.1", _free_port(socket.SOCK_STREAM))
    relay = SocketUdp("127.0.0.1", 0)
    exchange = subprocess.Popen(
        [sys.executable, "-m", "gatebook.cli", "run", "--listen", f"127.0.0.1:{order_port}",
         "--md", "%s:%d" % relay.address, "--md-snapshot", "%s:%d" % snapshot,
         "--log", directory, "--durability", "none", "--seconds", "120",
         "--accounts", flow_accounts(directory)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    edge = None
    counts = {"seen": 0, "dropped": 0}
    try:
        lines = []
        while not any(line.startswith("run: market data") for line in lines):
            line = exchange.stdout.readline()
            assert line, (lines, exchange.stderr.read())
            lines.append(line)
        edge = subprocess.Popen(
            [sys.executable, "-m", "gatebook.cli", "md-edge", "--mold", f"127.0.0.1:{edge_port}",
             "--snapshot", "%s:%d" % snapshot, "--listen", "127.0.0.1:0", "--seconds", "120"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started = edge.stdout.readline()
        assert started.startswith("md-edge: WebSocket feed on ws://"), (started,
                                                                       edge.stderr.read())
        host, port = started.split("ws://")[1].split("/")[0].rsplit(":", 1)
        client = Client((host, int(port)))
        client.subscribe("AAPL", channels=["l2"], depth=5)
        datagrams = flow_datagrams(generate_flow(1500, seed=27), DEFAULT_SYMBOLS, batch=2)
        with SocketUdp() as sock:
            flow = FlowClient(sock, ("127.0.0.1", order_port), (user for user, _ in datagrams))
            for start in range(0, len(datagrams), 10):
                flow.send(datagrams[start:start + 10])
                _relay(relay, edge_port, counts)
                time.sleep(0.002)
            # After the flow nothing is dropped: the heartbeats that follow show the edge
            # any gap the flow's last datagrams left (a dropped heartbeat did not, and the
            # test failed under load whenever the flow's tail was the lost part).
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                _relay(relay, edge_port, counts, lossy=False)
                time.sleep(0.01)
        exchange.send_signal(signal.SIGTERM)
        out, err = exchange.communicate(timeout=30)
        assert exchange.returncode == 0, err
        book = recover(directory)[0].books[2]
        want = ([list(level) for level in book.depth(Side.BUY, 5)],
                [list(level) for level in book.depth(Side.SELL, 5)])
        client.read_until(lambda c: ("l2", "AAPL") in c.latest and (
            c.latest["l2", "AAPL"]["bids"], c.latest["l2", "AAPL"]["asks"]) == want)
        client.close()
        edge.send_signal(signal.SIGTERM)
        summary, err = edge.communicate(timeout=30)
        assert edge.returncode == 0, err
    finally:
        relay.close()
        for process in (exchange, edge):
            if process is not None and process.poll() is None:
                process.kill()
                process.communicate()
    assert counts["dropped"] >= 3, counts
    snapshots = int(summary.split(" snapshots taken")[0].rsplit(" ", 1)[1])
    assert snapshots >= 2, summary                 # the first, and at least one gap repaired
    assert "md-edge: feed datagrams refused: none" in summary, summary


def test_edges_sharing_one_port_spread_the_clients_and_each_shows_the_book():
    """`md-edge --reuse-port`: two edge processes on one port, the kernel picks per connection."""
    from gatebook.host.marketdata.ws_bench import Rig
    feed = ("239.192.26.97", _free_port())
    port = _free_port(socket.SOCK_STREAM)
    rig = Rig(feed=feed)
    edges, clients = [], []
    try:
        for _ in range(2):
            edges.append(subprocess.Popen(
                [sys.executable, "-m", "gatebook.cli", "md-edge", "--mold", "%s:%d" % feed,
                 "--snapshot", "%s:%d" % rig.snapshot_address[:2], "--listen",
                 f"127.0.0.1:{port}", "--reuse-port", "--seconds", "120"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        for edge in edges:
            started = edge.stdout.readline()
            assert started.startswith(f"md-edge: WebSocket feed on ws://127.0.0.1:{port}/ws"), \
                (started, edge.stderr.read())
        for _ in range(16):
            clients.append(Client(("127.0.0.1", port)))
            clients[-1].subscribe("AAPL", channels=["l2"], depth=5)
        rig.apply([command for command in generate_flow(1500, seed=27)])
        book = rig.engine.books[2]
        want = ([list(level) for level in book.depth(Side.BUY, 5)],
                [list(level) for level in book.depth(Side.SELL, 5)])
        for client in clients:
            client.read_until(lambda c: ("l2", "AAPL") in c.latest and (
                c.latest["l2", "AAPL"]["bids"], c.latest["l2", "AAPL"]["asks"]) == want)
            client.close()
        served = []
        for edge in edges:
            edge.send_signal(signal.SIGTERM)
            summary, err = edge.communicate(timeout=30)
            assert edge.returncode == 0, err
            served.append(int(summary.split("md-edge: served: connections ")[1].split(",")[0]))
    finally:
        rig.close()
        for edge in edges:
            if edge.poll() is None:
                edge.kill()
                edge.communicate()
    # 16 connections on two listeners: all on one has odds of 1 in 32,768.
    assert sum(served) == 16 and min(served) >= 1, served
