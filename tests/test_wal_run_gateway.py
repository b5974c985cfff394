"""`gatebook run --log` keeps the gateway's state across a SIGKILL: real processes.

A client (session 11) rests three orders and reads their acceptances; the
exchange is SIGKILLed and restarted on its log (or its standby promotes and
runs in its place). After the restart, as if it had never stopped:

1. a cancel naming a pre-restart token cancels that order, and the client
   gets CANCELED with its token; a replace of another gets REPLACED with the
   new token and the old one;
2. a retransmitted pre-restart datagram is dropped as a duplicate: no second
   order, no reply;
3. the client continues its numbering and no gap is counted;
4. another session's order executes against a pre-restart resting order and
   its owner gets EXECUTED with its token, at the address it last sent from;
5. each session's reply numbers continue where they were.

Sessions do not survive a restart (they live in the process): the old
session id is refused as unknown, and the client logs in again; the login
says where its numbering goes on (next inbound 4, next reply 4).
"""

import os
import signal
import subprocess
import sys

import pytest

from gatebook.dpdk_bridge.udp import SocketUdp
from gatebook.wire import ouch
from gatebook.host.ouch.framing import OUTBOUND_CODEC, decode_datagram, encode_datagram
from gatebook.host.wal.recovery import recover

from gatebook.wire.enums import OrderEntryProtocol, SessionRefusal
from ouch_login import FlowClient, login, outbound
from test_wal_run import REPO, _drain, _free_port, _free_tcp_port, _start
from waiting import wait_for

_O, _U, _X = ouch.ENTER_ORDER.code, ouch.REPLACE_ORDER.code, ouch.CANCEL_ORDER.code
_ACCEPTED, _CANCELED, _REPLACED, _EXECUTED = (ouch.ACCEPTED.code, ouch.CANCELED.code,
                                              ouch.REPLACED.code, ouch.EXECUTED.code)
OWNER, TAKER = 11, 12
BUY, SELL = 0, 1


def _enter(token, side, shares, price):
    return (_O, token, "GATE", side, 0, 0, shares, price, 0)


BEFORE = [encode_datagram(OWNER, 1, [_enter(100, BUY, 100, 100_0000)]),
          encode_datagram(OWNER, 2, [_enter(101, BUY, 50, 99_0000)]),
          encode_datagram(OWNER, 3, [_enter(102, SELL, 10, 105_0000)])]
AFTER = [BEFORE[0],                                               # a retransmission
         encode_datagram(OWNER, 4, [(_X, 101)]),
         encode_datagram(OWNER, 5, [(_U, 102, 103, 5, 105_0000)])]
TAKE = encode_datagram(TAKER, 1, [_enter(1, SELL, 100, 100_0000)])


def _replies(payloads):
    """(session, reply number, record) of every reply message."""
    out = []
    for payload in payloads:
        session, first, records = decode_datagram(payload, OUTBOUND_CODEC)
        out += [(session, first + index, record) for index, record in enumerate(records)]
    return out


def _send(flow, payloads, want):
    flow.send([(flow.users[0], payload) for payload in payloads])
    return _replies(_drain(flow.sock, lambda got: len(_replies(got)) >= want, seconds=5))


def _before(port):
    owner = FlowClient(SocketUdp(), ("127.0.0.1", port), [OWNER])
    got = _send(owner, BEFORE, 3)
    assert [(s, n, r[0], r[2]) for s, n, r in got] == [
        (OWNER, 1, _ACCEPTED, 100), (OWNER, 2, _ACCEPTED, 101), (OWNER, 3, _ACCEPTED, 102)]
    return owner


def _after(owner, port, child):
    """Steps 1-5 against the restarted exchange `child`; its summary output."""
    old = owner.sessions[OWNER]
    owner.sock.send([(encode_datagram(old, 4, [(_X, 101)]), ("127.0.0.1", port))])
    refused = _drain(owner.sock, lambda got: len(got) >= 1, seconds=5)
    assert [m[0] for m in outbound(refused[0])[2]] == ["refused"], refused
    assert outbound(refused[0])[2][0][1][1] == SessionRefusal.UNKNOWN_SESSION
    again = login(owner.sock, ("127.0.0.1", port), OWNER)
    assert (again.next_inbound, again.next_outbound) == (4, 4), again
    owner.sessions[OWNER] = again.session
    with SocketUdp() as sock:
        taker = FlowClient(sock, ("127.0.0.1", port), [TAKER])
        got = _send(owner, AFTER, 2)
        assert [(s, n, r[0]) for s, n, r in got] == [(OWNER, 4, _CANCELED),
                                                      (OWNER, 5, _REPLACED)], got
        canceled, replaced = got[0][2], got[1][2]
        assert canceled[2] == 101 and canceled[3] == 50                 # token, shares
        assert (replaced[2], replaced[3], replaced[4]) == (103, 102, 5)  # new, previous, shares
        taken = _send(taker, [TAKE], 2)
        assert [(s, n, r[0]) for s, n, r in taken] == [(TAKER, 1, _ACCEPTED),
                                                        (TAKER, 2, _EXECUTED)], taken
        executed = _replies(_drain(owner.sock, lambda got: len(_replies(got)) >= 1, seconds=5))
        assert [(s, n, r[0]) for s, n, r in executed] == [(OWNER, 6, _EXECUTED)], executed
        record = executed[0][2]
        assert (record[2], record[3], record[4]) == (100, 100, 100_0000)  # token, shares, price
    child.send_signal(signal.SIGTERM)
    out, err = child.communicate(timeout=20)
    assert child.returncode == 0, err
    assert "duplicates 1, gap messages 0" in out, out
    owner.sock.close()
    return out


def _check_log(directory):
    engine, report = recover(directory, verify_outputs=True)
    # Four orders ever: the retransmission made none, the replace keeps its id.
    assert len(engine.used_ids) == 4, sorted(engine.used_ids)
    # The replace moved the order to token 103; 101 was cancelled and 100 filled: both
    # tokens are forgotten, so the gateway's state holds the live order only.
    gateway = report.states[OrderEntryProtocol.OUCH]
    assert gateway.order_ids == {(OWNER, 103): 3}
    assert gateway.owners == {3: (OWNER, 103)}
    assert gateway.expected[OWNER] == 6 and gateway.sequences[OWNER] == 7
    return engine


@pytest.mark.parametrize("from_snapshot", [False, True], ids=["log", "snapshot"])
def test_a_restart_keeps_tokens_session_numbers_and_reply_numbers(tmp_path, from_snapshot):
    """SIGKILLed and restarted on its log; with --snapshot-every 2 the restart loads the
    gateway's state from a snapshot taken between bursts, then replays the tail."""
    directory = str(tmp_path / "log")
    port = _free_port()
    options = ("--snapshot-every", "2") if from_snapshot else ("--durability", "strict")
    child, _ = _start(directory, port, *options)
    owner = None
    try:
        owner = _before(port)
        if from_snapshot:                   # a snapshot is written once its log is durable
            wait_for(lambda: any(name.endswith(".snap") for name in os.listdir(directory)),
                     f"a snapshot in {directory}")
        child.send_signal(signal.SIGKILL)
        child.communicate()
        child, lines = _start(directory, port)
        said = "".join(lines)
        if from_snapshot:
            assert "snapshot seq" in said and "order entry restored: ouch: 3 client tokens" in said, said
        else:
            assert "run: order entry restored: ouch: 3 client tokens, 1 sessions;" in said, said
            assert "(3 replayed commands came from order entry)" in said, said
        _after(owner, port, child)
    finally:
        if owner is not None:
            owner.sock.close()
        if child.poll() is None:
            child.kill()
            child.communicate()
    _check_log(directory)


def test_a_promoted_standby_keeps_them(tmp_path):
    primary_dir, standby_dir = str(tmp_path / "primary"), str(tmp_path / "standby")
    port, replication = _free_port(), _free_tcp_port()
    secret = tmp_path / "secret"
    secret.write_bytes(os.urandom(32))
    secret.chmod(0o600)
    primary, _ = _start(primary_dir, port, "--standby-listen", f"127.0.0.1:{replication}",
                        "--replication-secret", str(secret))
    standby = new_primary = owner = None
    try:
        standby = subprocess.Popen(
            [sys.executable, "-m", "gatebook.cli", "standby", "--connect",
             f"127.0.0.1:{replication}", "--dir", standby_dir, "--heartbeat-timeout", "0.5",
             "--replication-secret", str(secret)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
        assert standby.stdout.readline().startswith("following 127.0.0.1:")
        owner = _before(port)                   # synchronous: the standby holds all three
        primary.send_signal(signal.SIGKILL)
        primary.communicate()
        out, err = standby.communicate(timeout=20)
        assert standby.returncode == 0 and "promoted:" in out, err
        new_primary, lines = _start(standby_dir, port)
        said = "".join(lines)
        assert "epoch 2" in said and "order entry restored: ouch: 3 client tokens" in said, said
        _after(owner, port, new_primary)
    finally:
        if owner is not None:
            owner.sock.close()
        for process in (primary, standby, new_primary):
            if process is not None and process.poll() is None:
                process.kill()
                process.communicate()
    _check_log(standby_dir)
