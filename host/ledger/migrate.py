"""Versioned schema migrations: plain numbered SQL files, each applied in a transaction.

`migrations/NNNN_name.sql` serves both stores; `NNNN_name.sqlite.sql` and
`NNNN_name.postgresql.sql` are the two dialects' versions of one step where
their SQL differs. `schema_version` lists the steps applied. `migrate` takes
the database's write lock, applies every missing step and records it, all in
one transaction, so two writers starting at once cannot both apply a step,
and a step that fails leaves the database as it was.
"""

import re
import sqlite3
import time
from importlib import resources

__all__ = ["Migration", "migrations", "migrate", "SchemaTooNew", "SCHEMA_VERSION"]

_NAME = re.compile(r"(\d{4})_(\w+?)(?:\.(sqlite|postgresql))?\.sql")


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer build than this one."""


class Migration:
    """One step: its version number, name and SQL text for a dialect."""

    def __init__(self, version, name, sql):
        self.version, self.name, self.sql = version, name, sql

    def statements(self):
        """The SQL split into statements (sqlite3.complete_statement knows where one ends)."""
        out, pending = [], ""
        for line in self.sql.splitlines(keepends=True):
            pending += line
            if sqlite3.complete_statement(pending):
                if pending.strip():
                    out.append(pending.strip())
                pending = ""
        if pending.strip() and not all(part.strip().startswith("--")
                                       for part in pending.strip().splitlines()):
            raise ValueError(f"migration {self.version:04d}_{self.name}: unterminated statement")
        return out


def migrations(dialect):
    """Every step for `dialect` ("sqlite" or "postgresql"), in version order."""
    chosen = {}
    folder = resources.files(__package__) / "migrations"
    for entry in folder.iterdir():
        match = _NAME.fullmatch(entry.name)
        if not match or match.group(3) not in (None, dialect):
            continue
        version = int(match.group(1))
        # A dialect's own file wins over the shared one of the same number.
        if version in chosen and match.group(3) is None:
            continue
        chosen[version] = Migration(version, match.group(2), entry.read_text(encoding="utf-8"))
    versions = sorted(chosen)
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"ledger migrations for {dialect} are not numbered 1..N: {versions}")
    return [chosen[version] for version in versions]


#: The schema version this build writes.
SCHEMA_VERSION = len(migrations("sqlite"))


def migrate(connection, dialect, placeholder, clock=time.time_ns):
    """Bring the database up to SCHEMA_VERSION; return the versions applied now.

    `connection` is a DB-API connection in autocommit mode (transactions are
    begun here explicitly); `placeholder` is its parameter marker; `clock`
    gives the nanoseconds recorded as each step's `applied_ns` (for people
    reading the table; nothing in the ledger depends on it).
    """
    steps = migrations(dialect)
    cursor = connection.cursor()
    cursor.execute("CREATE TABLE IF NOT EXISTS schema_version ("
                   "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ns BIGINT NOT NULL)")
    cursor.execute("BEGIN IMMEDIATE" if dialect == "sqlite" else "BEGIN")
    try:
        if dialect == "postgresql":
            cursor.execute("LOCK TABLE schema_version IN EXCLUSIVE MODE")
        cursor.execute("SELECT version FROM schema_version")
        done = {row[0] for row in cursor.fetchall()}
        newest = max(done, default=0)
        if newest > len(steps):
            raise SchemaTooNew(f"the ledger database is at schema version {newest}; this build "
                               f"knows versions up to {len(steps)}: upgrade Gatebook")
        applied = []
        for step in steps:
            if step.version in done:
                continue
            for statement in step.statements():
                cursor.execute(statement)
            cursor.execute(f"INSERT INTO schema_version (version, name, applied_ns) VALUES "
                           f"({placeholder}, {placeholder}, {placeholder})",
                           (step.version, step.name, clock()))
            applied.append(step.version)
        cursor.execute("COMMIT")
        return applied
    except BaseException:
        cursor.execute("ROLLBACK")
        raise
