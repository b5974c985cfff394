"""`gatebook ledger run|balances|reconcile|bench`: the ledger, fed from the log."""

import json
import os
import shutil
import signal
import sys
import tempfile
import time

from gatebook.wire.internal import EXECUTED
from gatebook.wire.positions import INTERNAL

from ..ledger import (Fee, FeeSchedule, LedgerStore, LedgerWriter, StoreUnavailable, open_store,
                      reconcile)
from ..config import parse_address
from ..ledger.metrics import LedgerMetrics
from ..ledger.migrate import SchemaTooNew
from ..ledger.postings import load_fees
from ..ledger.store import redact
from ..ledger.tail import Command
from ..ledger.writer import build_batch

__all__ = ["register", "load_fees", "format_balances", "DemoLedger", "DEMO_FEES"]

#: The demo's fees: takers pay 30 parts per million of the notional, makers get 10 back.
DEMO_FEES = FeeSchedule(buy_maker=Fee(rate_ppm=-10), sell_maker=Fee(rate_ppm=-10),
                        buy_taker=Fee(rate_ppm=30), sell_taker=Fee(rate_ppm=30))
_EXECUTED = EXECUTED.code
_SEQ, _TS = INTERNAL.EXECUTED.seq, INTERNAL.EXECUTED.ts


def register(subparsers):
    parser = subparsers.add_parser(
        "ledger", help="accounts and balances from the log's executions (SQLite or PostgreSQL)",
        description="The ledger: cash and positions per account, double-entry postings for "
                    "every execution in the log, applied exactly once. --db is sqlite:///PATH "
                    "or postgresql://USER@HOST[:PORT]/DATABASE. See docs/ledger.md.")
    actions = parser.add_subparsers(dest="ledger_command", metavar="ACTION", required=True)

    run = actions.add_parser(
        "run", help="apply the log's executions to the database, and keep following it",
        description="Reads LOGDIR from the seq after the one the database holds, applies "
                    "every execution in batched transactions, then follows the log as the "
                    "exchange writes it, printing its lag (newest seq in the log minus newest "
                    "applied). A database that goes away is retried; it catches up from the "
                    "log when it is back. Stops on SIGTERM or Ctrl-C. Exit status 3 when the "
                    "log or an execution cannot be applied (said on stderr).")
    _log_and_db(run)
    run.add_argument("--batch", type=int, default=5000, metavar="N",
                     help="most commands per transaction (default 5000)")
    run.add_argument("--poll-ms", type=float, default=20, metavar="MS",
                     help="wait this long when the log has nothing new (default 20)")
    run.add_argument("--status-every", type=float, default=5.0, metavar="SECONDS",
                     help="print a status line this often (default 5; 0 never)")
    run.add_argument("--status-file", metavar="FILE",
                     help="also keep the status as JSON in FILE (replaced atomically), for "
                          "monitoring: applied_seq, produced_seq, lag, errors by kind")
    run.add_argument("--metrics", metavar="HOST:PORT",
                     help="serve the writer's applied and produced seq, lag, executions and "
                          "errors to Prometheus at http://HOST:PORT/metrics (port 0 picks one)")
    run.add_argument("--once", action="store_true",
                     help="apply what the log holds now, print the status and exit")
    run.set_defaults(run=run_ledger)

    balances = actions.add_parser("balances", help="print cash and positions per account")
    balances.add_argument("--db", required=True, metavar="URL")
    balances.add_argument("--account", type=int, action="append", metavar="N",
                          help="only this account (repeatable; -1 is the exchange's fee account)")
    balances.add_argument("--json", action="store_true", help="one JSON object, for tools")
    balances.set_defaults(run=run_balances)

    check = actions.add_parser(
        "reconcile", help="recompute balances from the log and compare with the database",
        description="Sums every execution in LOGDIR up to the seq the database has applied "
                    "(with the fees the writer recorded in the database, or --fees) and prints "
                    "every difference: a balance, a missing or extra execution, an execution's "
                    "fees, postings that do not balance, --fees that are not the ledger's. "
                    "Exit status 1 on any difference, 0 when the database agrees with the log.")
    _log_and_db(check)
    check.set_defaults(run=run_reconcile)

    bench = actions.add_parser(
        "bench", help="executions/s the ledger writer sustains on SQLite and PostgreSQL",
        description="Writes a seeded log (not timed), then times the writer applying it from "
                    "an empty database, per store and batch size. PostgreSQL runs on a "
                    "temporary cluster started for the run (Debian's initdb/pg_ctl) unless "
                    "--postgresql URL names one; --no-postgresql skips it.")
    bench.add_argument("--commands", type=int, default=100_000, metavar="N",
                       help="commands in the log (default 100,000)")
    bench.add_argument("--batches", default="100,1000,5000", metavar="N,N",
                       help="batch sizes to time, in commands (default 100,1000,5000)")
    bench.add_argument("--postgresql", metavar="URL", help="an existing (empty) database")
    bench.add_argument("--no-postgresql", action="store_true")
    bench.add_argument("--dir", metavar="DIR", help="where to put the log and databases "
                                                     "(default: a temporary directory)")
    bench.set_defaults(run=run_bench)


def _log_and_db(parser):
    parser.add_argument("--log", required=True, metavar="LOGDIR", help="the exchange's log")
    parser.add_argument("--db", required=True, metavar="URL",
                        help="sqlite:///PATH or postgresql://USER@HOST[:PORT]/DATABASE")
    parser.add_argument("--fees", metavar="FILE",
                        help="a TOML file of fee rules: [buy_maker], [buy_taker], [sell_maker], "
                             "[sell_taker], each with per_share and rate_ppm (default: no fees)")


def _open(command, args, need_log=True, connect=True):
    """(store, fees), or an exit status after saying why on stderr. Without `connect`
    the store connects on first use (the writer waits for a database that is down)."""
    try:
        if need_log and not os.path.isdir(args.log):
            raise ValueError(f"{args.log} is not a log directory")
        fees = load_fees(getattr(args, "fees", None))
        return (open_store(args.db) if connect else LedgerStore(args.db)), fees
    except (ValueError, OSError, SchemaTooNew) as error:
        print(f"gatebook ledger {command}: {error}", file=sys.stderr)
        return 2
    except StoreUnavailable as error:
        print(f"gatebook ledger {command}: {error}", file=sys.stderr)
        return 3


# Seconds between the status a scrape reads and the writer's (a few polls).
_METRICS_EVERY = 0.2


def status_line(status, rate):
    database = "up" if status.database == "up" else f"DOWN ({status.database})"
    line = (f"ledger: applied seq {status.applied_seq:,} of {status.produced_seq:,} "
            f"(lag {status.lag:,}), {status.executions:,} executions ({rate:,.0f}/s), "
            f"database {database}")
    if status.errors:
        line += ", errors " + " ".join(f"{kind}={count}" for kind, count
                                       in sorted(status.errors.items()))
    return line


def _write_status(path, status, rate):
    data = {**status._asdict(), "executions_per_second": round(rate, 1)}
    partial = f"{path}.partial"
    with open(partial, "w", encoding="utf-8") as file:
        json.dump(data, file)
    os.replace(partial, path)


def run_ledger(args):
    opened = _open("run", args, connect=False)
    if isinstance(opened, int):
        return opened
    store, fees = opened
    writer = LedgerWriter(args.log, store, fees=fees, batch_commands=max(1, args.batch),
                          poll_seconds=args.poll_ms / 1000)
    print(f"ledger: log {args.log} -> {redact(args.db)}", flush=True)
    metrics = server = None
    if args.metrics:
        try:
            metrics = LedgerMetrics(writer.status())
            server = metrics.serve(*parse_address(args.metrics))
        except (ValueError, OSError) as error:
            print(f"gatebook ledger run: --metrics {args.metrics}: {error}", file=sys.stderr)
            return 2
        print(f"ledger: metrics on http://{server.address[0]}:{server.address[1]}/metrics",
              flush=True)
    try:
        return _run_writer(args, writer, metrics)
    finally:
        if server is not None:
            server.close()


def _run_writer(args, writer, metrics):
    if args.once:
        status = writer.catch_up()
        print(status_line(status, 0.0), flush=True)
        if args.status_file:
            _write_status(args.status_file, status, 0.0)
        return _report_problem(status)
    previous = signal.signal(signal.SIGTERM, lambda *_: writer.stop())
    last_report, last_executions = time.monotonic(), 0
    last_update = last_report
    try:
        while not writer.stopping():
            if not writer.step():
                writer.wait(writer.poll_seconds)
            now = time.monotonic()
            if metrics is not None and now - last_update >= _METRICS_EVERY:
                metrics.update(writer.status())
                last_update = now
            if args.status_every and now - last_report >= args.status_every:
                status = writer.status()
                rate = (status.executions - last_executions) / (now - last_report)
                print(status_line(status, rate), flush=True)
                if status.problem:
                    print(f"gatebook ledger run: {status.problem}", file=sys.stderr, flush=True)
                if args.status_file:
                    _write_status(args.status_file, status, rate)
                last_report, last_executions = now, status.executions
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    status = writer.status()
    print(status_line(status, 0.0), flush=True)
    return _report_problem(status)


def _report_problem(status):
    """Exit status 3, saying why, when the writer stopped on a problem or the database
    is down; else 0."""
    if status.problem or status.database != "up":
        print(f"gatebook ledger run: {status.problem or status.database}", file=sys.stderr)
        return 3
    return 0


def format_balances(cash, positions, accounts=None, names=None):
    """Cash and positions as a table, one line per account (`names`: symbol id -> name)."""
    names = names or {}
    keys = sorted({account for account in cash} | {account for account, _ in positions})
    if accounts:
        keys = [account for account in keys if account in accounts]
    lines = [f"{'account':>10} {'cash (price units x shares)':>28}  positions (symbol: shares)"]
    for account in keys:
        held = ", ".join(f"{names.get(symbol, symbol)}: {qty:,}"
                         for (owner, symbol), qty in sorted(positions.items()) if owner == account)
        name = "fees" if account == -1 else str(account)
        lines.append(f"{name:>10} {cash.get(account, 0):>28,}  {held or '-'}")
    return "\n".join(lines)


def run_balances(args):
    try:
        store = open_store(args.db)
        where, cash, positions = store.balances()
    except (ValueError, SchemaTooNew) as error:
        print(f"gatebook ledger balances: {error}", file=sys.stderr)
        return 2
    except StoreUnavailable as error:
        print(f"gatebook ledger balances: {error}", file=sys.stderr)
        return 3
    if args.json:
        selected = set(args.account or ())
        print(json.dumps({
            "applied_seq": where.applied_seq, "executions": where.executions,
            "cash": {str(a): v for a, v in sorted(cash.items()) if not selected or a in selected},
            "positions": [{"account": a, "symbol": s, "qty": q}
                          for (a, s), q in sorted(positions.items())
                          if not selected or a in selected]}))
        return 0
    print(f"ledger {redact(args.db)}: applied seq {where.applied_seq:,}, "
          f"{where.executions:,} executions")
    print(format_balances(cash, positions, set(args.account or ())))
    return 0


def run_reconcile(args):
    opened = _open("reconcile", args)
    if isinstance(opened, int):
        return opened
    store, fees = opened
    try:
        # Without --fees: the schedule the writer recorded in the database.
        where, differences = reconcile(args.log, store, fees if args.fees else None)
    except StoreUnavailable as error:
        print(f"gatebook ledger reconcile: {error}", file=sys.stderr)
        return 3
    for line in differences:
        print(line)
    verdict = "DIFFERS" if differences else "agrees"
    print(f"reconcile: the ledger (applied seq {where.applied_seq:,}, {where.executions:,} "
          f"executions) {verdict} with the log"
          + (f": {len(differences)} difference(s)" if differences else ""))
    return 1 if differences else 0


def run_bench(args):
    from ..ledger.bench import run_benchmark      # builds logs: only this command needs it
    batches = [int(part) for part in args.batches.split(",") if part.strip()]
    return run_benchmark(args.commands, batches, postgresql=args.postgresql,
                         with_postgresql=not args.no_postgresql, directory=args.dir)


class DemoLedger:
    """`gatebook demo`'s ledger: the run's executions into an SQLite ledger, then its balances.

    The demo has no log, so this listens to the engine (`engine.subscribe`: one list
    append per command while matching) and, after the run, applies what it heard
    through the same postings and store as `gatebook ledger run`, in one transaction,
    to a database in a temporary directory that is removed once its balances are read.
    """

    def __init__(self, engine, fees=DEMO_FEES):
        self.fees = fees
        self.names = {symbol: book.spec.name for symbol, book in engine.books.items()}
        self.heard = []
        engine.subscribe(self.heard.append)

    def report(self, shown=8):
        """The balances as text: the most active accounts, the exchange's fee account."""
        commands = []
        for events in self.heard:
            executions = [event for event in events if event[0] == _EXECUTED]
            if executions:
                first = executions[0]
                commands.append(Command(first[_SEQ], first[_TS], None, executions))
        directory = tempfile.mkdtemp(prefix="gatebook-demo-ledger-")
        try:
            with open_store(f"sqlite:///{os.path.join(directory, 'ledger.db')}") as store:
                if commands:
                    store.apply(0, build_batch(commands, self.fees))
                where, cash, positions = store.balances()
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        traded = {}
        for (account, _), qty in positions.items():
            traded[account] = traded.get(account, 0) + abs(qty)
        busiest = sorted(traded, key=lambda account: (-traded[account], account))[:shown]
        lines = [f"Ledger (SQLite, the same postings as `gatebook ledger run`): "
                 f"{where.executions:,} executions, {len(cash) - (-1 in cash):,} accounts; "
                 f"cash sums to {sum(cash.values())} (double entry)",
                 format_balances(cash, positions, set(busiest) | {-1}, self.names)]
        return "\n".join(lines)
