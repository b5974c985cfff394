"""The write-ahead log: nothing acknowledged is ever lost.

`journal.JournaledExchange` is the exchange with a log; `writer.LogWriter`
the group-commit writer thread; `recovery.recover` rebuilds an engine (and
the order-entry protocols' states, through the log-origin codecs registered
in `origins`) from a log directory; `snapshot` saves and restores that state; `replication` streams
the log to a hot standby. The byte layouts live in gatebook.wire.wal. See
docs/durability.md.
"""

from .origins import EntryStates, UnknownOrigin, register_origin_codec
from .journal import JournaledExchange
from .recovery import CorruptLog, RecoveryReport, recover
from .writer import Durability, LogFailure, LogWriter

__all__ = ["EntryStates", "UnknownOrigin", "register_origin_codec", "JournaledExchange",
           "CorruptLog", "RecoveryReport", "recover", "Durability", "LogFailure", "LogWriter"]
