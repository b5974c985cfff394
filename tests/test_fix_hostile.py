"""Hostile FIX clients: garbage, bad framing, huge messages, silence, logon floods, id floods.

Raw TCP sockets on loopback against a `FixEntry` an exchange polls on its own thread.
Each bad input is counted by kind and answered or cut; the exchange never stops
serving, and no client reaches another user's orders. Messages are built and read with
simplefix, not with host/fix's own codec.
"""

import socket
import time

import pytest
import simplefix

from gatebook.host.clock import WallClock
from gatebook.host.fix import FixEntry
from gatebook.host.net.exchange_server import Exchange
from gatebook.host.symbols import DEFAULT_SYMBOLS

from fix_peer.driver import ExchangeThread
from ouch_login import accounts
from waiting import wait_for


class RawFix:
    """A FIX client by hand: simplefix messages over a blocking socket."""

    def __init__(self, address, user=7, password=None):
        self.sock = socket.create_connection(address, timeout=5)
        self.user, self.password = user, password or f"pw{user}"
        self.seq, self.parser, self.got = 1, simplefix.FixParser(), []

    def message(self, msg_type, body=(), seq=None):
        message = simplefix.FixMessage()
        message.append_pair(8, "FIX.4.4", header=True)
        message.append_pair(35, msg_type, header=True)
        message.append_pair(49, f"C{self.user}", header=True)
        message.append_pair(56, "GATEBOOK", header=True)
        message.append_pair(34, self.seq if seq is None else seq, header=True)
        message.append_utc_timestamp(52, header=True)
        for tag, value in body:
            message.append_pair(tag, value)
        if seq is None:
            self.seq += 1
        return message.encode()

    def send(self, msg_type, body=()):
        self.sock.sendall(self.message(msg_type, body))

    def logon(self):
        self.send("A", [(98, 0), (108, 30), (553, f"user{self.user}"), (554, self.password)])
        return self.wait(lambda m: m.get(35) in (b"A", b"5"), "the logon's answer")

    def read(self):
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return True
        except ConnectionResetError:
            return False
        if not data:
            return False
        self.parser.append_buffer(data)
        while (message := self.parser.get_message()) is not None:
            self.got.append(message)
        return True

    def wait(self, test, what, seconds=10.0):
        deadline = time.monotonic() + seconds
        self.sock.settimeout(0.05)
        while time.monotonic() < deadline:
            for message in self.got:
                if test(message):
                    return message
            if not self.read():
                break
        for message in self.got:
            if test(message):
                return message
        raise AssertionError(f"no {what}; got {[m.pairs for m in self.got][-5:]}")

    def closed(self, seconds=10.0):
        """True once the exchange has closed the connection."""
        deadline = time.monotonic() + seconds
        self.sock.settimeout(0.05)
        while time.monotonic() < deadline:
            try:
                if not self.sock.recv(65536):
                    return True
            except socket.timeout:
                continue
            except ConnectionResetError:
                return True
        return False

    def close(self):
        self.sock.close()


@pytest.fixture
def served():
    """(FixEntry, address) on an exchange polled by a thread; stopped after."""
    fix = FixEntry(("127.0.0.1", 0), accounts((7, 8)), check_in_thread=False,
                   logon_timeout=0.3, max_connections=8, max_live_orders=50)
    exchange = Exchange(None, DEFAULT_SYMBOLS, WallClock(), order_entry=fix)
    loop = ExchangeThread(exchange)
    clients = []

    def client(*args, **kwargs):
        made = RawFix(fix.address, *args, **kwargs)
        clients.append(made)
        return made
    yield fix, client
    for made in clients:
        made.close()
    loop.stop()
    exchange.close()


def _still_serves(client):
    good = client(8)
    assert good.logon().get(35) == b"A"
    good.send("0")
    good.close()


@pytest.mark.parametrize("kind, payload", [
    ("garbage", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("begin_string", b"8=FIX.4.2\x019=5\x0135=0\x0110=000\x01"),
    ("too_large", b"8=FIX.4.4\x019=99999\x0135=A\x01"),
    ("checksum", None), ("body_length", None)])
def test_bad_framing_is_counted_and_cut(served, kind, payload):
    fix, client = served
    bad = client()
    if payload is None:
        good = bad.message("0")
        if kind == "checksum":
            payload = good[:-4] + b"%03d\x01" % ((int(good[-4:-1]) + 1) % 256)
        else:
            length = int(good.split(b"\x01")[1][2:])
            payload = good.replace(b"9=%d\x01" % length, b"9=%d\x01" % (length - 3), 1)
    bad.sock.sendall(payload)
    assert bad.closed(), f"{kind}: the connection stays open"
    wait_for(lambda: fix.bad[kind] == 1, f"{kind} counted")
    _still_serves(client)


def test_silence_without_a_logon_is_cut_and_connections_are_capped(served):
    fix, client = served
    silent = client()
    assert silent.closed()
    assert fix.bad["logon_timeout"] >= 1
    crowd = [client() for _ in range(12)]
    wait_for(lambda: fix.bad["too_many_connections"] >= 4, "connections over the cap refused")
    for made in crowd:
        made.close()
    wait_for(lambda: fix.bad["logon_timeout"] >= 9 or not fix.connections, "the crowd gone")
    _still_serves(client)


def test_a_logon_flood_locks_out_the_guessed_name_only(served):
    fix, client = served
    for _ in range(8):
        guess = client(7, password="guess")
        answer = guess.logon()
        assert answer.get(35) == b"5"
        guess.close()
    assert fix.logons["wrong_password"] == 5 and fix.logons["too_many_tries"] == 3
    _still_serves(client)                   # user8 from the same address logs on


def test_bad_messages_get_a_reject_with_a_reason_and_users_stay_apart(served):
    fix, client = served
    seven = client(7)
    assert seven.logon().get(35) == b"A"
    seven.send("D", [(11, "A1"), (54, 1), (60, "20260101-00:00:00"), (55, "GATE"),
                     (38, 10), (44, "100.00")])              # OrdType 40 missing
    reject = seven.wait(lambda m: m.get(35) == b"3", "the session Reject")
    assert (reject.get(373), reject.get(371)) == (b"1", b"40")
    seven.send("D", [(11, "A2"), (54, 1), (60, "20260101-00:00:00"), (40, 2), (55, "GATE"),
                     (38, 10), (44, "100.00")])
    seven.wait(lambda m: m.get(35) == b"8" and m.get(11) == b"A2", "A2's New")
    eight = client(8)
    assert eight.logon().get(35) == b"A"
    eight.send("F", [(11, "X"), (41, "A2"), (54, 1), (60, "20260101-00:00:00"), (55, "GATE")])
    refused = eight.wait(lambda m: m.get(35) == b"9", "the cancel reject")
    assert refused.get(102) == b"1"         # unknown order: user 7's ClOrdID is not user 8's
    time.sleep(0.2)
    seven.read()
    assert not [m for m in seven.got if m.get(11) == b"X"]
    assert fix.state.ids == {(7, "A2"): 1} and fix.bad["session_reject"] == 1


def test_a_flood_of_clordids_stops_at_the_live_order_limit(served):
    fix, client = served
    flood = client(7)
    assert flood.logon().get(35) == b"A"
    burst = b"".join(flood.message("D", [(11, f"F{n}"), (54, 1), (60, "20260101-00:00:00"),
                                         (40, 2), (55, "GATE"), (38, 1), (44, "50.00")])
                     for n in range(2000))
    flood.sock.sendall(burst)
    flood.wait(lambda m: m.get(11) == b"F1999", "the last answer", seconds=60)
    assert len(fix.state.ids) == 50 and fix.bad["live_orders"] == 1950
    assert b"live-order limit" in flood.got[-1].get(58)
    _still_serves(client)


def flood_clordids(fix, client, count, chunk=5000):
    """Send `count` NewOrderSingles with fresh ClOrdIDs while a thread reads every answer;
    (answers read, seconds)."""
    import threading
    flood = client(7)
    assert flood.logon().get(35) == b"A"
    answers, done = [0], threading.Event()

    def read():
        parser = simplefix.FixParser()
        flood.sock.settimeout(30)
        while answers[0] < count:
            data = flood.sock.recv(1 << 20)
            if not data:
                break
            parser.append_buffer(data)
            while (message := parser.get_message()) is not None:
                answers[0] += message.get(35) == b"8"
        done.set()
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    start = time.monotonic()
    for first in range(0, count, chunk):
        flood.sock.sendall(b"".join(flood.message("D", [
            (11, f"F{n}"), (54, 1), (60, "20260101-00:00:00"), (40, 2), (55, "GATE"), (38, 1),
            (44, "50.00")]) for n in range(first, min(count, first + chunk))))
    done.wait(count / 1000 + 60)
    return answers[0], time.monotonic() - start


@pytest.mark.long
@pytest.mark.timeout(3600)      # about 1,100 messages a second here: simplefix parses each
def test_a_million_clordids_are_answered_and_held_to_the_limit(served):
    fix, client = served
    answered, seconds = flood_clordids(fix, client, 1_000_000)
    assert answered == 1_000_000, f"{answered} answers in {seconds:.0f} s"
    assert len(fix.state.ids) == 50 and fix.bad["live_orders"] == 1_000_000 - 50
    _still_serves(client)
