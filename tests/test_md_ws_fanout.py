"""The fanout's fast path: a change written to every watcher at once, one frame for all.

A subscriber with a writer (the server's) is sent a change from the change
itself, as the same pre-framed bytes every watcher gets; one whose connection
is backed up is conflated by its sender task instead. Then a real server with
many clients: every one of them ends with the engine's book, and the answer
to a subscribe still comes before the state it subscribed to.
"""

import json

from gatebook.host.flow import generate_flow
from gatebook.host.marketdata import ws_schema
from gatebook.host.marketdata.feed_tap import LocalSource
from gatebook.host.marketdata.ws_hub import Hub, Subscriber, text_frame

import test_md_ws
from md_ws_clients import Client
from test_md_ws import _shows

market, server_of = test_md_ws.market, test_md_ws.server_of     # its fixtures, used here


def _unframe(frame):
    """The text of one unmasked RFC 6455 text frame, read as the spec lays it out."""
    assert frame[0] == 0x81 and not frame[1] & 0x80
    length, start = frame[1] & 0x7F, 2
    if length == 126:
        length, start = int.from_bytes(frame[2:4], "big"), 4
    elif length == 127:
        length, start = int.from_bytes(frame[2:10], "big"), 10
    assert len(frame) == start + length
    return frame[start:].decode()


def test_text_frames_follow_rfc_6455_lengths():
    for size in (0, 125, 126, 65535, 65536):
        text = "x" * size
        assert _unframe(text_frame(text)) == text


def test_a_change_is_written_at_once_as_one_frame_shared_by_every_watcher(market):
    source = LocalSource(market.tap, market.publisher)
    hub = Hub(source.symbols)
    written = [[] for _ in range(50)]
    watchers = []
    for frames in written:
        watcher = Subscriber(hub, lambda batch, out=frames: out.extend(batch) or True)
        watcher.subscribe("AAPL", frozenset({"l2"}), 5)
        watcher.take()                             # the subscription's own first state
        watchers.append(watcher)
    market.trade(list(generate_flow(400, seed=3)))
    source.drain()
    hub.changed(["AAPL"])
    assert not any(watcher.dirty for watcher in watchers)    # nothing left for a sender
    first = written[0][-1]
    assert all(frames[-1] is first for frames in written)     # the same bytes object
    message = json.loads(_unframe(first))
    assert message["type"] == "l2" and (message["bids"], message["asks"]) == market.l2(2, 5)
    hub.changed(["AAPL"])                          # no new version: nothing more
    assert all(len(frames) == len(written[0]) for frames in written)


def test_a_backed_up_connection_is_conflated_by_its_sender_instead(market):
    source = LocalSource(market.tap, market.publisher)
    hub = Hub(source.symbols)
    accepting = [False]
    written = []
    watcher = Subscriber(hub, lambda batch: accepting[0] and (written.extend(batch) or True))
    watcher.subscribe("AAPL", frozenset({"l1", "l2", "trades"}), 3)
    watcher.take()
    flow = list(generate_flow(3000, seed=5))
    for start in range(0, 2000, 200):
        market.trade(flow[start:start + 200])
        source.drain()
        hub.changed(["AAPL"])
    assert written == [] and list(watcher.dirty) == ["AAPL"] and watcher.wake.is_set()
    accepting[0] = True
    hub.changed(["AAPL"])                          # dirty: still the sender's to send
    assert written == []
    texts = [json.loads(text) for text in watcher.take()]
    assert [text["type"] for text in texts] == ["l1", "l2", "trades"]
    assert (texts[1]["bids"], texts[1]["asks"]) == market.l2(2, 3)
    market.trade(flow[2000:])
    source.drain()
    hub.changed(["AAPL"])                          # drained: written at once again
    assert [json.loads(_unframe(frame))["type"] for frame in written] == ["l1", "l2", "trades"]


def test_many_clients_of_a_real_server_end_with_the_book(market, server_of):
    server = server_of(market)
    clients = [Client(server.address) for _ in range(40)]
    for client in clients:
        client.subscribe("AAPL", channels=["l2"], depth=3)
        answer = json.loads(client.ws.recv(timeout=10))
        assert answer == json.loads(ws_schema.subscribed("subscribe", "AAPL",
                                                         frozenset({"l2"}), 3))
    flow = list(generate_flow(3000, seed=9))
    for start in range(0, 3000, 100):
        market.trade(flow[start:start + 100])
    for client in clients:
        client.read_until(_shows(market, 2, 3))
        client.close()
    assert server.served["messages"] >= 40 and server.cut == {}
