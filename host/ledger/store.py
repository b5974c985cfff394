"""The ledger's database: SQLite (embedded, the default) or PostgreSQL, chosen by a URL.

`open_store("sqlite:///var/gatebook/ledger.db")` or
`open_store("postgresql://user@host/db")` returns a `LedgerStore`. Both run
the same SQL (parameters written `?`, turned into `%s` for psycopg) and the
same migrations (migrate.py). A batch is one transaction that first moves the
cursor (`ledger_cursor`) from the seq the writer read to the batch's last seq,
then inserts the executions and postings and adds to the balances; so a batch
is applied whole or not at all, and a second writer holding the same cursor
finds it moved (`CursorMoved`) instead of applying the batch twice.

Errors come out as two kinds: `StoreUnavailable` (the server is down, the
connection broke, SQLite's file is locked: try again later, from the cursor
the database holds) and `StoreRejected` (the database refused the data, e.g.
an amount past 64 bits: trying again will not help).
"""

import re
import sqlite3
from typing import NamedTuple

from .migrate import migrate
from .postings import Fee, FeeSchedule

__all__ = ["open_store", "LedgerStore", "Cursor", "StoreUnavailable", "StoreRejected",
           "FEE_RULES",
           "CursorMoved", "redact"]


class StoreUnavailable(RuntimeError):
    """The database cannot be reached now; the writer retries."""


class StoreRejected(RuntimeError):
    """The database refused a batch's data; retrying the same data cannot succeed."""


class CursorMoved(RuntimeError):
    """Another writer applied commands since this one read the cursor."""


class Cursor(NamedTuple):
    applied_seq: int        # every command up to this seq is in the ledger
    applied_crc: object     # the log's CRC of that command's INPUT record (None before any)
    executions:  int        # executions applied in all


def redact(url):
    """The URL without its password (user:PASSWORD@ or ?password=), for messages."""
    url = re.sub(r"([?&]password=)[^&]*", r"\1***", url)
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url


def open_store(url, *, connect_timeout=5.0):
    """A LedgerStore for `url`: sqlite:///PATH (or a bare path) or postgresql://...

    Connects and migrates at once; raises StoreUnavailable if it cannot,
    ValueError for a URL it does not understand.
    """
    store = LedgerStore(url, connect_timeout=connect_timeout)
    store.connect()
    return store


class LedgerStore:
    """One connection to the ledger database.

    Parameters
    ----------
    url : str
        sqlite:///PATH, a bare file path (SQLite), or postgresql://... (libpq's URI form).
    connect_timeout : float
        Seconds to wait for PostgreSQL to answer, or for SQLite's write lock.
    """

    def __init__(self, url, *, connect_timeout=5.0):
        self.url = url
        self.connect_timeout = connect_timeout
        self.connection = None
        if url.startswith(("postgresql://", "postgres://")):
            self.dialect, self.placeholder = "postgresql", "%s"
            import psycopg                  # only a PostgreSQL ledger needs the driver
            self._driver = psycopg
            self._unavailable = (psycopg.OperationalError, psycopg.InterfaceError)
            self._rejected = (psycopg.IntegrityError, psycopg.DataError, OverflowError)
        elif url.startswith("sqlite://") or "://" not in url:
            self.dialect, self.placeholder = "sqlite", "?"
            self.path = url[len("sqlite://"):] if url.startswith("sqlite://") else url
            if not self.path:
                raise ValueError(f"{url}: no file name (sqlite:///path/to/ledger.db)")
            # Any other DatabaseError (a file that is not a database, say) is treated
            # like an outage: said, counted and retried, never a crash.
            self._unavailable = (sqlite3.OperationalError, sqlite3.DatabaseError)
            self._rejected = (sqlite3.IntegrityError, sqlite3.DataError, OverflowError)
        else:
            raise ValueError(f"{redact(url)}: a ledger URL is sqlite:///PATH or "
                             "postgresql://USER@HOST[:PORT]/DATABASE")

    # -- connection ---------------------------------------------------------------------

    def connect(self):
        """(Re)connect and migrate; StoreUnavailable if the database cannot be reached."""
        self.close()
        try:
            if self.dialect == "sqlite":
                # check_same_thread off: a store is opened on one thread and used by the
                # writer's; it is never used by two threads at once.
                connection = sqlite3.connect(self.path, timeout=self.connect_timeout,
                                             isolation_level=None, check_same_thread=False)
                # WAL with synchronous=NORMAL: a crash keeps every committed batch; a
                # power cut may lose the last ones, cursor and all, and the writer then
                # applies them again from the log. Readers never block the writer.
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
                connection.execute("PRAGMA foreign_keys=ON")
            else:
                connection = self._driver.connect(
                    self.url, autocommit=True, connect_timeout=max(1, int(self.connect_timeout)))
            self.connection = connection
            migrate(connection, self.dialect, self.placeholder)
        except self._unavailable as error:
            self.close()
            raise StoreUnavailable(f"ledger database {redact(self.url)}: {_first_line(error)}") \
                from error
        except BaseException:
            self.close()
            raise

    def close(self):
        if self.connection is not None:
            try:
                self.connection.close()
            except self._unavailable:
                pass
            self.connection = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _sql(self, text):
        return text if self.placeholder == "?" else text.replace("?", "%s")

    def _run(self, work, read_only=False):
        """Run `work(cursor)` in one transaction, mapping driver errors to ours.

        A read-only transaction sees one snapshot of the database (SQLite's WAL
        read transaction; PostgreSQL's REPEATABLE READ), so what it reads in
        several statements belongs together.
        """
        if self.connection is None:
            self.connect()
        cursor = self.connection.cursor()
        if self.dialect == "sqlite":
            begin = "BEGIN" if read_only else "BEGIN IMMEDIATE"
        else:
            begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" if read_only else "BEGIN"
        try:
            cursor.execute(begin)
            result = work(cursor)
            cursor.execute("COMMIT")
            return result
        except BaseException as error:
            self._rollback(cursor)
            if isinstance(error, self._rejected):     # before: they are DatabaseErrors too
                raise StoreRejected(_first_line(error)) from error
            if isinstance(error, self._unavailable):
                self.close()                # a broken connection is not used again
                raise StoreUnavailable(f"ledger database {redact(self.url)}: "
                                       f"{_first_line(error)}") from error
            raise

    def _rollback(self, cursor):
        try:
            cursor.execute("ROLLBACK")
        except Exception:                   # noqa: BLE001 - the connection may be gone
            self.close()

    # -- reading ------------------------------------------------------------------------

    def cursor(self):
        """The Cursor the database holds."""
        return self._run(_read_cursor, read_only=True)

    def balances(self):
        """(Cursor, {account: cash}, {(account, symbol): shares}) from one snapshot,
        zero balances left out."""
        return self._run(_read_balances, read_only=True)

    def audit(self):
        """(Cursor, cash, positions as `balances` gives them, match ids of every
        execution, executions whose postings do not sum to zero per book) from one
        snapshot: what `reconcile` and the tests check."""
        def read(cursor):
            where, cash, positions = _read_balances(cursor)
            cursor.execute("SELECT match_id FROM executions")
            match_ids = [row[0] for row in cursor.fetchall()]
            cursor.execute("SELECT match_id FROM postings GROUP BY match_id, book "
                           "HAVING SUM(amount) <> 0")
            unbalanced = sorted({row[0] for row in cursor.fetchall()})
            return where, cash, positions, match_ids, unbalanced
        return self._run(read, read_only=True)

    def fee_audit(self, up_to_seq):
        """(the FeeSchedule the writer recorded, or None; {match_id: (buyer_fee, seller_fee)}
        of every execution up to `up_to_seq`) from one snapshot: what `reconcile` compares."""
        def read(cursor):
            schedule = _read_fees(cursor)
            cursor.execute(self._sql("SELECT match_id, buyer_fee, seller_fee FROM executions "
                                     "WHERE seq <= ?"), (up_to_seq,))
            return schedule, {match_id: (buyer, seller)
                              for match_id, buyer, seller in cursor.fetchall()}
        return self._run(read, read_only=True)

    # -- writing ------------------------------------------------------------------------

    def adopt_fees(self, fees):
        """Record `fees` as the ledger's schedule if it has none yet; return the schedule it
        holds (compare it with `fees`: a ledger keeps one schedule)."""
        def write(cursor):
            held = _read_fees(cursor)
            if held is None:
                cursor.executemany(self._sql("INSERT INTO fee_schedule (rule, per_share, "
                                             "rate_ppm) VALUES (?, ?, ?)"),
                                   [(rule, getattr(fees, rule).per_share,
                                     getattr(fees, rule).rate_ppm) for rule in FEE_RULES])
                return fees
            return held
        return self._run(write)

    def _insert(self, cursor, table, rows):
        """Insert rows (NamedTuples in the table's column order)."""
        if self.dialect == "postgresql":
            _copy_rows(cursor, table, rows)
        else:
            marks = ",".join("?" * len(rows[0]))
            cursor.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)

    def apply(self, from_seq, batch):
        """Apply a Batch (writer.py) in one transaction, if the cursor is still at `from_seq`.

        Raises CursorMoved (nothing applied) if it is not, StoreUnavailable or
        StoreRejected (nothing applied) if the database fails or refuses.
        """
        sql = self._sql

        def write(cursor):
            cursor.execute(sql("UPDATE ledger_cursor SET applied_seq = ?, applied_crc = ?, "
                               "executions = executions + ? WHERE id = 1 AND applied_seq = ?"),
                           (batch.last_seq, batch.last_crc, len(batch.executions), from_seq))
            if cursor.rowcount != 1:
                raise CursorMoved(f"the ledger's cursor is no longer at seq {from_seq}: "
                                  "another writer is applying this log")
            if batch.executions:
                self._insert(cursor, "executions", batch.executions)
                self._insert(cursor, "postings", batch.postings)
                # Balances in key order: two writers never lock rows in opposite orders.
                cursor.executemany(sql(
                    "INSERT INTO cash (account, amount) VALUES (?, ?) ON CONFLICT (account) "
                    "DO UPDATE SET amount = cash.amount + excluded.amount"),
                    sorted(batch.cash.items()))
                cursor.executemany(sql(
                    "INSERT INTO positions (account, symbol, qty) VALUES (?, ?, ?) "
                    "ON CONFLICT (account, symbol) DO UPDATE SET qty = positions.qty + excluded.qty"),
                    [(account, symbol, qty) for (account, symbol), qty
                     in sorted(batch.positions.items())])
        self._run(write)


def _copy_rows(cursor, table, rows):
    """PostgreSQL's COPY: one stream for a batch's rows instead of a statement per row
    (about 5x faster for the postings here)."""
    with cursor.copy(f"COPY {table} FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _read_cursor(cursor):
    cursor.execute("SELECT applied_seq, applied_crc, executions FROM ledger_cursor")
    return Cursor(*cursor.fetchone())


def _read_balances(cursor):
    where = _read_cursor(cursor)
    cursor.execute("SELECT account, amount FROM cash WHERE amount <> 0")
    cash = dict(cursor.fetchall())
    cursor.execute("SELECT account, symbol, qty FROM positions WHERE qty <> 0")
    positions = {(account, symbol): qty for account, symbol, qty in cursor.fetchall()}
    return where, cash, positions


FEE_RULES = ("buy_maker", "buy_taker", "sell_maker", "sell_taker")


def _read_fees(cursor):
    cursor.execute("SELECT rule, per_share, rate_ppm FROM fee_schedule")
    rows = cursor.fetchall()
    if not rows:
        return None
    return FeeSchedule(**{rule: Fee(per_share, rate_ppm) for rule, per_share, rate_ppm in rows})


def _first_line(error):
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]

