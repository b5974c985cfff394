"""Shards as real processes on loopback: routing, a wrong-shard order, a killed shard.

`gatebook run --config FILE --shard all` runs two shards (GATE on A; AAPL and MSFT on
B), each with its own log; a client logs in to both and routes by symbol. Shard A is
killed with SIGKILL: B keeps trading on the same session, A's log recovers (its
logged outputs match the replay) to the state hash the restarted A reports, and
A's orders are still there.
"""

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from ouch_login import write_accounts  # noqa: E402

from gatebook.cli import main  # noqa: E402
from gatebook.dpdk_bridge.udp import SocketUdp  # noqa: E402
from gatebook.host.cli.shards_send import ShardSessions  # noqa: E402
from gatebook.host.ouch.framing import (OUTBOUND_CODEC, decode_datagram,  # noqa: E402
                                        encode_datagram)
from gatebook.host.ouch.inject import log_in  # noqa: E402
from gatebook.host.protocols import shipped_codecs  # noqa: E402
from gatebook.host.shards import load_sharded, shard_config  # noqa: E402
from gatebook.host.wal.recovery import recover  # noqa: E402
from gatebook.wire import ouch  # noqa: E402
from gatebook.wire.enums import RejectReason  # noqa: E402
from gatebook.wire.positions import OUCH  # noqa: E402

_BY_CODE = ouch.OUTBOUND.by_code()


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_config(directory, durability="strict"):
    """A two-shard config with logs in `directory`; its path."""
    accounts = write_accounts(os.path.join(directory, "accounts.json"), [1, 2])
    text = f"""
[sessions]
accounts = "{accounts}"
[log]
durability = "{durability}"
[[symbols]]
id = 1
name = "GATE"
price_min = 100000
price_max = 2000000
[[symbols]]
id = 2
name = "AAPL"
price_min = 500000
price_max = 5000000
[[symbols]]
id = 3
name = "MSFT"
price_min = 500000
price_max = 9000000
[[shards]]
name = "A"
symbols = ["GATE"]
listen = "127.0.0.1:{_free_port()}"
md = "none"
log = "log-a"
[[shards]]
name = "B"
symbols = ["AAPL", "MSFT"]
listen = "127.0.0.1:{_free_port()}"
md = "none"
log = "log-b"
"""
    path = os.path.join(directory, "exchange.toml")
    with open(path, "w") as file:
        file.write(text)
    return path


class Lines:
    """A child's stdout, read line by line (on a thread, so a wait has a deadline) until a
    pattern shows up; `rest()` is what came after, once the child ended."""

    def __init__(self, child):
        self.child, self.seen, self.lines = child, [], queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.child.stdout:
            self.lines.put(line)
        self.lines.put("")

    def until(self, pattern, seconds=60):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            assert line, "the child ended:\n" + "".join(self.seen)
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found
        raise AssertionError(f"no {pattern!r} within {seconds} s:\n" + "".join(self.seen))

    def rest(self):
        out = []
        while (line := self.lines.get(timeout=30)):
            out.append(line)
        return "".join(out)


def _start(*argv):
    child = subprocess.Popen([sys.executable, "-m", "gatebook.cli", *argv],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return child, Lines(child)


def _enter(token, stock, side, price, shares=100):
    return (ouch.ENTER_ORDER.code, token, stock, side, 0, 1, shares, price, 0)   # limit, GTC


def _replies(sock, address, count, seconds=10):
    """The next `count` reply records from `address`, as (message name, record); replies
    from other shards wait in `sock.pending` for their turn."""
    pending = sock.__dict__.setdefault("pending", {})
    deadline = time.monotonic() + seconds
    while len(pending.get(tuple(address), [])) < count and time.monotonic() < deadline:
        for payload, peer in sock.recv(64):
            pending.setdefault(tuple(peer), []).extend(
                (_BY_CODE[r[0]].name, r) for r in decode_datagram(payload, OUTBOUND_CODEC)[2])
        time.sleep(0.002)
    got = pending.get(tuple(address), [])
    taken, pending[tuple(address)] = got[:count], got[count:]
    return taken


def _stop(child, lines, seconds=30):
    """SIGTERM `child`; what it printed after the lines already read."""
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        child.kill()
        raise
    out = lines.rest()
    child.stdout.close()
    return out


def test_a_killed_shard_recovers_its_state_while_the_other_keeps_trading(tmp_path):
    path = write_config(str(tmp_path))
    config, shards = load_sharded(path)
    a, b = shards.shard("A"), shards.shard("B")
    supervisor, lines = _start("run", "--config", path, "--shard", "all")
    try:
        found = lines.until(r"shards: A up \(pid (\d+)\); B up \(pid (\d+)\)")
        pid_a, pid_b = int(found.group(1)), int(found.group(2))
        with SocketUdp("127.0.0.1") as sock:
            client = ShardSessions(sock, shards, "user1", "pw1")
            assert client.send([_enter(1, "GATE", 0, 100_0000), _enter(2, "GATE", 0, 99_0000),
                                _enter(3, "AAPL", 1, 200_0000)]) == 3
            assert [n for n, _ in _replies(sock, a.listen, 2)] == ["accepted"] * 2
            assert [n for n, _ in _replies(sock, b.listen, 1)] == ["accepted"]

            # An order sent to the wrong shard, past the router: rejected, no book touched.
            wrong = encode_datagram(client.sessions["A"], client.next_number["A"],
                                    [_enter(4, "AAPL", 0, 200_0000)])
            client.next_number["A"] += 1
            sock.send([(wrong, a.listen)])
            (name, record), = _replies(sock, a.listen, 1)
            assert name == "rejected"
            assert record[OUCH.REJECTED.reason] == RejectReason.UNKNOWN_SYMBOL

            with SocketUdp("127.0.0.1") as taker_sock:
                taker = ShardSessions(taker_sock, shards, "user2", "pw2")
                os.kill(pid_a, signal.SIGKILL)
                lines.until(r"A exited \(killed by SIGKILL\); B up")
                # B trades on, on the sessions it had, while A is down.
                assert taker.send([_enter(5, "AAPL", 0, 200_0000)]) == 1
                taken = _replies(taker_sock, b.listen, 2)
                assert [n for n, _ in taken] == ["accepted", "executed"], taken
            (name, record), = _replies(sock, b.listen, 1)
            assert name == "executed" and record[OUCH.EXECUTED.order_token] == 3

        # What A's log holds: its outputs match the replay, every command it acknowledged.
        shard_a = shard_config(config, a)
        engine, report = recover(a.log, shard_a.symbols, repair=False, verify_outputs=True,
                                 origin_codecs=shipped_codecs())
        assert report.last_seq == 3            # two orders and the wrong-shard one
        assert engine.rejects == {int(RejectReason.UNKNOWN_SYMBOL): 1}
        expected_hash = engine.state_hash()

        restarted, restart_lines = _start("run", "--config", path, "--shard", "A")
        try:
            found = restart_lines.until(r"run: recovered .*last seq (\d+) .*state hash (\w+)")
            assert (int(found.group(1)), found.group(2)) == (3, expected_hash)
            restart_lines.until(r"^run: backend ")
            with SocketUdp("127.0.0.1") as sock:
                _, session, _, first, _ = log_in(sock, a.listen, "user1", "pw1")
                # the order from before the kill is still in A's book under its token
                sock.send([(encode_datagram(session, first, [(ouch.CANCEL_ORDER.code, 2)]),
                            a.listen)])
                (name, record), = _replies(sock, a.listen, 1)
                assert name == "canceled" and record[OUCH.CANCELED.order_token] == 2
        finally:
            out = _stop(restarted, restart_lines)
        assert "run: shard A: rejects: UNKNOWN_SYMBOL 1" in out, out
        assert os.kill(pid_b, 0) is None       # B never stopped
    finally:
        out = _stop(supervisor, lines)
    assert "[B] run: shard B: rejects: none" in out, out
    assert re.search(r"shards: A exited \(killed by SIGKILL\); B exited \(status 0\)", out), out


SCRIPT = """
1 enter_order order_token=11 stock=GATE side=BUY shares=100 price=100.00
1 enter_order order_token=12 stock=MSFT side=SELL shares=100 price=700.00
1 enter_order order_token=13 stock=IBM side=BUY shares=100 price=100.00
1 cancel_order order_token=99
1 cancel_order order_token=12
"""


def test_the_supervisor_restarts_a_killed_shard_from_its_log(tmp_path, capsys):
    path = write_config(str(tmp_path), durability="batched")
    _, shards = load_sharded(path)
    supervisor, lines = _start("shards", "run", "--config", path, "--restart", "1")
    try:
        found = lines.until(r"shards: A up \(pid (\d+)\); B up")
        script, password = tmp_path / "orders.txt", tmp_path / "password"
        script.write_text(SCRIPT)
        password.write_text("pw1\n")
        assert main(["shards", "send", "--config", path, "--user", "user1", "--password-file",
                     str(password), "--script", str(script), "--wait", "2"]) == 0
        out = capsys.readouterr().out
        assert "shards send: 3 of 5 messages sent as user1" in out, out
        assert re.search(r"A: session 0x[0-9a-f]{8}; replies: accepted 1$", out, re.M), out
        assert re.search(r"B: session 0x[0-9a-f]{8}; replies: accepted 1, canceled 1$", out,
                         re.M), out
        assert "not routed: unknown_symbol 1, unknown_token 1" in out, out
        with SocketUdp("127.0.0.1") as sock:
            client = ShardSessions(sock, shards, "user2", "pw2")
            client.send([_enter(7, "GATE", 1, 150_0000)])
            assert [n for n, _ in _replies(sock, shards.shard("A").listen, 1)] == ["accepted"]
        os.kill(int(found.group(1)), signal.SIGKILL)
        lines.until(r"restarting A \(1 of 1\): it recovers from its own log")
        lines.until(r"\[A\] run: recovered .*: last seq 2 ")
        lines.until(r"shards: A up \(pid \d+, restarted 1x\); B up")
    finally:
        out = _stop(supervisor, lines)
    assert re.search(r"shards: A exited \(status 0\); B exited \(status 0\)", out), out


def test_a_sharded_config_needs_a_shard_and_options_stay_per_shard(tmp_path, capsys):
    path = write_config(str(tmp_path))
    assert main(["run", "--config", path]) == 2
    assert "splits its symbols into shards A, B: give --shard NAME" in capsys.readouterr().err
    assert main(["run", "--config", path, "--shard", "C"]) == 2
    assert "no shard 'C' in the shard map (shards: A, B)" in capsys.readouterr().err
    assert main(["run", "--config", path, "--shard", "all", "--listen", "127.0.0.1:1"]) == 2
    assert "--listen is a shard's own" in capsys.readouterr().err
    for shard in ("A", "all"):
        assert main(["run", "--shard", shard, "--accounts", "x"]) == 2
        assert "--shard needs --config FILE" in capsys.readouterr().err
    assert main(["shards", "show", "--config", path]) == 0
    shown = capsys.readouterr().out
    assert re.search(r"A: GATE; orders 127\.0\.0\.1:\d+; market data none; log .*log-a", shown)
    assert re.search(r"B: AAPL, MSFT; orders", shown)


@pytest.mark.parametrize("argv", [["shards", "show"], ["shards", "run"]])
def test_a_config_without_shards_is_refused_by_the_shard_commands(tmp_path, capsys, argv):
    plain = tmp_path / "plain.toml"
    plain.write_text("[order_entry]\nburst = 8\n")
    assert main([*argv, "--config", str(plain)]) == 2
    assert "has no [[shards]]" in capsys.readouterr().err
