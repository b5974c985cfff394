"""Pre-trade risk in a real `gatebook run --config` process: OUCH and FIX clients see each
risk reason as a normal reject, one account never spends another's buying power, the
metrics count the rejects by reason, and after a SIGKILL the restarted process (recovered
from its log) decides the next orders from the balances and holds the first one built."""

import signal
import subprocess
import sys
import time

from gatebook.dpdk_bridge.udp import SocketUdp
from gatebook.host.ouch.inject import script_datagrams
from gatebook.wire import ouch
from gatebook.wire.enums import RejectReason

from ouch_login import as_session, login, outbound, write_accounts
from test_fix_hostile import RawFix
from test_metrics import _renumber, scrape
from test_wal_run import REPO, _free_port, _free_tcp_port

# ACME: prices in 1/10000, 20.00 is 200,000; lot 10. user7 may spend 30,000,000 (150
# shares at 20.00) and hold 500 shares either way; user8 is rich; user9 has no limits.
CONFIG = """
[order_entry]
listen = "127.0.0.1:{udp}"
[fix]
listen = "127.0.0.1:{fix}"
[sessions]
accounts = "accounts.json"
[market_data]
destination = "none"
[metrics]
listen = "127.0.0.1:0"
[log]
directory = "log"

[risk]
[risk.accounts.user7]
buying_power = 30000000
max_position = 500
max_order_qty = 400
max_order_notional = 90000000
[risk.accounts.8]
buying_power = 1000000000000
max_position = 1000000
max_order_qty = 100000
max_order_notional = 1000000000000

[[symbols]]
id = 2
name = "ACME"
tick = 100
lot = 10
price_min = 10000
price_max = 5000000
"""
BEFORE = """
7 enter_order order_token=1 stock=ACME side=BUY shares=410 price=20.00
7 enter_order order_token=2 stock=ACME side=BUY shares=300 price=35.00
7 enter_order order_token=3 stock=ACME side=BUY shares=200 price=20.00
7 enter_order order_token=4 stock=ACME side=BUY shares=100 price=20.00
7 enter_order order_token=5 stock=ACME side=SELL shares=400 price=21.00
9 enter_order order_token=1 stock=ACME side=BUY shares=10 price=20.00
8 enter_order order_token=1 stock=ACME side=BUY shares=1000 price=19.00
"""
# After the restart: user7 has 10,000,000 left (its buy of 100 holds 20,000,000) however
# rich user8 is, and may sell 100 more short; user8's sell fills user7's two buys, after
# which user7's cash (-30,000,000) uses its whole credit.
AFTER = """
7 enter_order order_token=6 stock=ACME side=BUY shares=60 price=20.00
7 enter_order order_token=7 stock=ACME side=BUY shares=50 price=20.00
7 enter_order order_token=8 stock=ACME side=SELL shares=110 price=21.00
7 enter_order order_token=9 stock=ACME side=SELL shares=100 price=21.00
8 enter_order order_token=2 stock=ACME side=SELL shares=150 price=20.00
7 enter_order order_token=10 stock=ACME side=BUY shares=10 price=20.00
"""
_REASON = 1 + [field.name for field in ouch.REJECTED.fields].index("reason")
_TOKEN = 1 + [field.name for field in ouch.REJECTED.fields].index("order_token")


def _start(tmp_path):
    child = subprocess.Popen(
        [sys.executable, "-m", "gatebook.cli", "run", "--config", str(tmp_path / "x.toml"),
         "--seconds", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    lines = []
    while not lines or not lines[-1].startswith("run: metrics on "):
        line = child.stdout.readline()
        assert line, (lines, child.stderr.read())
        lines.append(line)
    host_port = lines[-1].split("http://")[1].split("/")[0]
    return child, (host_port.rpartition(":")[0], int(host_port.rpartition(":")[2]))


def _send(server, script, replies_wanted):
    """Log each user in, send `script`; {(user, token): [reply, ...]} where a reply is a
    message name, or a reject's reason name. A login after a restart resumes the user's
    session from the log: its messages are numbered on from where they were."""
    users = sorted({int(line.split()[0]) for line in script.split("\n") if line.strip()})
    replies = {}
    with SocketUdp() as a, SocketUdp() as b, SocketUdp() as c:
        clients = dict(zip(users, (a, b, c)))
        logins = {user: login(sock, server, user) for user, sock in clients.items()}
        sessions = {user: answer.session for user, answer in logins.items()}
        numbers = {user: answer.next_inbound - 1 for user, answer in logins.items()}
        deadline = time.monotonic() + 20
        for user, payload in script_datagrams(script):
            numbers[user] += 1
            clients[user].send([(as_session(_renumber(payload, numbers[user]),
                                            sessions[user]), server)])
            time.sleep(0.02)            # in order across users: the script's order matters
        while sum(map(len, replies.values())) < replies_wanted and time.monotonic() < deadline:
            for user, sock in clients.items():
                for payload, _ in sock.recv(64):
                    for name, record in outbound(payload)[2]:
                        if name == "rejected":
                            name = RejectReason(record[_REASON]).name
                        token = record[_TOKEN] if name != "executed" else None
                        replies.setdefault((user, token), []).append(name)
            time.sleep(0.01)
    return replies


def test_each_risk_reason_reaches_the_client_and_a_restart_decides_the_same(tmp_path):
    udp, fix = _free_port(), _free_tcp_port()
    (tmp_path / "x.toml").write_text(CONFIG.format(udp=udp, fix=fix))
    write_accounts(tmp_path / "accounts.json", (7, 8, 9))
    server = ("127.0.0.1", udp)
    child, metrics = _start(tmp_path)
    try:
        first = _send(server, BEFORE, 7)
        assert first == {
            (7, 1): ["ORDER_SIZE_LIMIT"], (7, 2): ["ORDER_NOTIONAL_LIMIT"],
            (7, 3): ["INSUFFICIENT_BUYING_POWER"], (7, 4): ["accepted"], (7, 5): ["accepted"],
            (9, 1): ["NO_RISK_LIMITS"], (8, 1): ["accepted"]}, first
        # FIX: the same account's next order is refused for its buying power, with the reason.
        client = RawFix(("127.0.0.1", fix), 7)
        assert client.logon().get(35) == b"A"
        client.send("D", [(11, "F1"), (54, 1), (60, "20260101-00:00:00"), (40, 2), (55, "ACME"),
                          (38, 60), (44, "20.00")])
        report = client.wait(lambda m: m.get(35) == b"8", "the execution report")
        assert (report.get(150), report.get(39)) == (b"8", b"8")      # rejected
        assert report.get(103) == b"3"                  # OrdRejReason: order exceeds limit
        assert b"buying power" in report.get(58), report.get(58)
        client.close()
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)

        child, metrics = _start(tmp_path)
        second = _send(server, AFTER, 10)
        assert second == {
            (7, 6): ["INSUFFICIENT_BUYING_POWER"], (7, 7): ["accepted"],
            (7, 8): ["POSITION_LIMIT"], (7, 9): ["accepted"], (8, 2): ["accepted"],
            (7, None): ["executed", "executed"], (8, None): ["executed", "executed"],
            (7, 10): ["INSUFFICIENT_BUYING_POWER"]}, second
        seen = scrape(metrics)
        # The restarted process counts the recovered rejects too, as the engine counts its own.
        assert {reason: seen[("gatebook_rejects_total", (("reason", reason),))] for reason in (
            "ORDER_SIZE_LIMIT", "ORDER_NOTIONAL_LIMIT", "INSUFFICIENT_BUYING_POWER",
            "POSITION_LIMIT", "NO_RISK_LIMITS")} == {
            "ORDER_SIZE_LIMIT": 1, "ORDER_NOTIONAL_LIMIT": 1, "INSUFFICIENT_BUYING_POWER": 4,
            "POSITION_LIMIT": 1, "NO_RISK_LIMITS": 1}
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=30)
        assert child.returncode == 0, err
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
