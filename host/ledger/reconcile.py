"""`gatebook ledger reconcile`: the balances the log implies, against the database's.

The log is the truth. `balances_from_log` reads every command's EXECUTED
events from the log (tail.py) up to a seq and sums their postings in memory
(postings.py: the writer's own rule, with no database in between);
`reconcile` does that up to the seq the database's cursor holds, reading the
database's cursor and balances in one snapshot, and lists every difference:
a cash or position balance that differs, an execution missing or extra, an
execution whose postings do not balance, a cursor past the end of the log, an
execution whose fees are not the ones the ledger's fee schedule gives (the writer
records its schedule in the database, which reconcile uses unless told otherwise),
a schedule given that is not the ledger's.
"""

from typing import NamedTuple

from .postings import CASH, FeeSchedule, Unrepresentable, execution_of, postings
from .tail import LogTail

__all__ = ["LogBalances", "balances_from_log", "reconcile"]


class LogBalances(NamedTuple):
    last_seq:   int         # the last command read
    cash:       dict        # account -> price units x shares (zeros left out)
    positions:  dict        # (account, symbol) -> shares (zeros left out)
    match_ids:  set
    problem:    object      # why reading stopped before `up_to`, or None
    fees:       dict        # match_id -> (buyer fee, seller fee)


def balances_from_log(log_dir, fees, up_to=None):
    """Sum every execution in `log_dir` up to seq `up_to` (all when None)."""
    tail = LogTail(log_dir, 1)
    cash, positions, match_ids, fees_of = {}, {}, set(), {}
    last_seq = 0
    problem = None
    while up_to is None or last_seq < up_to:
        commands = tail.poll(10_000)
        if not commands:
            problem = tail.problem
            break
        for command in commands:
            if up_to is not None and command.seq > up_to:
                break
            last_seq = command.seq
            for event in command.executions:
                try:
                    execution = execution_of(event, fees)
                except Unrepresentable as error:
                    return LogBalances(last_seq, cash, positions, match_ids, str(error),
                                       fees_of)
                match_ids.add(execution.match_id)
                fees_of[execution.match_id] = (execution.buyer_fee, execution.seller_fee)
                for posting in postings(execution):
                    if posting.book == CASH:
                        cash[posting.account] = cash.get(posting.account, 0) + posting.amount
                    else:
                        key = (posting.account, posting.symbol)
                        positions[key] = positions.get(key, 0) + posting.amount
    if up_to is not None and last_seq < up_to and problem is None:
        problem = f"the log ends at seq {last_seq}, before seq {up_to}"
    return LogBalances(last_seq, _non_zero(cash), _non_zero(positions), match_ids, problem,
                       fees_of)


def _non_zero(balances):
    return {key: value for key, value in balances.items() if value}


def reconcile(log_dir, store, fees=None):
    """(Cursor, [difference, ...]): every way the database differs from the log.

    An empty list means the database holds exactly what the log implies up
    to its cursor. `fees` (a FeeSchedule) is the schedule to recompute with; by
    default the one the writer recorded in the database (none if it recorded none).
    """
    where, db_cash, db_positions, db_match_ids, unbalanced = store.audit()
    held, db_fees = store.fee_audit(where.applied_seq)
    out = []
    if fees is not None and held is not None and fees != held:
        out.append(f"fees: given {fees}, the ledger was written with {held}")
    fees = fees if fees is not None else held if held is not None else FeeSchedule()
    log = balances_from_log(log_dir, fees, where.applied_seq)
    if log.problem:
        out.append(f"log: {log.problem} (the ledger has applied up to seq {where.applied_seq})")
    for account in sorted(set(db_cash) | set(log.cash)):
        ledger, truth = db_cash.get(account, 0), log.cash.get(account, 0)
        if ledger != truth:
            out.append(f"cash of account {account}: ledger {ledger}, log {truth} "
                       f"(ledger - log = {ledger - truth})")
    for account, symbol in sorted(set(db_positions) | set(log.positions)):
        ledger = db_positions.get((account, symbol), 0)
        truth = log.positions.get((account, symbol), 0)
        if ledger != truth:
            out.append(f"position of account {account} in symbol {symbol}: ledger {ledger}, "
                       f"log {truth} (ledger - log = {ledger - truth})")
    in_db = set(db_match_ids)
    if len(in_db) != len(db_match_ids):
        out.append(f"executions: {len(db_match_ids) - len(in_db)} match ids appear twice")
    for match_id in sorted(log.match_ids - in_db):
        out.append(f"execution {match_id}: in the log, missing from the ledger")
    for match_id in sorted(in_db - log.match_ids):
        out.append(f"execution {match_id}: in the ledger, not in the log")
    for match_id in sorted(set(db_fees) & set(log.fees)):
        if db_fees[match_id] != log.fees[match_id]:
            (ledger_buyer, ledger_seller), (log_buyer, log_seller) = (db_fees[match_id],
                                                                      log.fees[match_id])
            out.append(f"execution {match_id}: fees buyer {ledger_buyer}, seller "
                       f"{ledger_seller} in the ledger; buyer {log_buyer}, seller {log_seller} "
                       f"from the log")
    for match_id in unbalanced:
        out.append(f"execution {match_id}: its postings do not sum to zero")
    if where.executions != len(db_match_ids):
        out.append(f"cursor: counts {where.executions} executions, the table holds "
                   f"{len(db_match_ids)}")
    return where, out
