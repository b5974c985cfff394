"""`gatebook run --log`: a journaled primary, SIGKILLed mid-flow and restarted on its log.

A real child process runs the exchange on the kernel-socket backend on
loopback. A client sends a seeded order flow (several sessions through one
socket, so every report comes back to it), reads the execution reports, and
the child is SIGKILLed while a burst is in flight. The test then checks,
against a reference that knows only what the client sent (a fresh gateway
and engine fed the same datagrams in order):

- every report received is the reference's report for one of the first
  `last seq` commands of the recovered log, in order: nothing was reported
  that the log does not hold;
- the recovered state hash equals the reference's after those commands;
- a restarted `gatebook run` on the same directory says so, and new orders
  get the next sequence numbers and the reports the reference predicts.

The failover test runs `gatebook run --standby-listen` with a real
`gatebook standby` process: no report leaves before the standby has logged
its command too, the standby promotes when the primary is SIGKILLed and
holds every order reported, and the old primary, restarted with `--standby`
pointing at the new one, refuses to take orders.

The disk-full test puts the log on a tiny tmpfs (skipped, saying why, where
`mount` is not allowed): `gatebook run` stops with exit status 3 and the
journal's error, and every report it sent is in the log.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from gatebook.dpdk_bridge.udp import SocketUdp
from gatebook.host.clock import ManualClock
from gatebook.host.engine import MatchingEngine
from gatebook.host.flow import generate_flow
from gatebook.host.ouch.inject import script_datagrams
from gatebook.host.ouch.gateway import Gateway, flow_datagrams
from gatebook.host.ouch.replier import Replier
from gatebook.host.ouch.framing import OUTBOUND_CODEC, decode_datagram
from gatebook.host.sequencer import Sequencer
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.host.wal.recovery import recover

from ouch_login import FlowClient, ListPort, accounts, as_session, flow_accounts, log_in_process
from wal_helpers import tiny_tmpfs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _free_port():
    with SocketUdp() as probe:
        return probe.address[1]


def _free_tcp_port():
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]


def _start(directory, port, *extra, until="run: backend"):
    child = subprocess.Popen(
        [sys.executable, "-m", "gatebook.cli", "run", "--listen", f"127.0.0.1:{port}",
         "--md", "none", "--log", directory, "--seconds", "30",
         "--accounts", flow_accounts(directory), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    lines = []
    while True:
        line = child.stdout.readline()
        if not line and until is None:
            return child, lines
        assert line, (lines, child.stderr.read())
        lines.append(line)
        if until is not None and line.startswith(until):
            return child, lines


def _records(payloads):
    """Outbound records without their timestamps, ALPHA fields as stripped text."""
    out = []
    for payload in payloads:
        session, _, records = decode_datagram(payload, OUTBOUND_CODEC)
        for record in records:
            out.append(_without_ts(session, record))
    return out


def _without_ts(session, record):
    return (session,) + tuple(_plain(value) for i, value in enumerate(record) if i != 1)


def _plain(value):
    if isinstance(value, (bytes, bytearray)):
        value = value.decode()
    return value.rstrip() if isinstance(value, str) else value


class Reference:
    """What the exchange must do with the datagrams a client sent, in order."""

    def __init__(self, engine=None):
        self.engine = engine or MatchingEngine(DEFAULT_SYMBOLS)
        self.restart()

    def restart(self):
        """A new process: a fresh gateway and replier over the same engine, the
        sequence continued, and the gateway's state (tokens, session and reply
        numbers, peers) restored, as `gatebook run --log` restores it from the log."""
        state = self.gateway.export_state(self.replier) if hasattr(self, "gateway") else None
        next_seq = self.gateway.sequencer.next_seq if hasattr(self, "gateway") else 1
        self.gateway = Gateway(Sequencer(ManualClock(1), next_seq), DEFAULT_SYMBOLS)
        self.gateway.next_order_id = max(self.engine.used_ids, default=0) + 1
        self.replier = Replier(self.gateway, DEFAULT_SYMBOLS)
        if state is not None:
            self.gateway.restore_state(state, self.replier)

    def feed(self, datagrams, commands):
        """Apply datagrams until `commands` commands were applied; their reports."""
        out = []
        for done, (_, payload) in enumerate(datagrams):
            if commands == 0:
                return out, datagrams[done:]
            for command in self.gateway.datagram(payload):
                for session, record in self.replier.replies(self.engine.apply(command)):
                    out.append(_without_ts(session, record))
                commands -= 1
        assert commands == 0, "the log holds more commands than the client sent"
        return out, []


def _by_session(records):
    out = {}
    for record in records:
        out.setdefault(record[0], []).append(record)
    return out


def _drain(client, until, seconds=5.0):
    got, deadline = [], time.monotonic() + seconds
    while not until(got) and time.monotonic() < deadline:
        batch = client.recv(64)
        got += [payload for payload, _ in batch]
        if not batch:
            time.sleep(0.002)
    return got


def test_sigkill_mid_flow_then_restart_on_the_same_log(tmp_path):
    directory = str(tmp_path / "log")
    port = _free_port()
    # One message per datagram, so one datagram is one command (the flow has
    # no mass cancels or admin commands that order entry could not carry).
    sent = flow_datagrams(generate_flow(1400, seed=5), DEFAULT_SYMBOLS)
    assert len(sent) >= 1250                        # the last ones are for after the restart
    child, lines = _start(directory, port, "--durability", "strict")
    assert lines[0].startswith(f"run: new log in {directory}"), lines
    received = []
    # One client socket before and after the restart: the restarted exchange
    # sends each session's reports to the address it last sent from, as before.
    the_client = SocketUdp()
    with contextlib.nullcontext(the_client) as client:
        server = ("127.0.0.1", port)
        flow = FlowClient(client, server, (user for user, _ in sent))
        # Paced: 300 datagrams in chunks, every report of a chunk read back
        # before the next (the reference says how many there are).
        whole = Reference()
        for start in range(0, 300, 50):
            flow.send(sent[start:start + 50])
            want = len(whole.feed(sent[start:start + 50], 50)[0])
            got = _drain(client, lambda got: len(_records(got)) >= want, seconds=5)
            assert len(_records(got)) == want, f"datagrams {start}..{start + 49}: reports missing"
            received += got
        # Then a burst, killed as soon as its first reports come back.
        for start in range(300, 1200, 100):
            flow.send(sent[start:start + 100])
        before = len(received)
        received += _drain(client, lambda got: len(got) >= 1)
        assert len(received) > before
        child.send_signal(signal.SIGKILL)
        child.communicate()
        assert child.returncode == -signal.SIGKILL
        received += _drain(client, lambda got: False, seconds=0.2)   # what the kernel still held

    engine, report = recover(directory, verify_outputs=True)
    last_seq = report.last_seq
    assert 300 <= last_seq <= 1200, f"log ends at {last_seq}"
    reference = Reference()
    expected, rest = reference.feed(sent, last_seq)
    got, want = _by_session(_records(received)), _by_session(expected)
    # Each session's reports are, in order, those the logged commands produced
    # for it (one datagram per session per burst: sessions interleave).
    for session, records in got.items():
        assert records == want[session][:len(records)], (
            f"session {session}: a report left for a command the log does not hold")
    assert engine.state_hash() == reference.engine.state_hash()
    assert engine.used_ids == reference.engine.used_ids

    # Restart on the same directory: it recovers, says so, continues the sequence.
    child, lines = _start(directory, port, "--max-orders", "40")
    try:
        said = " ".join(lines)
        assert f"recovered {directory}: last seq {last_seq} " in said, said
        assert f"state hash {report.state_hash}" in said, said
        assert f"next seq {last_seq + 1}" in said, said
        reference.restart()
        more = rest[:40]
        with the_client as client:
            flow.relogin()                  # sessions end with the process; numbers do not
            flow.send(more)
            out, err = child.communicate(timeout=20)
            assert child.returncode == 0, err
            received = _drain(client, lambda got: False, seconds=0.2)
    finally:
        if child.poll() is None:
            child.kill()
        the_client.close()
    assert f"acknowledged up to seq {last_seq + 40}" in out, out
    expected, _ = reference.feed(more, 40)
    assert _by_session(_records(received)) == _by_session(expected) and expected
    engine, report = recover(directory, verify_outputs=True)
    assert report.last_seq == last_seq + 40
    assert engine.state_hash() == reference.engine.state_hash()
    dumped = subprocess.run([sys.executable, "-m", "gatebook.cli", "log", "dump", "--dir",
                             directory, "--json", "--from", str(last_seq + 1)],
                            capture_output=True, text=True, cwd=REPO, check=True).stdout
    inputs = [json.loads(line)["seq"] for line in dumped.splitlines()
              if json.loads(line)["kind"] == "INPUT"]
    assert inputs == list(range(last_seq + 1, last_seq + 41))


def _check_reports(received, directory):
    return _check_reports_of(SENT, received, directory)


def _check_reports_of(sent, received, directory):
    """Recover `directory`; every report received must come from its commands."""
    engine, report = recover(directory, verify_outputs=True)
    reference = Reference()
    expected, _ = reference.feed(sent, report.last_seq)
    got, want = _by_session(_records(received)), _by_session(expected)
    for session, records in got.items():
        assert records == want[session][:len(records)], (
            f"session {session}: a report left for a command {directory} does not hold")
    assert engine.state_hash() == reference.engine.state_hash()
    return report


SENT = flow_datagrams(generate_flow(600, seed=8), DEFAULT_SYMBOLS)


def test_run_with_a_standby_reports_only_what_both_logged_and_fails_over(tmp_path):
    primary_dir, standby_dir = str(tmp_path / "primary"), str(tmp_path / "standby")
    port, replication = _free_port(), _free_tcp_port()
    secret = tmp_path / "secret"
    secret.write_bytes(os.urandom(32))
    secret.chmod(0o600)
    primary, lines = _start(primary_dir, port, "--standby-listen", f"127.0.0.1:{replication}",
                            "--replication-secret", str(secret))
    assert any("synchronous" in line for line in lines), lines
    standby = new_primary = old = None
    try:
        with SocketUdp() as client:
            server = ("127.0.0.1", port)
            flow = FlowClient(client, server, (user for user, _ in SENT))
            flow.send(SENT[:50])
            # Synchronous replication with no standby yet: nothing is acknowledged.
            received = _drain(client, lambda got: False, seconds=0.5)
            assert received == []
            standby = subprocess.Popen(
                [sys.executable, "-m", "gatebook.cli", "standby", "--connect",
                 f"127.0.0.1:{replication}", "--dir", standby_dir, "--heartbeat-timeout", "0.5",
                 "--replication-secret", str(secret)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
            assert standby.stdout.readline().startswith("following 127.0.0.1:")
            want = len(Reference().feed(SENT[:50], 50)[0])
            received = _drain(client, lambda got: len(_records(got)) >= want)
            assert len(_records(received)) == want, "the standby's acks released nothing"
            for start in range(50, len(SENT), 100):
                flow.send(SENT[start:start + 100])
            before = len(received)
            received += _drain(client, lambda got: len(got) >= 1)
            assert len(received) > before
            primary.send_signal(signal.SIGKILL)
            primary.communicate()
            received += _drain(client, lambda got: False, seconds=0.2)
        out, err = standby.communicate(timeout=20)
        assert standby.returncode == 0, err
        assert "promoted:" in out and "epoch 2" in out, out
        report = _check_reports(received, standby_dir)
        assert report.last_seq >= 50 and f"continues at seq {report.last_seq + 1}" in out

        # The promoted directory runs as the new primary; the old one, started
        # with --standby naming it, learns of epoch 2 and takes no orders.
        new_primary, lines = _start(standby_dir, port, "--standby-listen",
                                    f"127.0.0.1:{replication}", "--replication-secret", str(secret))
        assert f"last seq {report.last_seq} " in "".join(lines) and "epoch 2" in "".join(lines)
        old, lines = _start(primary_dir, _free_port(), "--standby", f"127.0.0.1:{replication}",
                            "--replication-secret", str(secret),
                            until=None)
        _, err = old.communicate(timeout=20)
        assert old.returncode == 3, (lines, err)
        assert "epoch 2" in err and "must not accept orders" in err, err
        assert not any(line.startswith("run: backend") for line in lines)
        new_primary.send_signal(signal.SIGTERM)
        out, err = new_primary.communicate(timeout=20)
        assert new_primary.returncode == 0, err
        assert f"acknowledged up to seq {report.last_seq}" in out, out
    finally:
        for process in (primary, standby, new_primary, old):
            if process is not None and process.poll() is None:
                process.kill()
                process.communicate()


@pytest.fixture
def tiny_disk(tmp_path):
    with tiny_tmpfs(tmp_path, "256k") as mountpoint:
        yield mountpoint


def test_run_stops_on_a_full_disk_and_everything_reported_is_logged(tiny_disk, tmp_path):
    directory = os.path.join(tiny_disk, "log")
    port = _free_port()
    sent = flow_datagrams(generate_flow(4000, seed=3), DEFAULT_SYMBOLS)
    child, _ = _start(directory, port, "--snapshot-every", "0")
    received = []
    try:
        with SocketUdp() as client:
            flow = FlowClient(client, ("127.0.0.1", port), (user for user, _ in sent))
            for start in range(0, len(sent), 100):
                flow.send(sent[start:start + 100])
                received += _drain(client, lambda got: len(got) >= 1, seconds=0.5)
                if child.poll() is not None:
                    break
            out, err = child.communicate(timeout=20)
            received += _drain(client, lambda got: False, seconds=0.2)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 3, err
    assert "log disk full (ENOSPC)" in err and "accepting no more commands" in err, err
    assert "Traceback" not in err
    acked = int(out.split("acknowledged up to seq ")[1].split()[0].rstrip(";"))
    copy = str(tmp_path / "copy")                   # recovery may write; the disk is full
    shutil.copytree(directory, copy)
    report = _check_reports_of(sent, received, copy)
    assert 0 < acked <= report.last_seq < len(sent)
    assert received, "no report before the disk filled"


def _itch(datagrams, md):
    """ITCH records of the MoldUDP64 packets among `datagrams` sent to `md`."""
    from gatebook.wire import itch50, mold
    from gatebook.wire.codec import ProtocolCodec
    codec = ProtocolCodec(itch50.ITCH50)
    return [codec.decode(message) for payload, peer in datagrams if peer == md
            for message in mold.parse(payload).messages]


def test_a_restarted_feed_goes_on_with_its_session_and_trades_against_it(tmp_path):
    from gatebook.wire import itch50
    from gatebook.host.marketdata.itch_book import ItchBook
    from gatebook.host.net.exchange_server import Acknowledgements
    from gatebook.host.ouch import ouch_exchange
    from gatebook.host.wal import JournaledExchange
    directory, md = str(tmp_path / "log"), ("239.192.26.1", 26499)
    peers = {user: ("127.0.0.1", 20000 + user) for user, _ in SENT[:200]}
    peers[999] = ("127.0.0.1", 21999)

    def open_exchange():
        acks, port = Acknowledgements(), ListPort()
        journal = JournaledExchange(directory, DEFAULT_SYMBOLS, on_ack=acks)
        acks(journal.acked_seq)
        exchange = ouch_exchange(port, DEFAULT_SYMBOLS, ManualClock(1, 1), md_destination=md,
                                 journal=journal, acks=acks, accounts=accounts(peers),
                                 session_options=dict(check_in_thread=False))
        sessions = log_in_process(exchange, port, peers)
        return journal, exchange, port, [
            (as_session(payload, sessions[user]), peers[user]) for user, payload in SENT[:200]
        ], sessions

    journal, exchange, port, datagrams, _ = open_exchange()
    port.inbox = datagrams[:150]
    exchange.run(max_orders=150, idle_sleep=0.0005)
    journal.close()
    exchange.close(end_of_day=False)
    books = {symbol: [book.orders_at(side) for side in (0, 1)]
             for symbol, book in journal.engine.books.items()}
    subscriber = ItchBook()                 # what the first run's feed showed
    for record in _itch(port.sent, md):
        subscriber.apply(record)

    journal, exchange, port, datagrams, sessions = open_exchange()
    # The restarted feed goes on with the session (host/marketdata/resume.py): it
    # shows nothing again, and the book its subscribers hold is the recovered one.
    assert not [m for m in _itch(port.sent, md) if m[0] == itch50.ADD_ORDER.code]
    shown = sorted(map(tuple, subscriber.orders.values()))   # symbol, side, price, shares
    resting = sorted((symbol, itch50.BUY if side == 0 else itch50.SELL, price, order.qty)
                     for symbol, sides in books.items() for side, levels in enumerate(sides)
                     for price, orders in levels for order in orders)
    assert shown == resting and len(resting) > 10
    # A new session sells into the best recovered bid of one symbol: the
    # execution names the Add Order the first run's feed showed for it.
    symbol, levels = next((symbol, sides[0]) for symbol, sides in sorted(books.items())
                          if sides[0])
    price, (best, *_) = levels[0]
    ref = min((subscriber.arrival[ref], ref) for ref, (locate, side, at, _)
              in subscriber.orders.items()
              if (locate, side, at) == (symbol, itch50.BUY, price))[1]
    name = next(spec.name for spec in DEFAULT_SYMBOLS if spec.symbol_id == symbol)
    crafted = script_datagrams(f"999 enter_order order_token=1 stock={name} side=SELL "
                               f"shares={best.qty} price={price}")
    port.sent.clear()
    port.inbox = [(as_session(payload, sessions[999]), peers[999])
                  for _, payload in crafted] + datagrams[150:]
    exchange.run(max_orders=51, idle_sleep=0.0005)
    journal.close()
    exchange.close(end_of_day=False)
    executed = [m for m in _itch(port.sent, md) if m[0] == itch50.ORDER_EXECUTED.code]
    assert executed[0][4] == ref and executed[0][5] == best.qty
    engine, _ = recover(directory)
    reference = Reference()
    reference.feed(SENT[:150], 150)
    reference.restart()
    reference.feed(crafted + SENT[150:200], 51)
    assert engine.state_hash() == reference.engine.state_hash()
