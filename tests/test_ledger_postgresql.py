"""The ledger on a real PostgreSQL server, started by the tests in their own directory.

Debian's initdb/pg_ctl (host/ledger/pgcluster.py) run a throwaway cluster on a free
loopback port; each test gets its own database. Skipped, saying why, only when the server
binaries are not installed (scripts/bootstrap installs them).
"""

import json
import subprocess
import sys
import threading
import time

import psycopg
import pytest

from gatebook.host.ledger import LedgerStore, LedgerWriter, open_store, reconcile
from gatebook.host.ledger.bench import write_seeded_log
from gatebook.host.ledger.migrate import SCHEMA_VERSION, SchemaTooNew
from gatebook.host.ledger.pgcluster import TemporaryCluster, find_binaries

from test_ledger import FEES, seeded_log  # noqa: F401 - seeded_log is a fixture
from test_ledger_writer import _assert_ledger_is_the_replay
from waiting import wait_for

pytestmark = pytest.mark.skipif(find_binaries() is None,
                                reason="PostgreSQL's initdb/pg_ctl are not installed "
                                       "(Debian package postgresql; scripts/bootstrap)")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with TemporaryCluster(str(tmp_path_factory.mktemp("pg"))) as server:
        yield server


@pytest.fixture
def database(cluster, request):
    """The URL of a fresh database for this test."""
    name = "ledger_" + request.node.name.lower().replace("test_", "")[:40]
    with psycopg.connect(cluster.url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    return cluster.url.rsplit("/", 1)[0] + "/" + name


def _fees_file(tmp_path):
    """FEES (test_ledger.py) as the TOML file `gatebook ledger run --fees` reads."""
    path = tmp_path / "fees.toml"
    path.write_text("[buy_maker]\nrate_ppm = -10\n[sell_maker]\nper_share = -1\n[buy_taker]\n"
                    "rate_ppm = 30\n[sell_taker]\nper_share = 2\nrate_ppm = 5\n")
    return str(path)


def test_migrations_are_versioned_and_applied_once(database):
    with open_store(database) as store:
        cursor = store.connection.execute("SELECT version, name FROM schema_version")
        assert cursor.fetchall() == [(1, "ledger"), (2, "fee_schedule")] and SCHEMA_VERSION == 2
        open_store(database).close()                    # again: nothing to do
        assert store.connection.execute("SELECT COUNT(*) FROM schema_version").fetchone() == (2,)
        store.connection.execute("INSERT INTO schema_version VALUES (99, 'future', 0)")
        with pytest.raises(SchemaTooNew, match="schema version 99"):
            open_store(database)


def test_postgresql_ledger_is_the_replay_and_reconciles(seeded_log, database):  # noqa: F811
    with open_store(database) as store, open_store(database) as second:
        status = LedgerWriter(seeded_log, store, fees=FEES, batch_commands=800).catch_up()
        assert (status.applied_seq, status.problem) == (6000, None)
        _assert_ledger_is_the_replay(store, 6000)
        assert reconcile(seeded_log, store, FEES)[1] == []
        again = LedgerWriter(seeded_log, second, fees=FEES).catch_up()
        assert again.executions == 0                    # a restart applies nothing twice
        _assert_ledger_is_the_replay(store, 6000)


# The long run (--run-long) adds the full-size flows.
LONG = pytest.mark.long


@pytest.mark.parametrize("total", [2000, pytest.param(5000, marks=LONG)])
def test_two_writers_beside_a_running_exchange_apply_each_execution_once(tmp_path, database,
                                                                         total):
    log = str(tmp_path / "log")
    write_seeded_log(log, 1)
    writers = [LedgerWriter(log, open_store(database), fees=FEES, batch_commands=150,
                            poll_seconds=0.002).start() for _ in range(2)]
    try:
        write_seeded_log(log, total, policy="batched")
        for writer in writers:
            wait_for(lambda: writer.status().applied_seq == total, "each writer to reach the end",
                     120)
    finally:
        for writer in writers:
            writer.close()
    with open_store(database) as store:
        _assert_ledger_is_the_replay(store, total)


@pytest.mark.parametrize("before_stop, total", [(1000, 3000),
                                                pytest.param(2000, 6000, marks=LONG)])
def test_the_server_stopped_and_started_during_a_run_loses_nothing(tmp_path, cluster, database,
                                                                    before_stop, total):
    log = str(tmp_path / "log")
    write_seeded_log(log, before_stop)
    writer = LedgerWriter(log, LedgerStore(database, connect_timeout=1), fees=FEES,
                          batch_commands=200, poll_seconds=0.005).start()
    produced = threading.Event()
    try:
        wait_for(lambda: writer.status().applied_seq >= before_stop // 2,
                 "the writer to get going", 60)
        cluster.stop("immediate")                       # as if the server crashed
        stopped_at = writer.status().applied_seq

        def exchange():
            write_seeded_log(log, total, policy="batched")  # the exchange goes on meanwhile
            produced.set()
        thread = threading.Thread(target=exchange)
        thread.start()
        wait_for(lambda: writer.status().database != "up", "the writer to notice", 30)
        time.sleep(0.3)
        assert writer.status().applied_seq == stopped_at
        cluster.start()
        thread.join()
        wait_for(lambda: writer.status().applied_seq == total, "the writer to catch up", 120)
    finally:
        writer.close()
    status = writer.status()
    assert status.database == "up" and status.errors.get("database_unavailable", 0) >= 1
    assert produced.is_set()
    with open_store(database) as store:
        _assert_ledger_is_the_replay(store, total)


def test_the_writer_sigkilled_inside_a_transaction_and_restarted(
        seeded_log, tmp_path, database):  # noqa: F811
    """Two kills on the shared 6,000-command log; the long run: four on 10,000."""
    _kill_inside_transactions(seeded_log, 6000, tmp_path, database, kills=2)


@pytest.mark.long
def test_the_writer_sigkilled_inside_a_transaction_and_restarted_long(tmp_path, database):
    log = str(tmp_path / "log")
    write_seeded_log(log, 10_000)
    _kill_inside_transactions(log, 10_000, tmp_path, database, kills=4)


def _kill_inside_transactions(log, total, tmp_path, database, kills):
    url = database + "?application_name=gatebook-ledger-under-test"
    command = [sys.executable, "-m", "gatebook.cli", "ledger", "run", "--log", log, "--db", url,
               "--batch", "300", "--status-every", "0"]
    command += ["--fees", _fees_file(tmp_path)]
    watcher = psycopg.connect(database, autocommit=True)
    store = open_store(database)

    def in_transaction():
        # The writer's backend is inside a batch's transaction (its last statement moved
        # the cursor or wrote rows, and no COMMIT yet): the batch is not committed.
        return watcher.execute(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = "
            "'gatebook-ledger-under-test' AND state IN ('active', 'idle in transaction') AND "
            "(query LIKE 'UPDATE ledger_cursor%%' OR query LIKE 'COPY %%' "
            "OR query LIKE 'INSERT INTO %%')").fetchone()[0]

    killed_inside = 0
    for _ in range(kills):
        before = store.cursor().applied_seq
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            # A batch committed in this run, then the next one caught before its commit.
            wait_for(lambda: store.cursor().applied_seq > before, "a batch to commit", 60,
                     poll=0.0005)
            wait_for(in_transaction, "the writer to open a batch's transaction", 60, poll=0.0005)
            killed_inside += 1
        finally:
            child.kill()
            _, errors = child.communicate()
        assert b"Traceback" not in errors
        where, _, _, match_ids, unbalanced = store.audit()
        assert len(match_ids) == where.executions and not unbalanced   # never half a batch
    assert killed_inside == kills and store.cursor().applied_seq < total
    finished = subprocess.run(command + ["--once"], capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    watcher.close()
    _assert_ledger_is_the_replay(store, total)
    store.close()


def test_ledger_run_started_while_the_server_is_down_catches_up_when_it_is_back(
        tmp_path, cluster, database):
    log = str(tmp_path / "log")
    write_seeded_log(log, 3000)
    status_file = tmp_path / "status.json"
    cluster.stop()
    child = subprocess.Popen([sys.executable, "-m", "gatebook.cli", "ledger", "run", "--log", log,
                              "--db", database, "--fees", _fees_file(tmp_path), "--status-every",
                              "0.05", "--status-file", str(status_file)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: status_file.exists() and
                 json.loads(status_file.read_text())["database"] != "up", "it to say so", 60)
        assert json.loads(status_file.read_text())["lag"] == 3000
        cluster.start()
        wait_for(lambda: json.loads(status_file.read_text())["applied_seq"] == 3000,
                 "it to catch up", 60)
    finally:
        if not cluster.running():
            cluster.start()
        child.terminate()
        _, errors = child.communicate(timeout=60)
    assert child.returncode == 0 and "Traceback" not in errors, errors
    with open_store(database) as store:
        _assert_ledger_is_the_replay(store, 3000)
