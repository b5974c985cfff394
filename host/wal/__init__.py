"""The write-ahead log: nothing acknowledged is ever lost.

`journal.JournaledExchange` is the exchange with a log; `writer.LogWriter`
the group-commit writer thread; `recovery.recover` rebuilds an engine (and
the order-entry protocols' states, through the log-origin codecs registered
in `origins`) from a log directory; `snapshot` saves and restores that state; `replication` streams
the log to a hot standby. The byte layouts live in gatebook.wire.wal. See
docs/durability.md.
"""

# Before the record batch loads: choose its compiled or its source form (loading.py).
from .loading import install as _install_batch_finder

_install_batch_finder()

from .origins import EntryStates, UnknownOrigin, register_origin_codec  # noqa: E402
from .journal import JournaledExchange  # noqa: E402
from .recovery import CorruptLog, RecoveryReport, recover  # noqa: E402
from .writer import Durability, LogFailure, LogWriter  # noqa: E402

__all__ = ["EntryStates", "UnknownOrigin", "register_origin_codec", "JournaledExchange",
           "CorruptLog", "RecoveryReport", "recover", "Durability", "LogFailure", "LogWriter"]
