"""`gatebook run`'s feed, recovered by its subscribers across a restart of the exchange.

Real processes and sockets on loopback: `gatebook run --log` publishes ITCH in
MoldUDP64 to a multicast group and serves re-requests (UDP) and snapshots
(TCP). A subscriber that drops a fifth of the packets and one that joins half
way through (from a snapshot) follow it, through a stop and a restart that
continues the same session, and end with the book the log recovers.
"""

import signal
import socket
import subprocess
import sys
import time

import pytest

from gatebook.dpdk_bridge.udp import SocketUdp
from gatebook.host.flow import generate_flow
from gatebook.host.marketdata.snapshot_server import read_snapshot
from gatebook.host.ouch.gateway import flow_datagrams
from gatebook.host.ouch.framing import HEADER_STRUCT
from gatebook.host.ouch.inject import script_datagrams
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.host.wal.recovery import recover

pytest.importorskip("itch.parser", reason="itchfeed (the peer ITCH parser) is not installed: "
                    "pip install -e '.[test]'")

from md_subscriber import SESSION, Subscriber, assert_same_book, peer_snapshot  # noqa: E402
from ouch_login import FlowClient, flow_accounts, login  # noqa: E402

GROUP = "239.192.26.1"
MARKER_USER = 999                  # not a user of the flow: its own session numbering


def _free_port(kind=socket.SOCK_DGRAM):
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """`gatebook run` with a log, a multicast feed and both recovery services."""

    def __init__(self, directory):
        self.directory = directory
        self.order_port, self.md_port = _free_port(), _free_port()
        self.request = ("127.0.0.1", _free_port())
        self.snapshot = ("127.0.0.1", _free_port(socket.SOCK_STREAM))

    def start(self):
        self.child = subprocess.Popen(
            [sys.executable, "-m", "gatebook.cli", "run", "--listen",
             f"127.0.0.1:{self.order_port}", "--md", f"{GROUP}:{self.md_port}",
             "--md-request", "%s:%d" % self.request, "--md-snapshot", "%s:%d" % self.snapshot,
             "--log", self.directory, "--durability", "none", "--seconds", "60",
             "--snapshot-every", "150",    # a feed checkpoint with each: the restart uses one
             "--accounts", flow_accounts(self.directory)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = []
        while not lines or not lines[-1].startswith("run: market data"):
            line = self.child.stdout.readline()
            assert line, (lines, self.child.stderr.read())
            lines.append(line)
        return lines[-1]

    def stop(self):
        self.child.send_signal(signal.SIGTERM)
        out, err = self.child.communicate(timeout=30)
        assert self.child.returncode == 0, err
        return out


def _marker(client, server, symbol, price):
    """Send an order that rests at `price` from MARKER_USER; its datagram comes after
    everything sent before, so once it shows, all of that was handled."""
    text = (f"{MARKER_USER} enter_order order_token={price} stock={symbol} side=BUY "
            f"shares=1 price={price / 10000:.2f}")
    answer = login(client, server, MARKER_USER)
    (_, payload), = script_datagrams(text)
    _, _, count = HEADER_STRUCT.unpack_from(payload)
    # After a restart the session's numbering goes on where the log left it.
    client.send([(HEADER_STRUCT.pack(answer.session, answer.next_inbound, count)
                  + payload[HEADER_STRUCT.size:], server)])


def _snapshot_showing(address, price, seconds=20):
    """The first snapshot (peer book, next sequence) that shows an order at `price`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        book, sequence = peer_snapshot(read_snapshot(address))
        if any(order[2] == price for order in book.orders.values()):
            return book, sequence
        time.sleep(0.05)
    raise AssertionError(f"no snapshot shows the marker at {price}")


def _settle(subscribers, next_sequence, seconds=20):
    deadline = time.monotonic() + seconds
    for subscriber in subscribers:
        subscriber.want(next_sequence)
    while not all(s.caught_up(next_sequence) for s in subscribers):
        assert time.monotonic() < deadline, [(s.next_sequence, len(s.pending))
                                             for s in subscribers] + [next_sequence]
        for subscriber in subscribers:
            subscriber.poll()
        time.sleep(0.002)


def _send(client, datagrams, subscribers):
    for start in range(0, len(datagrams), 20):
        client.send(datagrams[start:start + 20])
        for subscriber in subscribers:
            subscriber.poll()
        time.sleep(0.002)


# 800 commands in the default run; the long run (--run-long) adds 1,600.
@pytest.mark.parametrize("commands", [800, pytest.param(1600, marks=pytest.mark.long)])
def test_lossy_and_late_subscribers_follow_gatebook_run_through_a_restart(tmp_path, commands):
    directory = str(tmp_path / "log")
    server = Server(directory)
    address = ("127.0.0.1", server.order_port)
    spec = DEFAULT_SYMBOLS[0]
    datagrams = flow_datagrams(generate_flow(commands, seed=31), DEFAULT_SYMBOLS, batch=2)
    assert MARKER_USER not in {user for user, _ in datagrams}
    half = len(datagrams) // 2
    first = server.start()
    assert f"session {SESSION}" in first
    lossy = Subscriber(server.request, loss=0.2, seed=5, group=(GROUP, server.md_port))
    late = None
    try:
        with SocketUdp() as client, SocketUdp() as marker:
            flow = FlowClient(client, address, (user for user, _ in datagrams))
            _send(flow, datagrams[:half // 2], [lossy])
            # Half way through the first run a subscriber joins from a snapshot.
            late = Subscriber(server.request, group=(GROUP, server.md_port))
            late.book, late.next_sequence = peer_snapshot(read_snapshot(server.snapshot))
            _send(flow, datagrams[half // 2:half], [lossy, late])
            _marker(marker, address, spec.name, spec.price_min + spec.tick_size)
            _, sequence = _snapshot_showing(server.snapshot, spec.price_min + spec.tick_size)
            _settle([lossy, late], sequence)
            server.stop()

            again = server.start()                 # the same log: the same session goes on
            assert f"session {SESSION} goes on from its feed checkpoint at seq" in again, again
            assert f"next sequence number {sequence};" in again, again
            flow.relogin()
            _send(flow, datagrams[half:], [lossy, late])
            _marker(marker, address, spec.name, spec.price_min + 2 * spec.tick_size)
            _, sequence = _snapshot_showing(server.snapshot, spec.price_min + 2 * spec.tick_size)
            _settle([lossy, late], sequence)
        summary = server.stop()
    finally:
        if server.child.poll() is None:
            server.child.kill()
            server.child.communicate()
        for subscriber in (lossy, late):
            if subscriber is not None:
                subscriber.close()
    print(first, again, summary, sep="")             # what docs/marketdata.md shows (-s)
    engine, _ = recover(directory)
    for subscriber in (lossy, late):
        assert_same_book(subscriber.book, engine)
        assert subscriber.sessions == {SESSION}
    assert lossy.dropped >= 5 and lossy.requests >= 3
    assert "run: market data: re-requests answered" in summary
