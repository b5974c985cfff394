"""The Prometheus endpoint: scraped over HTTP while orders flow, its counts are what was sent."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gatebook.dpdk_bridge.udp import SocketUdp
from gatebook.host.builder import BuildError, build_exchange
from gatebook.host.config import ConfigError, parse_config
from gatebook.host.metrics import ExchangeMetrics
from gatebook.host.ouch.framing import HEADER_STRUCT, OUTBOUND_CODEC, decode_datagram
from gatebook.host.ouch.inject import script_datagrams
from gatebook.host.engine import MatchingEngine
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.wire import internal, ouch
from gatebook.wire.enums import OrderType, RejectReason, Side, TimeInForce
from gatebook.wire.records import make

from engine_implementations import PureMatchingEngine
from md_ws_clients import Client
from ouch_login import as_session, login, write_accounts
from test_builder import _config as builder_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(REPO, "docs", "gatebook.toml")
_NAMES = ouch.OUTBOUND.by_code()

# ACME: tick 100 (0.01), lot 10. Four good orders, two off the tick, three off the lot.
GOOD = """
7 enter_order order_token=1 stock=ACME side=BUY shares=100 price=20.00
8 enter_order order_token=1 stock=ACME side=SELL shares=40 price=20.00
7 enter_order order_token=2 stock=ACME side=BUY shares=10 price=19.00
8 enter_order order_token=2 stock=ACME side=SELL shares=10 price=21.00
"""
BAD = """
7 enter_order order_token=3 stock=ACME side=BUY shares=10 price=19.005
7 enter_order order_token=4 stock=ACME side=BUY shares=10 price=19.015
7 enter_order order_token=5 stock=ACME side=BUY shares=15 price=19.00
7 enter_order order_token=6 stock=ACME side=BUY shares=25 price=19.00
7 enter_order order_token=7 stock=ACME side=BUY shares=5 price=19.00
"""


def _config(tmp_path, **log):
    """test_builder's exchange from the example file, with the metrics endpoint on a free port."""
    config = builder_config(tmp_path, **log)
    return replace(config, metrics=replace(config.metrics, listen=("127.0.0.1", 0)))


def scrape(address):
    """{(name, sorted labels): value} of every sample at http://address/metrics."""
    with urllib.request.urlopen(f"http://{address[0]}:{address[1]}/metrics", timeout=5) as reply:
        assert reply.status == 200
        text = reply.read().decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def _send(built, clients, sessions, script, numbers, replies_wanted):
    """Send `script`'s datagrams, numbered on from `numbers`; pump until the replies came."""
    address = built.port.address
    for user, payload in script_datagrams(script):
        numbers[user] += 1
        payload = _renumber(payload, numbers[user])
        clients[user].send([(as_session(payload, sessions[user]), address)])
    got, deadline = [], time.monotonic() + 5
    while len(got) < replies_wanted and time.monotonic() < deadline:
        built.poll()
        if built.journal is not None:
            built.exchange.release()        # replies wait for the log's acknowledgement
        for sock in clients.values():
            for payload, _ in sock.recv(64):
                got += [_NAMES[record[0]].name
                        for record in decode_datagram(payload, OUTBOUND_CODEC)[2]]
    return got


def _renumber(payload, number):
    session, _, *rest = HEADER_STRUCT.unpack_from(payload)
    return HEADER_STRUCT.pack(session, number, *rest) + payload[HEADER_STRUCT.size:]


def test_a_scrape_counts_the_orders_rejects_refusals_and_bursts_that_were_sent(tmp_path):
    with build_exchange(_config(tmp_path)) as built, SocketUdp() as client_7, \
            SocketUdp() as client_8, SocketUdp() as stranger:
        address = built.metrics.address
        before = scrape(address)
        assert before[("gatebook_orders_total", ())] == 0
        assert not [key for key in before if key[0] == "gatebook_rejects_total"]
        clients = {7: client_7, 8: client_8}
        sessions = {user: login(sock, built.port.address, user, pump=built.poll).session
                    for user, sock in clients.items()}
        numbers = dict.fromkeys(clients, 0)
        # 4 accepted, 2 executed each side of the cross.
        assert len(_send(built, clients, sessions, GOOD, numbers, 6)) == 6
        during = scrape(address)
        assert during[("gatebook_orders_total", ())] == 4
        assert not [key for key in during if key[0] == "gatebook_rejects_total"]
        assert during[("gatebook_burst_seconds_count", ())] >= 1
        assert _send(built, clients, sessions, BAD, numbers, 5) == ["rejected"] * 5
        # Datagrams from no session: refused before the engine, counted by kind.
        for _ in range(3):
            stranger.send([(b"\x00" * 7, built.port.address)])
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            built.poll()
            after = scrape(address)
            refused = sum(value for (name, _), value in after.items()
                          if name == "gatebook_refusals_total")
            if refused >= 3:
                break
        assert after[("gatebook_orders_total", ())] == 9
        assert after[("gatebook_rejects_total", (("reason", "PRICE_NOT_ON_TICK"),))] == 2
        assert after[("gatebook_rejects_total",
                      (("reason", "QUANTITY_NOT_LOT_MULTIPLE"),))] == 3
        assert refused == 3
        assert after[("gatebook_refusals_total",
                      (("kind", "undecodable"), ("source", "ouch")))] == 3
        bursts = after[("gatebook_burst_seconds_count", ())]
        assert during[("gatebook_burst_seconds_count", ())] < bursts
        assert after[("gatebook_burst_seconds_bucket", (("le", "+Inf"),))] == bursts
        assert 0 < after[("gatebook_burst_seconds_sum", ())] < bursts    # seconds, not ns
        assert ("gatebook_log_lag", ()) not in after          # no log, no lag to report


def test_log_lag_is_the_journal_s_last_seq_less_its_acknowledged_one(tmp_path):
    config = _config(tmp_path, directory=str(tmp_path / "log"), durability="batched")
    with build_exchange(config) as built, SocketUdp() as client_7, SocketUdp() as client_8:
        clients = {7: client_7, 8: client_8}
        sessions = {user: login(sock, built.port.address, user, pump=built.poll).session
                    for user, sock in clients.items()}
        assert len(_send(built, clients, sessions, GOOD, dict.fromkeys(clients, 0), 6)) == 6
        seen = scrape(built.metrics.address)
        last = built.journal.sequencer.next_seq - 1
        assert last >= 4
        assert seen[("gatebook_log_last_seq", ())] == last
        assert seen[("gatebook_log_acked_seq", ())] == built.acks.seq == last   # replies left
        assert seen[("gatebook_log_lag", ())] == 0


def test_log_lag_counts_what_is_logged_but_not_acknowledged():
    metrics = ExchangeMetrics(orders=lambda: 0, log=lambda: (40, 47))
    seen = {sample.name: sample.value for family in metrics.collect()
            for sample in family.samples}
    assert (seen["gatebook_log_acked_seq"], seen["gatebook_log_last_seq"],
            seen["gatebook_log_lag"]) == (40, 47, 7)


def test_a_reject_reason_this_build_does_not_name_is_still_counted():
    metrics = ExchangeMetrics(orders=lambda: 3, rejects=lambda: {2: 1, 250: 4})
    rejects = {sample.labels["reason"]: sample.value for family in metrics.collect()
               for sample in family.samples if sample.name == "gatebook_rejects_total"}
    assert rejects == {"INVALID_QUANTITY": 1, "UNKNOWN_250": 4}


def test_metrics_address_in_the_config_file_is_checked(tmp_path):
    config = parse_config('[metrics]\nlisten = "127.0.0.1:9464"\n')
    assert config.metrics.listen == ("127.0.0.1", 9464)
    assert parse_config("").metrics.listen is None          # no endpoint unless asked
    with pytest.raises(ConfigError, match="metrics"):
        parse_config('[metrics]\nlisten = "nowhere"\n')
    with pytest.raises(ConfigError, match="metrics"):
        parse_config("[metrics]\nport = 9464\n")


def test_a_metrics_address_in_use_is_a_build_error_and_leaves_nothing_open(tmp_path):
    with build_exchange(_config(tmp_path)) as first:
        taken = first.metrics.address
        config = _config(tmp_path)
        config = replace(config, metrics=replace(config.metrics, listen=taken))
        with pytest.raises(BuildError, match="metrics") as error:
            build_exchange(config)
        assert error.value.status == 1
        assert scrape(taken)[("gatebook_orders_total", ())] == 0     # the first still serves


@pytest.mark.parametrize("build", ["compiled", "pure"])
def test_the_engine_counts_each_rejected_command_once_by_reason(build):
    engine = (MatchingEngine if build == "compiled" else PureMatchingEngine)(DEFAULT_SYMBOLS)
    spec = DEFAULT_SYMBOLS[0]
    price = spec.price_min + spec.tick_size * 10

    def order(seq, order_id, qty, at=price):
        return engine.apply(make(internal.NEW_ORDER, seq=seq, ts=seq, symbol=spec.symbol_id,
                                 order_id=order_id, user=1, side=Side.BUY,
                                 order_type=OrderType.LIMIT, tif=TimeInForce.DAY, price=at,
                                 stop_price=0, qty=qty))
    order(1, 1, spec.lot_size)
    order(2, 1, spec.lot_size)                                 # duplicate id
    order(3, 2, 0)                                          # no quantity
    order(4, 3, 0)
    engine.apply(make(internal.CANCEL, seq=5, ts=5, order_id=99, user=1))     # unknown
    engine.apply(("not a command",))
    assert engine.rejects == {RejectReason.DUPLICATE_ORDER_ID: 1,
                              RejectReason.INVALID_QUANTITY: 2,
                              RejectReason.UNKNOWN_ORDER: 1, RejectReason.UNKNOWN_COMMAND: 1}


def test_gatebook_run_serves_metrics_that_count_what_its_clients_sent(tmp_path):
    """A real `gatebook run --metrics` process, scraped over HTTP while its clients send."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        order_port = probe.getsockname()[1]
    child = subprocess.Popen(
        [sys.executable, "-m", "gatebook.cli", "run", "--config", EXAMPLE, "--listen",
         f"127.0.0.1:{order_port}", "--md", "none", "--metrics", "127.0.0.1:0",
         "--accounts", write_accounts(tmp_path / "accounts.json", (7, 8)), "--seconds", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while not lines or not lines[-1].startswith("run: metrics on "):
            line = child.stdout.readline()
            assert line, (lines, child.stderr.read())
            lines.append(line)
        host_port = lines[-1].split("http://")[1].split("/")[0]
        address = (host_port.rpartition(":")[0], int(host_port.rpartition(":")[2]))
        server = ("127.0.0.1", order_port)
        with SocketUdp() as client_7, SocketUdp() as client_8:
            clients = {7: client_7, 8: client_8}
            sessions = {user: login(sock, server, user).session for user, sock in clients.items()}
            numbers = dict.fromkeys(clients, 0)
            for script in (GOOD, BAD):
                for user, payload in script_datagrams(script):
                    numbers[user] += 1
                    clients[user].send([(as_session(_renumber(payload, numbers[user]),
                                                    sessions[user]), server)])
            deadline = time.monotonic() + 20
            seen = scrape(address)
            while seen[("gatebook_orders_total", ())] < 9 and time.monotonic() < deadline:
                time.sleep(0.05)
                seen = scrape(address)
        assert seen[("gatebook_orders_total", ())] == 9
        assert seen[("gatebook_rejects_total", (("reason", "PRICE_NOT_ON_TICK"),))] == 2
        assert seen[("gatebook_rejects_total", (("reason", "QUANTITY_NOT_LOT_MULTIPLE"),))] == 3
        assert seen[("gatebook_burst_seconds_count", ())] >= 1
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=30)
        assert child.returncode == 0, err
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()


def test_market_data_subscribers_are_the_websocket_clients_connected_now(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        feed = probe.getsockname()
    config = _config(tmp_path)
    config = replace(config, market_data=replace(config.market_data, destination=feed,
                                                 websocket=("127.0.0.1", 0)))

    def subscribers_become(count):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            built.poll()
            seen = scrape(built.metrics.address)
            if seen[("gatebook_md_subscribers", ())] == count:
                return seen
            time.sleep(0.02)
        raise AssertionError(f"never {count} subscribers: {seen}")
    with build_exchange(config) as built:
        subscribers_become(0)
        first, second = Client(built.md_websocket.address), Client(built.md_websocket.address)
        subscribers_become(2)
        first.close()
        seen = subscribers_become(1)
        assert not [key for key in seen if key[0] == "gatebook_md_drops_total"]
        second.close()


def test_fix_refusals_are_counted_under_their_source(tmp_path):
    config = _config(tmp_path)
    config = replace(config, fix=replace(config.fix, listen=("127.0.0.1", 0)))
    with build_exchange(config) as built:
        assert not [key for key in scrape(built.metrics.address)
                    if dict(key[1]).get("source") == "fix"]
        with socket.create_connection(built.fix_entry.address, timeout=5) as peer:
            peer.sendall(b"8=FIX.4.4\x019=5\x0135=A\x0110=000\x01" * 2)   # garbled: no logon
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                built.poll()
                fix = {dict(key[1])["kind"]: value
                       for key, value in scrape(built.metrics.address).items()
                       if dict(key[1]).get("source") == "fix"}
                if fix:
                    break
                time.sleep(0.02)
        assert fix == dict(built.fix_entry.bad) and sum(fix.values()) >= 1
