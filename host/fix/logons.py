"""FIX Logons checked against the exchange's accounts, off the exchange's thread.

# Ref: FIX 4.4 Volume 2 (Logon, Logout); host/net/accounts.py (Argon2id).

A Logon carries the account's Username (553) and Password (554); its CompIDs
and session fields are checked first, then the password, on a worker thread
(Argon2 takes milliseconds: matching must not wait for it), as OUCH's logins
are. Failed logons are limited per address and name, and (more of them) per
address, so a guesser is slowed and locks out no one else; at most
`pending_checks` passwords are checked at once. A refused Logon is answered
with a Logout saying why, and the connection is closed once it is written.
"""

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from ..net.limits import FailedLogins
from .codec import encode, fix_time
from .dictionary import TAG

__all__ = ["LogonGate"]


class LogonGate:
    """Checks Logons (see the module docstring); `logons` counts outcomes by kind.

    Parameters
    ----------
    accounts : gatebook.host.net.accounts.Accounts
    comp_id, client_comp_id : str, str or None
        Ours; the only client CompID accepted (None: any).
    clock : callable returning int nanoseconds
    failed_logons : (int, float)
        At most this many failures per address and name per that many seconds.
    check_in_thread : bool
    pending_checks : int
    """

    def __init__(self, accounts, comp_id, client_comp_id, clock, failed_logons=(5, 60.0),
                 check_in_thread=True, pending_checks=16):
        self.accounts, self.comp_id, self.client_comp_id = accounts, comp_id, client_comp_id
        self.clock = clock
        self.pending_checks = pending_checks
        self.logons = Counter()             # accepted, wrong_password, unknown_user, ...
        self.failures = FailedLogins(failed_logons[0], int(failed_logons[1] * 1e9))
        self._checker = ThreadPoolExecutor(1, "fix-logon") if check_in_thread else None

    def start(self, connection, fields, now, checking):
        """Check a Logon's fields and start its password check (`checking`: how many run)."""
        name, password = fields.get(TAG.Username, ""), fields.get(TAG.Password, "")
        connection.logon = fields
        if fields[TAG.TargetCompID] != self.comp_id or (
                self.client_comp_id is not None
                and fields[TAG.SenderCompID] != self.client_comp_id):
            self.refuse(connection, "comp_id", "CompID problem")
        elif fields[TAG.EncryptMethod] != "0" or not 0 < int(fields[TAG.HeartBtInt]) <= 3600:
            self.refuse(connection, "malformed_logon", "EncryptMethod 0 and HeartBtInt "
                                                       "1..3600 only")
        elif self.failures.too_many(connection.peer[0], name, now):
            self.refuse(connection, "too_many_tries", "too many failed logons: wait")
        elif checking >= self.pending_checks:
            self.refuse(connection, "busy", "too many logons being checked: try again")
        else:
            connection.checking = True
            connection.check = (self._check(name, password) if self._checker is None
                                else self._checker.submit(self._check, name, password))

    def _check(self, name, password):
        try:
            return self.accounts.verify(name, password)
        except Exception:                   # a check that fails is a failed logon
            return None, "check_failed"

    def settled(self, connections, now):
        """(connection, account) of each Logon whose password was right; the wrong are
        refused here."""
        for connection in connections:
            if not connection.checking:
                continue
            outcome = connection.check
            if not isinstance(outcome, tuple):
                if not outcome.done():
                    continue
                outcome = outcome.result()
            connection.checking = False
            account, failure = outcome
            if account is not None:
                yield connection, account
                continue
            self.failures.record(connection.peer[0], connection.logon.get(TAG.Username, ""),
                                 now)
            self.refuse(connection, failure, "Username or Password is not right")

    def refuse(self, connection, kind, text):
        """A Logout with the reason, then the connection closes (FIX: no Reject before
        a Logon is accepted)."""
        self.logons[kind] += 1
        now = self.clock()
        target = connection.logon.get(TAG.SenderCompID, "UNKNOWN")[:64]
        connection.write(encode("5", 1, self.comp_id, target, fix_time(now),
                                [(TAG.Text, text)]), now)
        connection.closing = True
        connection.inbox.clear()

    def close(self):
        if self._checker is not None:
            self._checker.shutdown(wait=True, cancel_futures=True)
