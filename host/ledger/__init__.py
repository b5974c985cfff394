"""The ledger: accounts and balances, fed from the log's executions, exactly once.

`store.open_store(url)` opens the database (SQLite by default, PostgreSQL by
URL) and migrates it; `writer.LedgerWriter` applies the log's EXECUTED events
to it as double-entry postings (`postings`), in batches, never in the
matching path; `reconcile.reconcile` compares it with what the log implies.
See docs/ledger.md.
"""

from .postings import HOUSE_ACCOUNT, Fee, FeeSchedule
from .reconcile import balances_from_log, reconcile
from .store import LedgerStore, StoreRejected, StoreUnavailable, open_store
from .writer import LedgerWriter

__all__ = ["HOUSE_ACCOUNT", "Fee", "FeeSchedule", "balances_from_log", "reconcile",
           "LedgerStore", "StoreRejected", "StoreUnavailable", "open_store", "LedgerWriter"]
