"""A restart of `gatebook run --log --fix` with the QuickFIX session going on: real processes.

The QuickFIX initiator (tests/fix_peer/) stays up while the exchange stops (SIGTERM)
and starts again on the same log; it reconnects by itself, and the session goes on:
no sequence reset, no "MsgSeqNum too low", the ClOrdIDs of orders entered before the
restart still name them, and no order id is used twice.
"""

import signal
import subprocess
import sys

from gatebook.host.fix.entry import RESTART_SKIP

from fix_peer.driver import QuickFixPeer
from ouch_login import write_accounts
from test_wal_run import REPO, _free_port, _free_tcp_port


def _start(directory, accounts, udp_port, fix_port):
    child = subprocess.Popen(
        [sys.executable, "-m", "gatebook.cli", "run", "--listen", f"127.0.0.1:{udp_port}",
         "--md", "none", "--log", directory, "--seconds", "60", "--accounts", accounts,
         "--fix", f"127.0.0.1:{fix_port}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    lines = []
    while True:
        line = child.stdout.readline()
        assert line, (lines, child.stderr.read())
        lines.append(line)
        if line.startswith("run: FIX 4.4 on"):
            return child, lines


def _stop(child):
    child.send_signal(signal.SIGTERM)
    out, err = child.communicate(timeout=30)
    assert child.returncode == 0, err
    return out


def test_the_fix_session_and_its_clordids_survive_a_restart_from_the_log(tmp_path):
    directory, accounts = str(tmp_path / "log"), str(tmp_path / "accounts.json")
    write_accounts(accounts, (7,))
    udp_port, fix_port = _free_port(), _free_tcp_port()
    child, _ = _start(directory, accounts, udp_port, fix_port)
    peer = QuickFixPeer(("127.0.0.1", fix_port), "CLIENT7", "user7", "pw7", tmp_path / "qf")
    try:
        peer.wait_line(lambda line: line == "LOGON", "the logon")
        peer.command("new K1 GATE 1 10 2 95.00 - 0")
        peer.command("new K2 GATE 1 5 2 94.00 - 1")
        first = peer.wait_report(lambda f: f[11] == "K2" and f[150] == "0", "K2's New")
        before = peer.reports()
        # A session message after the last logged command: its number is in no log.
        peer.command("raw 35=1|112=last-words")
        peer.wait_line(lambda line: "|112=last-words|" in line and "|35=0|" in line,
                       "the Heartbeat answering the TestRequest")
        summary = _stop(child)
        assert "run: FIX: 2 order messages; logons: accepted 1" in summary
        peer.wait_line(lambda line: line == "LOGOUT", "the connection's end")

        child, lines = _start(directory, accounts, udp_port, fix_port)
        restored = "".join(lines)
        assert "fix: 2 ClOrdIDs of live orders, 1 FIX sessions" in restored, restored
        start = len(peer.lines)
        peer.wait_line(lambda line: line == "LOGON", "the logon after the restart",
                       start=start)
        peer.command("cancel X1 K1 GATE 1")
        cancelled = peer.wait_report(lambda f: f[11] == "X1" and f[150] == "4", "K1's cancel")
        peer.command("new K3 GATE 1 1 2 93.00 - 0")
        new = peer.wait_report(lambda f: f[11] == "K3" and f[150] == "0", "K3's New")
        after = peer.lines[start:]
        # The session went on: numbers continue, nothing was reset or refused.
        assert not [line for line in after if "|35=5|" in line or "|141=Y|" in line], after
        assert cancelled[41] == "K1" and cancelled[37] == before[0][37]
        assert int(cancelled[34]) > int(first[34]) + RESTART_SKIP      # gap-filled
        assert new[37] not in {report[37] for report in before}
        # One logon after the restart did it: the exchange's numbers never went below
        # what the client saw (the Heartbeat above is in no log), nothing was refused.
        summary = _stop(child)
        assert "logons: accepted 1; refused: none" in summary, summary
    finally:
        peer.close()
        if child.poll() is None:
            child.kill()
            child.communicate()
