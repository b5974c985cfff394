"""The ledger writer as a real process and beside a running exchange (SQLite).

- Under load: an exchange logs a seeded stream on one thread while two writers, each with
  its own connection, apply the same log to the same database; then while the database is
  held locked by another connection for the whole run (the exchange must not notice).
- SIGKILL: `gatebook ledger run` killed at random moments and restarted; every execution
  ends up in the ledger exactly once.
In every case the ledger must equal what a golden engine replay of the same commands implies.
"""

import random
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from gatebook.host.ledger import LedgerStore, LedgerWriter, open_store
from gatebook.host.ledger.bench import write_seeded_log

from test_ledger import FEES, engine_balances, ledger_url, seeded_log  # noqa: F401 - a fixture
from waiting import wait_for


def _exchange_in_thread(log, commands):
    done = threading.Event()

    def produce():
        try:
            write_seeded_log(log, commands, policy="batched")
        finally:
            done.set()
    thread = threading.Thread(target=produce, name="exchange")
    thread.start()
    return thread, done


def _assert_ledger_is_the_replay(store, commands):
    cash, positions, executions = engine_balances(commands, FEES)
    where, db_cash, db_positions, match_ids, unbalanced = store.audit()
    assert where.applied_seq == commands
    assert len(match_ids) == len(set(match_ids)) == executions == where.executions
    assert (db_cash, db_positions) == (cash, positions)
    assert unbalanced == []


def test_two_writers_follow_a_running_exchange_exactly_once(tmp_path):
    log, url = str(tmp_path / "log"), ledger_url(tmp_path)
    write_seeded_log(log, 1)                            # the directory exists before they start
    writers = [LedgerWriter(log, open_store(url), fees=FEES, batch_commands=150,
                            poll_seconds=0.002).start() for _ in range(2)]
    exchange, done = _exchange_in_thread(log, 5000)
    try:
        done.wait(120)
        for writer in writers:
            wait_for(lambda: writer.status().applied_seq == 5000, "each writer to reach seq 5000",
                     seconds=120)
    finally:
        exchange.join()
        for writer in writers:
            writer.stop()
    for writer in writers:                              # at most the other writer got ahead
        assert writer.status().problem is None or "another writer" in writer.status().problem
    assert sum(writer.status().executions for writer in writers) == engine_balances(5000, FEES)[2]
    _assert_ledger_is_the_replay(open_store(url), 5000)


def test_a_locked_database_never_holds_the_exchange_back_and_is_caught_up_after(tmp_path):
    log, url = str(tmp_path / "log"), ledger_url(tmp_path)
    write_seeded_log(log, 1)
    open_store(url).close()                             # migrated, then locked by another client
    blocker = sqlite3.connect(str(tmp_path / "ledger.db"), isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    writer = LedgerWriter(log, LedgerStore(url, connect_timeout=0.05),
                          fees=FEES, batch_commands=500).start()
    try:
        started = time.monotonic()
        write_seeded_log(log, 6000, policy="batched")   # matching and logging go on
        logged_in = time.monotonic() - started
        status = writer.status()
        assert status.applied_seq == 0 and status.database != "up"
        assert status.errors.get("database_unavailable") == 1
        blocker.execute("ROLLBACK")
        wait_for(lambda: writer.status().applied_seq == 6000, "the writer to catch up", 120)
    finally:
        writer.stop()
        blocker.close()
    assert writer.status().database == "up"
    assert logged_in < 60
    _assert_ledger_is_the_replay(open_store(url), 6000)


def test_the_writer_sigkilled_mid_run_and_restarted_applies_everything_once(
        seeded_log, tmp_path):  # noqa: F811
    """Three kills on the shared 6,000-command log; the long run: five on 10,000."""
    _kill_and_restart_the_writer(seeded_log, 6000, tmp_path, kill_at_most=3)


@pytest.mark.long
def test_the_writer_sigkilled_mid_run_and_restarted_applies_everything_once_long(tmp_path):
    log = str(tmp_path / "log")
    write_seeded_log(log, 10_000)
    _kill_and_restart_the_writer(log, 10_000, tmp_path, kill_at_most=5)


def _kill_and_restart_the_writer(log, total, tmp_path, kill_at_most):
    url = ledger_url(tmp_path)
    rng = random.Random(14)
    store = open_store(url)
    kills = 0
    command = [sys.executable, "-m", "gatebook.cli", "ledger", "run", "--log", log, "--db", url,
               "--batch", "200", "--status-every", "0"]
    fees = tmp_path / "fees.toml"
    fees.write_text("[buy_maker]\nrate_ppm = -10\n[sell_maker]\nper_share = -1\n[buy_taker]\n"
                    "rate_ppm = 30\n[sell_taker]\nper_share = 2\nrate_ppm = 5\n")
    command += ["--fees", str(fees)]
    while kills < kill_at_most:
        before = store.cursor().applied_seq
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            # Let it apply something, then kill it at a random moment of its work.
            wait_for(lambda: store.cursor().applied_seq > before, "the writer to apply a batch",
                     60, poll=0.001)
            time.sleep(rng.uniform(0, 0.05))
        finally:
            child.kill()
            _, errors = child.communicate()
        assert b"Traceback" not in errors
        kills += 1
        if store.cursor().applied_seq == total:
            break
    assert store.cursor().applied_seq < total, "every kill came too late to test anything"
    finished = subprocess.run(command + ["--once"], capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    _assert_ledger_is_the_replay(store, total)
