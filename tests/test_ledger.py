"""The ledger on SQLite: double entry, exactly once under replay and restarts, reconcile,
and a hostile log that must not poison it (host/ledger/, docs/ledger.md).

Every log here is a real one: a JournaledExchange writes it from the seeded mix, or a test
crafts segment bytes with the log's own encoders. Balances are checked against
`balances_from_log` and, independently, against a golden engine replay summed by hand.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

from gatebook.host.engine import MatchingEngine
from gatebook.host.ledger import Fee, FeeSchedule, LedgerWriter, open_store, reconcile
from gatebook.host.ledger.bench import write_seeded_log
from gatebook.host.ledger.postings import (CASH, HOUSE_ACCOUNT, POSITION, Unrepresentable,
                                           execution_of, postings)
from gatebook.host.ledger.store import CursorMoved
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.host.wal.format import (INPUT, OUTPUT, encode_commit, encode_record,
                                      encode_segment_header)
from gatebook.host.wal.loadgen import seeded_commands, stamped
from gatebook.host.wal.segments import list_segments
from gatebook.wire import internal
from gatebook.wire.codec import ProtocolCodec
from gatebook.wire.enums import Side
from gatebook.wire.named import Executed

from waiting import wait_for

FEES = FeeSchedule(buy_maker=Fee(rate_ppm=-10), sell_maker=Fee(per_share=-1),
                   buy_taker=Fee(rate_ppm=30), sell_taker=Fee(per_share=2, rate_ppm=5))
_EVENTS = ProtocolCodec(internal.EVENTS)
_COMMANDS = ProtocolCodec(internal.COMMANDS)


def ledger_url(tmp_path, name="ledger.db"):
    return f"sqlite:///{tmp_path / name}"


def engine_balances(count, fees, seed=1):
    """Cash and positions summed by hand from a golden engine replay of the seeded stream:
    an account of the executions that shares no code with the ledger's reading of the log."""
    engine = MatchingEngine(DEFAULT_SYMBOLS)
    cash, positions, executions = {}, {}, 0
    for command in stamped(seeded_commands(seed, count)):
        for event in engine.apply(command):
            if event[0] != internal.EXECUTED.code:
                continue
            fill = Executed(*event)
            executions += 1
            buyer_takes = fill.aggressor_side == Side.BUY
            buyer = fill.aggressor_user if buyer_takes else fill.resting_user
            seller = fill.resting_user if buyer_takes else fill.aggressor_user
            value = fill.price * fill.qty
            buy_fee = (fees.buy_taker if buyer_takes else fees.buy_maker).of(fill.qty, value)
            sell_fee = (fees.sell_maker if buyer_takes else fees.sell_taker).of(fill.qty, value)
            for account, amount in ((buyer, -value - buy_fee), (seller, value - sell_fee),
                                    (HOUSE_ACCOUNT, buy_fee + sell_fee)):
                cash[account] = cash.get(account, 0) + amount
            for account, qty in ((buyer, fill.qty), (seller, -fill.qty)):
                positions[(account, fill.symbol)] = positions.get((account, fill.symbol), 0) + qty
    return ({k: v for k, v in cash.items() if v}, {k: v for k, v in positions.items() if v},
            executions)


@pytest.fixture(scope="module")
def seeded_log(tmp_path_factory):
    """A 6,000-command log (read only: tests copy it before changing it)."""
    directory = tmp_path_factory.mktemp("ledger") / "log"
    write_seeded_log(str(directory), 6000)
    return str(directory)


# -- postings ---------------------------------------------------------------------------

def _executed(match_id, price, qty, side, aggressor, resting, symbol=1):
    return (internal.EXECUTED.code, 7, 1000, symbol, match_id, price, qty, side, 10, aggressor,
            0, 20, resting, 0)


def _executions(examples):
    """Prices, quantities, sides and fees for `examples` executions."""
    return lambda test: settings(max_examples=examples, deadline=None)(
        given(price=st.integers(1, (1 << 32) - 1), qty=st.integers(1, (1 << 32) - 1),
              side=st.sampled_from([int(Side.BUY), int(Side.SELL)]),
              per_share=st.integers(-100, 100), rate=st.integers(-1000, 10_000))(test))


# The default run draws 100 executions; the long run (--run-long) 300.
@_executions(100)
def test_every_execution_posts_a_balanced_double_entry(price, qty, side, per_share, rate):
    _check_balanced_double_entry(price, qty, side, per_share, rate)


@pytest.mark.long
@_executions(300)
def test_every_execution_posts_a_balanced_double_entry_long(price, qty, side, per_share, rate):
    _check_balanced_double_entry(price, qty, side, per_share, rate)


def _check_balanced_double_entry(price, qty, side, per_share, rate):
    fee = Fee(per_share=per_share, rate_ppm=rate)
    fees = FeeSchedule(buy_maker=fee, buy_taker=Fee(rate_ppm=rate), sell_maker=Fee(),
                       sell_taker=Fee(per_share=per_share))
    event = _executed(5, price, qty, side, aggressor=3, resting=4)
    try:
        execution = execution_of(event, fees)
    except Unrepresentable:
        assert price * qty > 1 << 62         # only a notional near 64 bits is refused
        return
    legs = postings(execution)
    for book in (CASH, POSITION):
        assert sum(leg.amount for leg in legs if leg.book == book) == 0
    buyer, seller = (3, 4) if side == Side.BUY else (4, 3)
    assert sum(leg.amount for leg in legs if leg.account == buyer and leg.book == POSITION) == qty
    assert sum(leg.amount for leg in legs if leg.account == seller and leg.book == POSITION) == -qty
    assert sum(leg.amount for leg in legs if leg.account == HOUSE_ACCOUNT) == \
        execution.buyer_fee + execution.seller_fee
    assert all(type(leg.amount) is int for leg in legs)


def test_fees_round_half_away_from_zero_in_integers():
    assert Fee(rate_ppm=25).of(1, 20_000) == 1          # 0.5 rounds up
    assert Fee(rate_ppm=-25).of(1, 20_000) == -1        # and a rebate down
    assert Fee(rate_ppm=25).of(1, 19_999) == 0
    assert Fee(per_share=3, rate_ppm=1_000_000).of(10, 500) == 530
    with pytest.raises(ValueError):
        Fee(rate_ppm=0.5)
    with pytest.raises(ValueError, match="unknown fee rule"):
        FeeSchedule.from_mapping({"buy": {"rate_ppm": 1}})


def test_an_execution_past_64_bits_is_refused_by_name():
    event = _executed(9, (1 << 32) - 1, (1 << 32) - 1, int(Side.BUY), 3, 4)
    with pytest.raises(Unrepresentable, match="execution 9 at seq 7"):
        execution_of(event, FeeSchedule())


# -- the writer on a real log -----------------------------------------------------------

def test_the_ledger_holds_what_a_golden_replay_of_the_commands_implies(seeded_log, tmp_path):
    store = open_store(ledger_url(tmp_path))
    status = LedgerWriter(seeded_log, store, fees=FEES, batch_commands=700).catch_up()
    cash, positions, executions = engine_balances(6000, FEES)
    assert (status.applied_seq, status.lag, status.problem) == (6000, 0, None)
    assert status.executions == executions > 1000
    where, db_cash, db_positions = store.balances()
    assert (db_cash, db_positions) == (cash, positions)
    assert where.executions == executions
    assert sum(db_cash.values()) == 0                   # cash only moves between accounts
    assert reconcile(seeded_log, store, FEES)[1] == []


def test_replaying_the_log_or_restarting_never_applies_an_execution_twice(seeded_log, tmp_path):
    url = ledger_url(tmp_path)
    first = LedgerWriter(seeded_log, open_store(url), fees=FEES, batch_commands=500)
    assert first.step() == 500                          # one batch, then "crash"
    stale = LedgerWriter(seeded_log, open_store(url), fees=FEES, batch_commands=500)
    stale.step()                                        # reads the cursor at 500 ...
    for _ in range(3):                                  # ... restarts, each from the cursor
        LedgerWriter(seeded_log, open_store(url), fees=FEES, batch_commands=900).catch_up()
    store = open_store(url)
    before = store.audit()
    # The stale writer's next batch starts at the cursor it read: refused whole.
    assert stale.step() == 0 and stale.status().errors == {"cursor_moved": 1}
    assert stale.catch_up().applied_seq == 6000         # and it goes on from the database's
    after = store.audit()
    assert after == before
    where, _, _, match_ids, unbalanced = after
    assert where.applied_seq == 6000 and len(match_ids) == len(set(match_ids)) == where.executions
    assert unbalanced == []
    assert reconcile(seeded_log, store, FEES)[1] == []


def test_a_batch_whose_cursor_moved_is_refused_whole(seeded_log, tmp_path):
    store = open_store(ledger_url(tmp_path))
    writer = LedgerWriter(seeded_log, store, fees=FEES, batch_commands=100)
    writer.catch_up()
    before = store.audit()
    from gatebook.host.ledger.tail import LogTail
    from gatebook.host.ledger.writer import build_batch
    replay = build_batch(LogTail(seeded_log, 1).poll(100), FEES)
    with pytest.raises(CursorMoved):
        store.apply(0, replay)                          # a replay from the start of the log
    assert store.audit() == before


def test_the_writer_follows_a_growing_log_and_reports_its_lag(tmp_path):
    log = str(tmp_path / "log")
    write_seeded_log(log, 1000)
    writer = LedgerWriter(log, open_store(ledger_url(tmp_path)), fees=FEES)
    assert writer.catch_up().applied_seq == 1000
    write_seeded_log(log, 2500)                         # the exchange logs 1,500 more
    status = writer.status()
    assert status.lag == 1500 and status.produced_seq == 2500
    assert writer.catch_up().lag == 0
    cash, positions, _ = engine_balances(2500, FEES)
    assert writer.store.balances()[1:] == (cash, positions)


# -- hostile logs ---------------------------------------------------------------------------

def _copy_log(seeded_log, tmp_path):
    target = tmp_path / "log"
    shutil.copytree(seeded_log, target)
    return str(target)


def _segment_with(path, commands_and_events, first_seq=1, number=0):
    """A segment file of (command, events) pairs, encoded with the log's own encoders."""
    parts = [encode_segment_header(number, first_seq)]
    for command, events in commands_and_events:
        seq, ts = command[1], command[2]
        parts.append(encode_record(seq, ts, INPUT, _COMMANDS.encode(command)))
        parts.append(encode_record(seq, ts, OUTPUT, events))
    last = commands_and_events[-1][0][1]
    parts.append(encode_commit(last, last))
    with open(path, "wb") as file:
        file.write(b"".join(parts))


def _seeded_pairs(count):
    engine = MatchingEngine(DEFAULT_SYMBOLS)
    return [(command, b"".join(map(_EVENTS.encode, engine.apply(command))))
            for command in stamped(seeded_commands(1, count))]


def test_foreign_bytes_in_the_middle_stop_the_ledger_before_them(seeded_log, tmp_path):
    log = _copy_log(seeded_log, tmp_path)
    (_, path), = list_segments(log)
    with open(path, "rb") as file:
        data = file.read()
    cut = len(data) // 2
    with open(path, "wb") as file:                      # garbage, then valid records again
        file.write(data[:cut] + os.urandom(300) + data[cut:])
    store = open_store(ledger_url(tmp_path))
    writer = LedgerWriter(log, store, fees=FEES)
    status = writer.catch_up()
    assert 0 < status.applied_seq < 6000
    assert "damaged" in status.problem and "segment-00000000.wal" in status.problem
    assert status.errors == {"damaged_log": 1}
    assert writer.catch_up().errors == {"damaged_log": 1}     # counted once, still stuck
    cash, positions, _ = engine_balances(status.applied_seq, FEES)
    assert store.balances()[1:] == (cash, positions)   # nothing past the damage, nothing lost


def test_a_ledger_pointed_at_another_log_refuses_it(seeded_log, tmp_path):
    store = open_store(ledger_url(tmp_path))
    LedgerWriter(seeded_log, store, fees=FEES).catch_up()
    other = str(tmp_path / "other")
    write_seeded_log(other, 7000, seed=2)
    before = store.audit()
    status = LedgerWriter(other, store, fees=FEES).catch_up()
    assert "another log" in status.problem and status.errors == {"foreign_log": 1}
    assert store.audit() == before


def test_a_ledger_ahead_of_its_log_refuses_it(seeded_log, tmp_path):
    store = open_store(ledger_url(tmp_path))
    LedgerWriter(seeded_log, store, fees=FEES).catch_up()
    shorter = str(tmp_path / "shorter")
    write_seeded_log(shorter, 2000)                    # the same commands, fewer of them
    before = store.audit()
    status = LedgerWriter(shorter, store, fees=FEES).catch_up()
    assert status.errors == {"log_behind": 1}
    assert "the log ends at seq 2000, before the ledger's seq 6000" in status.problem
    assert store.audit() == before


def test_forged_records_that_pass_the_crc_do_not_poison_the_ledger(tmp_path):
    log = tmp_path / "log"
    log.mkdir()
    pairs = _seeded_pairs(400)
    seq, ts = 401, pairs[-1][0][2] + 1
    cancel = (internal.CANCEL.code, seq, ts, 1, 1)
    huge = _EVENTS.encode(_executed(10**9, (1 << 32) - 1, (1 << 32) - 1, int(Side.BUY), 3, 4))
    _segment_with(str(log / "segment-00000000.wal"), pairs + [(cancel, huge)])
    store = open_store(ledger_url(tmp_path))
    status = LedgerWriter(str(log), store, fees=FEES, batch_commands=1000).catch_up()
    assert status.applied_seq == 400 and status.errors == {"unrepresentable": 1}
    assert "seq 401" in status.problem and "64-bit" in status.problem
    cash, positions, _ = engine_balances(400, FEES)
    assert store.balances()[1:] == (cash, positions)   # the 400 before it, in one by one

    log2 = tmp_path / "log2"
    log2.mkdir()
    _segment_with(str(log2 / "segment-00000000.wal"), pairs + [(cancel, b"\xee" * 40)])
    store2 = open_store(ledger_url(tmp_path, "second.db"))
    status = LedgerWriter(str(log2), store2, fees=FEES).catch_up()
    assert status.applied_seq == 400 and status.errors == {"undecodable_output": 1}
    assert "seq 401" in status.problem and "unknown event type 0xee" in status.problem


def test_a_torn_tail_is_waited_for_not_refused(tmp_path):
    log = tmp_path / "log"
    log.mkdir()
    pairs = _seeded_pairs(300)
    path = str(log / "segment-00000000.wal")
    _segment_with(path, pairs)
    with open(path, "rb") as file:
        whole = file.read()
    _segment_with(path, pairs[:200])
    with open(path, "rb") as file:
        part = file.read()
    body = whole[:len(part) - 34]                      # without part's COMMIT (34 bytes) ...
    tail = whole[len(body):]
    with open(path, "wb") as file:
        file.write(body + tail[:len(tail) // 2])        # ... and half of the rest
    writer = LedgerWriter(str(log), open_store(ledger_url(tmp_path)), fees=FEES)
    status = writer.catch_up()
    assert 190 <= status.applied_seq < 300 and status.problem is None and not status.errors
    with open(path, "wb") as file:
        file.write(whole)                               # the write completes
    assert writer.catch_up().applied_seq == 300


# -- the command line -------------------------------------------------------------------------

def _gatebook(*args):
    return subprocess.run([sys.executable, "-m", "gatebook.cli", *args], capture_output=True,
                          text=True, timeout=120)


def _gatebook_together(*commands):
    """Each of `commands` as `_gatebook` runs it, the processes side by side (independent
    commands: their start-up, most of the cost, overlaps)."""
    children = [subprocess.Popen([sys.executable, "-m", "gatebook.cli", *args],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for args in commands]
    done = []
    for child, args in zip(children, commands):
        out, errors = child.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(args, child.returncode, out, errors))
    return done


def test_cli_run_balances_and_reconcile(seeded_log, tmp_path):
    fees = tmp_path / "fees.toml"
    fees.write_text("[fees.buy_maker]\nrate_ppm = -10\n[fees.sell_maker]\nper_share = -1\n"
                    "[fees.buy_taker]\nrate_ppm = 30\n[fees.sell_taker]\nper_share = 2\n"
                    "rate_ppm = 5\n")
    url = ledger_url(tmp_path)
    done = _gatebook("ledger", "run", "--log", seeded_log, "--db", url, "--fees", str(fees),
                     "--once", "--status-file", str(tmp_path / "status.json"))
    assert done.returncode == 0, done.stderr
    assert "applied seq 6,000 of 6,000 (lag 0)" in done.stdout
    assert '"lag": 0' in (tmp_path / "status.json").read_text()
    shown, agreed = _gatebook_together(
        ("ledger", "balances", "--db", url),
        ("ledger", "reconcile", "--log", seeded_log, "--db", url, "--fees", str(fees)))
    assert shown.returncode == 0 and "fees" in shown.stdout and "applied seq 6,000" in shown.stdout
    assert agreed.returncode == 0 and "agrees with the log" in agreed.stdout, agreed.stdout
    # Tamper with one balance behind the writer's back: reconcile names it and fails.
    store = open_store(url)
    store.connection.execute("UPDATE cash SET amount = amount + 7 WHERE account = 3")
    store.connection.execute("DELETE FROM postings WHERE match_id = (SELECT MIN(match_id) "
                             "FROM postings) AND leg = 0")
    # And an execution's fee changed behind its back; and other fees than the writer's,
    # which reconcile names (without --fees it uses the writer's, recorded in the database).
    store.connection.execute("UPDATE executions SET buyer_fee = buyer_fee + 1 WHERE match_id = "
                             "(SELECT MAX(match_id) FROM executions)")
    (tmp_path / "other.toml").write_text("[fees.buy_taker]\nrate_ppm = 31\n")
    differs, other_fees, stored = _gatebook_together(
        ("ledger", "reconcile", "--log", seeded_log, "--db", url, "--fees", str(fees)),
        ("ledger", "reconcile", "--log", seeded_log, "--db", url, "--fees",
         str(tmp_path / "other.toml")),
        ("ledger", "reconcile", "--log", seeded_log, "--db", url))
    assert differs.returncode == 1
    assert "cash of account 3: ledger" in differs.stdout and "(ledger - log = 7)" in differs.stdout
    assert "postings do not sum to zero" in differs.stdout
    fee_lines = [line for line in differs.stdout.splitlines() if ": fees buyer " in line]
    assert len(fee_lines) == 1, differs.stdout
    assert other_fees.returncode == 1 and "fees: given " in other_fees.stdout
    assert stored.stdout == differs.stdout


def test_cli_refuses_bad_urls_and_unreachable_databases(tmp_path):
    garbage = tmp_path / "not-a-database.db"
    garbage.write_bytes(os.urandom(8192))
    bad, down, once, refused = _gatebook_together(
        ("ledger", "balances", "--db", "mysql://x@y/z"),
        ("ledger", "balances", "--db", "postgresql://nobody:secret@127.0.0.1:1/none"),
        ("ledger", "run", "--once", "--log", str(tmp_path), "--db",
         "postgresql://nobody:secret@127.0.0.1:1/none"),
        ("ledger", "balances", "--db", f"sqlite:///{garbage}"))
    assert bad.returncode == 2 and "sqlite:///PATH or postgresql://" in bad.stderr
    assert down.returncode == 3 and "secret" not in down.stderr and "Traceback" not in down.stderr
    assert once.returncode == 3 and "database" in once.stderr and "secret" not in once.stderr
    assert "Traceback" not in once.stderr
    assert refused.returncode == 3 and "not a database" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr


def test_the_demo_ends_with_the_sqlite_ledgers_balances():
    from gatebook.host.cli.ledger import DEMO_FEES
    from gatebook.host.flow import generate_flow
    out = _gatebook("demo", "--orders", "3000", "--seed", "7").stdout
    ledger = out[out.index("Ledger (SQLite"):]
    executions = int(out.split("trades (executions)")[1].split()[0].replace(",", ""))
    assert f"{executions:,} executions" in ledger and "cash sums to 0 (double entry)" in ledger
    engine = MatchingEngine(DEFAULT_SYMBOLS)
    house = 0
    for command in generate_flow(3000, seed=7):
        for event in engine.apply(command):
            if event[0] == internal.EXECUTED.code:
                fill = execution_of(event, DEMO_FEES)
                house += fill.buyer_fee + fill.seller_fee
    fees_line = next(line for line in ledger.splitlines() if line.split()[0] == "fees")
    assert int(fees_line.split()[1].replace(",", "")) == house


def test_cli_run_follows_the_log_until_sigterm(tmp_path):
    log, url = str(tmp_path / "log"), ledger_url(tmp_path)
    write_seeded_log(log, 500)
    status_file = tmp_path / "status.json"
    child = subprocess.Popen([sys.executable, "-m", "gatebook.cli", "ledger", "run", "--log", log,
                              "--db", url, "--status-every", "0.05", "--status-file",
                              str(status_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        wait_for(lambda: status_file.exists() and
                 json.loads(status_file.read_text())["applied_seq"] == 500, "seq 500 applied", 60)
        write_seeded_log(log, 1200)                     # the exchange goes on: it follows
        wait_for(lambda: json.loads(status_file.read_text())["applied_seq"] == 1200,
                 "seq 1200 applied", 60)
    finally:
        child.terminate()
        out, errors = child.communicate(timeout=60)
    assert child.returncode == 0, errors
    assert "applied seq 1,200 of 1,200 (lag 0)" in out.splitlines()[-1]
    with open_store(url) as store:
        assert store.cursor().applied_seq == 1200


def test_the_writer_follows_the_log_across_segments_while_they_roll(tmp_path):
    log, url = str(tmp_path / "log"), ledger_url(tmp_path)
    write_seeded_log(log, 1, segment_bytes=32 << 10)
    writer = LedgerWriter(log, open_store(url), fees=FEES, batch_commands=97,
                          poll_seconds=0.001).start()
    try:
        write_seeded_log(log, 5000, policy="batched", ack_every=100, segment_bytes=32 << 10)
        wait_for(lambda: writer.status().applied_seq == 5000, "the writer to reach seq 5000", 120)
    finally:
        writer.close()
    assert len(list_segments(log)) > 20                 # it crossed every roll
    status = writer.status()
    assert status.problem is None and not status.errors
    cash, positions, executions = engine_balances(5000, FEES)
    with open_store(url) as store:
        assert store.balances()[1:] == (cash, positions)
        assert store.cursor().executions == executions


def test_a_segment_missing_in_the_middle_of_the_log_is_named(tmp_path):
    log = str(tmp_path / "log")
    write_seeded_log(log, 3000, ack_every=100, segment_bytes=32 << 10)
    segments = list_segments(log)
    os.remove(segments[3][1])
    with open_store(ledger_url(tmp_path)) as store:
        writer = LedgerWriter(log, store, fees=FEES)
        status = writer.catch_up()
        assert status.errors == {"missing_segment": 1} and "segment-00000003.wal" in status.problem
        cash, positions, _ = engine_balances(status.applied_seq, FEES)
        assert store.balances()[1:] == (cash, positions) and status.applied_seq > 100


def test_a_ledger_behind_a_pruned_log_says_so(tmp_path):
    log = str(tmp_path / "log")
    write_seeded_log(log, 4000, ack_every=100, segment_bytes=32 << 10, snapshot_every=1000,
                     prune="delete")
    assert list_segments(log)[0][0] > 0                 # the first segments are gone
    with open_store(ledger_url(tmp_path)) as store:
        status = LedgerWriter(log, store, fees=FEES).catch_up()
        assert status.applied_seq == 0 and status.errors == {"log_pruned": 1}
        assert "the ledger needs seq 1 on" in status.problem


def test_a_ledger_keeps_one_fee_schedule_and_reconcile_checks_each_execution_s_fees(
        seeded_log, tmp_path):
    url = ledger_url(tmp_path)
    assert LedgerWriter(seeded_log, open_store(url), fees=FEES,
                        batch_commands=2000).step() == 2000
    # A writer started with other fees applies nothing, and says why.
    other = LedgerWriter(seeded_log, open_store(url), fees=FeeSchedule(), batch_commands=2000)
    assert other.step() == 0
    status = other.status()
    assert status.applied_seq == 2000 and status.errors == {"fees_differ": 1}
    assert "other fees" in status.problem
    store = open_store(url)
    assert store.fee_audit(2000)[0] == FEES
    assert reconcile(seeded_log, store)[1] == []        # the recorded schedule by default
    differences = reconcile(seeded_log, store, FeeSchedule())[1]
    assert differences[0].startswith("fees: given ")
    assert any(": fees buyer " in line for line in differences)
