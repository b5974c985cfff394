"""The fast lane on the kernel-socket backend: orders in over loopback UDP,
execution reports back to each sender, ITCH 5.0 in MoldUDP64 to a multicast
group on loopback."""

import subprocess
import sys
import time

from gatebook.dpdk_bridge.udp import SocketUdp
from gatebook.wire import itch50, mold, ouch
from gatebook.wire.codec import ProtocolCodec
from gatebook.host.clock import ManualClock
from gatebook.host.builder import build_exchange
from gatebook.host.config import ExchangeConfig, MarketDataConfig, OrderEntryConfig, SessionConfig
from gatebook.host.ouch.inject import script_datagrams
from gatebook.host.ouch.framing import OUTBOUND_CODEC, decode_datagram

from ouch_login import as_session, login, write_accounts

GROUP = "239.192.26.1"
SCRIPT = """
7 enter_order order_token=1 stock=GATE side=BUY shares=100 price=100.00
8 enter_order order_token=1 stock=GATE side=SELL shares=40 price=100.00
7 cancel_order order_token=1
8 enter_order order_token=2 stock=NOPE side=SELL shares=40 price=100.00
"""


def _messages(datagrams):
    return sum(len(decode_datagram(payload, OUTBOUND_CODEC)[2]) for payload, _ in datagrams)


def _drain(sock, want, pump, seconds=5, count=len):
    """What `sock` receives until `count` of it reaches `want` (datagrams by
    default; replies to one session in one burst share a datagram)."""
    got, deadline = [], time.monotonic() + seconds
    while count(got) < want and time.monotonic() < deadline:
        pump()
        got += sock.recv(64)
    return got


def test_orders_replies_and_market_data_over_loopback(tmp_path):
    md_port = 26400 + 7                 # a test's own port, so no other feed is heard
    config = ExchangeConfig(
        order_entry=OrderEntryConfig(listen=("127.0.0.1", 0)),
        sessions=SessionConfig(accounts=write_accounts(tmp_path / "accounts.json", (7, 8))),
        market_data=MarketDataConfig(destination=(GROUP, md_port)))
    with SocketUdp() as client_7, SocketUdp() as client_8, \
            SocketUdp("127.0.0.1", md_port, group=GROUP) as subscriber:
        built = build_exchange(config, clock=ManualClock(1_700_000_000_000_000_000, 1000))
        exchange, address = built.exchange, built.port.address
        clients = {7: client_7, 8: client_8}
        pump = built.poll
        try:
            sessions = {user: login(clients[user], address, user, pump=pump).session
                        for user in clients}
            for user, payload in script_datagrams(SCRIPT):
                clients[user].send([(as_session(payload, sessions[user]), address)])
            clients[8].send([(b"\x00garbage", address), (b"", address)])
            replies_7 = _drain(client_7, 3, pump, count=_messages)
            replies_8 = _drain(client_8, 3, pump, count=_messages)
        finally:
            built.close()               # the feed's end of day and end of session leave
        packets = _drain(subscriber, 100, lambda: None, seconds=1)     # all there are
    names = lambda replies: [ouch.OUTBOUND.by_code()[r[0]].name           # noqa: E731
                             for payload, _ in replies
                             for r in decode_datagram(payload, OUTBOUND_CODEC)[2]]
    assert names(replies_7) == ["accepted", "executed", "canceled"]
    assert names(replies_8) == ["accepted", "executed", "rejected"]
    assert sum(exchange.entry.gateway.bad.values()) == 2 and exchange.entry.gateway.messages == 4
    itch = ProtocolCodec(itch50.ITCH50)
    messages = [itch.decode(m) for p, _ in packets if not mold.parse(p).is_end_of_session
                for m in mold.parse(p).messages]
    kinds = [itch50.ITCH50.by_code()[m[0]].name for m in messages]
    assert kinds[:2] == ["system_event", "system_event"] and "stock_directory" in kinds
    trading = kinds[kinds.index("system_event", 2):]
    assert ["add_order", "order_executed", "order_delete"] == [
        k for k in trading if k in ("add_order", "order_executed", "order_delete")]
    add = messages[kinds.index("add_order")]
    assert add[5:] == ("B", 100, "GATE", 100_0000)
    sequences = [mold.parse(p).sequence_number for p, _ in packets]
    assert sequences == sorted(sequences) and mold.parse(packets[-1][0]).is_end_of_session


def test_cli_run_prints_its_backend_and_a_summary(tmp_path):
    with SocketUdp() as probe:
        port = probe.address[1]                 # a free port, released for the server
    server = subprocess.Popen([sys.executable, "-m", "gatebook.cli", "run", "--listen",
                               f"127.0.0.1:{port}", "--md", "none", "--max-orders", "2",
                               "--seconds", "20", "--accounts",
                               write_accounts(tmp_path / "accounts.json", (7, 8))],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = server.stdout.readline()
        assert first.startswith("run: backend socket, orders on 127.0.0.1:")
        with SocketUdp() as client:
            client.send([(b"junk", ("127.0.0.1", port))])
            sessions = {user: login(client, ("127.0.0.1", port), user).session
                        for user in (7, 8)}
            for user, payload in script_datagrams(SCRIPT)[:2]:
                client.send([(as_session(payload, sessions[user]), ("127.0.0.1", port))])
            replies = _drain(client, 4, lambda: time.sleep(0.01), count=_messages)
        out, err = server.communicate(timeout=20)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 0, err
    assert _messages(replies) == 4     # 7 accepted; 8 accepted+executed; 7 executed
    assert "5 datagrams, 2 orders" in out and "refused 1 datagrams: undecodable" in out
    assert "run: logins: accepted 2" in out
    assert "run: port refused before order entry: none" in out
    assert "run: port replies not sent: none" in out
