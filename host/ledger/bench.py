"""`gatebook ledger bench`: executions/s the ledger writer sustains, per store and batch size.

A seeded log is written first (not timed: host/wal/loadgen's mix through a
JournaledExchange, policy none). Then, per store and batch size, a writer
applies the whole log to an empty database and the wall time is taken from
its first read of the log to its last commit: that is the rate at which it
catches up after an outage, and the most it can follow live.
"""

import os
import shutil
import tempfile
import time

from ..clock import ManualClock
from ..wal.journal import JournaledExchange
from ..wal.loadgen import START_NS, STEP_NS, seeded_commands
from .pgcluster import ClusterError, TemporaryCluster, find_binaries
from .postings import Fee, FeeSchedule
from .store import open_store, redact
from .writer import LedgerWriter

__all__ = ["write_seeded_log", "time_writer", "run_benchmark", "BENCH_FEES"]

# Fees on every side, so the benchmark writes the fee postings too.
BENCH_FEES = FeeSchedule(buy_maker=Fee(rate_ppm=-10), sell_maker=Fee(rate_ppm=-10),
                         buy_taker=Fee(rate_ppm=30), sell_taker=Fee(per_share=1))


def write_seeded_log(directory, commands, seed=1, ack_every=0, **options):
    """Log the seeded stream up to seq `commands` in `directory`, going on from where a log
    already there ends (the same stream, so a log grown in steps equals one written at
    once); return the seq of the last command logged. With `ack_every`, wait for the log
    writer every that many commands, so its batches (and where segments roll) do not
    depend on thread scheduling. `options` go to JournaledExchange."""
    options = {"policy": "none", "snapshot_every": 0, **options}
    exchange = JournaledExchange(directory, clock=ManualClock(START_NS, STEP_NS), **options)
    next_seq = exchange.sequencer.next_seq
    exchange.sequencer.clock = ManualClock(START_NS + (next_seq - 1) * STEP_NS, STEP_NS)
    stream = seeded_commands(seed, commands)
    for _ in range(next_seq - 1):
        next(stream, None)
    for command in stream:
        seq, _ = exchange.submit(*command)
        if ack_every and seq % ack_every == 0:
            exchange.writer.wait_acked(seq)
    exchange.close()
    return max(commands, next_seq - 1)


def time_writer(log_dir, url, batch_commands, fees=BENCH_FEES):
    """(seconds, Status) of a writer applying all of `log_dir` to the empty database `url`."""
    store = open_store(url)
    try:
        writer = LedgerWriter(log_dir, store, fees=fees, batch_commands=batch_commands)
        started = time.perf_counter()
        status = writer.catch_up()
        return time.perf_counter() - started, status
    finally:
        store.close()


def _fresh_postgresql_database(url, name):
    """The URL of a new empty database `name` on the server `url` points at."""
    import psycopg
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + "/" + name


def _drop_postgresql_database(url, name):
    import psycopg
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')


def run_benchmark(commands, batches, postgresql=None, with_postgresql=True, directory=None,
                  out=print):
    """Print the table; return 0 (1 if a run stopped on a problem)."""
    own = directory is None
    directory = directory or tempfile.mkdtemp(prefix="gatebook-ledger-bench-")
    cluster = None
    try:
        log_dir = os.path.join(directory, "log")
        out(f"writing a {commands:,}-command seeded log (not timed) ...")
        write_seeded_log(log_dir, commands)
        stores = [("sqlite", None)]
        if with_postgresql:
            if postgresql is None and find_binaries() is not None:
                cluster = TemporaryCluster(directory)
                try:
                    postgresql = cluster.start().url
                except ClusterError as error:
                    out(f"PostgreSQL skipped: {error}")
            elif postgresql is None:
                out("PostgreSQL skipped: initdb/pg_ctl not found (scripts/bootstrap installs them)")
            if postgresql is not None:
                stores.append(("postgresql", postgresql))
        out(f"{'store':<12}{'batch':>7}{'commands':>10}{'executions':>12}{'seconds':>9}"
            f"{'executions/s':>14}{'commands/s':>12}")
        failed = 0
        for name, server in stores:
            for batch in batches:
                if name == "sqlite":
                    path = os.path.join(directory, f"ledger-{batch}.db")
                    for leftover in (path, path + "-wal", path + "-shm"):
                        if os.path.exists(leftover):
                            os.remove(leftover)
                    url = f"sqlite:///{path}"
                else:
                    database = f"gatebook_ledger_bench_{batch}_{os.getpid()}"
                    url = _fresh_postgresql_database(server, database)
                try:
                    seconds, status = time_writer(log_dir, url, batch)
                finally:
                    if name == "postgresql":
                        _drop_postgresql_database(server, database)
                if status.problem or status.lag:
                    out(f"{name} batch {batch}: stopped at seq {status.applied_seq}: "
                        f"{status.problem or status.database}")
                    failed = 1
                out(f"{name:<12}{batch:>7,}{status.applied_seq:>10,}{status.executions:>12,}"
                    f"{seconds:>9.2f}{status.executions / seconds:>14,.0f}"
                    f"{status.applied_seq / seconds:>12,.0f}")
        if postgresql is not None:
            out(f"PostgreSQL: {redact(postgresql)}"
                + (" (a temporary cluster, default settings: fsync on)" if cluster else ""))
        return failed
    finally:
        if cluster is not None:
            cluster.remove()
        if own:
            shutil.rmtree(directory, ignore_errors=True)
