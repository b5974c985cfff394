"""Pre-trade risk across a restart: recovery rebuilds the gate from the snapshot and the log,
and decides every later order as a gate that never stopped; limits changed in the config
apply from the restart on, never to the commands already logged."""

from dataclasses import replace

import pytest

from gatebook.host.builder import build_exchange
from gatebook.host.clock import ManualClock
from gatebook.host.engine import MatchingEngine
from gatebook.host.ledger import Fee, FeeSchedule
from gatebook.host.risk import RISK_REASONS, AccountLimits, RiskGate
from gatebook.host.risk.settings import RISK_LIMIT_KEYS, RiskConfig
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.host.wal.loadgen import START_NS, STEP_NS, seeded_commands, stamped
from gatebook.host.wal.recovery import recover
from gatebook.host.wal.snapshot import list_snapshots, read_snapshot
from gatebook.wire import internal

from test_builder import _config as builder_config

FEES_TOML = """
[buy_taker]
rate_ppm = 30
[sell_taker]
per_share = 1
[buy_maker]
rate_ppm = -10
"""
FEES = FeeSchedule(buy_taker=Fee(rate_ppm=30), sell_taker=Fee(per_share=1),
                   buy_maker=Fee(rate_ppm=-10))
# Tight enough that the seeded flow meets every limit: 50 users, 3 symbols.
TIGHT = dict(buying_power=3_000_000_000, max_position=600, max_order_qty=450,
             max_order_notional=400_000_000)
LOOSE = dict(TIGHT, buying_power=9_000_000_000, max_position=2_000)


def _risk(defaults, tmp_path, **accounts):
    (tmp_path / "fees.toml").write_text(FEES_TOML)
    return RiskConfig(tuple((key, defaults[key]) for key in RISK_LIMIT_KEYS),
                      tuple((account, tuple(values.items())) for account, values in
                            accounts.items()), str(tmp_path / "fees.toml"))


def _config(tmp_path, risk, snapshot_every=700):
    config = builder_config(tmp_path, directory=str(tmp_path / "log"),
                            snapshot_every=snapshot_every)
    return replace(config, symbols=DEFAULT_SYMBOLS, risk=risk)


def _limits(values):
    return AccountLimits(**values)


def _run(built, commands):
    """Each command's events through the built exchange's journal (its gate in front),
    stamped as `stamped` stamps the whole seeded stream."""
    journal = built.journal
    journal.sequencer.clock = ManualClock(START_NS + (journal.sequencer.next_seq - 1) * STEP_NS,
                                          STEP_NS)
    events = []
    for command in commands:
        events.append(journal.submit(*command)[1])
        if journal.snapshot_due:
            built.poll()                # the exchange takes it between bursts
    return events



def test_a_restarted_exchange_decides_as_one_that_never_stopped(tmp_path):
    commands = list(seeded_commands(5, 3000))
    reference = RiskGate(MatchingEngine(DEFAULT_SYMBOLS), DEFAULT_SYMBOLS,
                         {9: _limits(dict(TIGHT, buying_power=0))},
                         default_limits=_limits(TIGHT), fees=FEES)
    expected = [reference.apply(command) for command in stamped(commands)]
    risk = _risk(TIGHT, tmp_path, **{"9": {"buying_power": 0}})
    config = _config(tmp_path, risk)
    built = build_exchange(config)
    assert built.risk is built.journal.front
    try:
        first = _run(built, commands[:1800])
    finally:
        built.close()
    assert first == expected[:1800]
    refused = {event[-1] for events in first for event in events
               if event[0] == internal.REJECTED.code and event[-1] in RISK_REASONS}
    assert len(refused) >= 3, refused                   # the flow meets the limits
    # The newest snapshot (at seq 1400 or just after, or 700's) holds the gate's state; the commands
    # after it replay through the gate it restores.
    assert read_snapshot(list_snapshots(str(tmp_path / "log"))[0][1]).risk is not None
    again = build_exchange(config)
    try:
        # (a snapshot due while the last one is still being written is skipped, so on a
        # loaded machine the newest may be the first, taken as seq 699 or 700 ended a burst)
        assert 0 < again.journal.recovery.snapshot_seq < 1800
        assert again.risk.export() == reference_at(commands[:1800], risk_limits=TIGHT).export()
        assert _run(again, commands[1800:]) == expected[1800:]
        assert again.risk.export() == reference.export()
        assert again.journal.engine.state_hash() == reference.engine.state_hash()
    finally:
        again.close()
    # A reader that names no gate (`gatebook log`, a standby with the snapshots) gets the
    # snapshot's: every OUTPUT record after it is what the replay gives.
    _, report = recover(str(tmp_path / "log"), DEFAULT_SYMBOLS, verify_outputs=True)
    assert report.verified == 3000 - report.snapshot_seq > 0
    assert report.front.export() == reference.export()


def reference_at(commands, risk_limits):
    gate = RiskGate(MatchingEngine(DEFAULT_SYMBOLS), DEFAULT_SYMBOLS,
                    {9: _limits(dict(risk_limits, buying_power=0))},
                    default_limits=_limits(risk_limits), fees=FEES)
    for command in stamped(commands):
        gate.apply(command)
    return gate


@pytest.mark.parametrize("snapshot_every", [0, 500])
def test_limits_changed_at_a_restart_apply_from_then_on_and_replay_keeps_the_old(
        tmp_path, snapshot_every):
    commands = list(seeded_commands(6, 2400))
    reference = RiskGate(MatchingEngine(DEFAULT_SYMBOLS), DEFAULT_SYMBOLS, {},
                         default_limits=_limits(TIGHT), fees=FEES)
    expected, at_restart = [], None
    for number, command in enumerate(stamped(commands)):
        if number == 1200:
            reference.configure({}, _limits(LOOSE), FEES)
            at_restart = reference.export()
        expected.append(reference.apply(command))
    log = str(tmp_path / "log")
    with build_exchange(_config(tmp_path, _risk(TIGHT, tmp_path), snapshot_every)) as built:
        assert _run(built, commands[:1200]) == expected[:1200]
    loose = _config(tmp_path, _risk(LOOSE, tmp_path), snapshot_every)
    with build_exchange(loose) as built:
        # Recovery replayed under the limits that decided those commands, then took
        # the new ones, and a snapshot saying so before any order.
        assert list_snapshots(log)[0][0] == 1200
        assert built.risk.export() == at_restart
        assert _run(built, commands[1200:]) == expected[1200:]
    # Every OUTPUT record after the newest snapshot is what replay through its gate gives.
    _, report = recover(log, DEFAULT_SYMBOLS, verify_outputs=True,
                        front=lambda engine, saved: RiskGate.restore(engine, DEFAULT_SYMBOLS,
                                                                     saved))
    assert report.verified == 2400 - report.snapshot_seq > 0
    assert report.front.export() == reference.export()


def test_turning_risk_off_at_a_restart_replays_without_the_gate_from_then_on(tmp_path):
    commands = list(seeded_commands(7, 1600))
    with build_exchange(_config(tmp_path, _risk(TIGHT, tmp_path), 0)) as built:
        _run(built, commands[:800])
    with build_exchange(_config(tmp_path, None, 0)) as built:
        assert built.risk is None and built.journal.front is None
        assert not any(event[0] == internal.REJECTED.code and event[-1] in RISK_REASONS
                       for events in _run(built, commands[800:]) for event in events)
    _, report = recover(str(tmp_path / "log"), DEFAULT_SYMBOLS, verify_outputs=True,
                        front=lambda engine, saved: saved and RiskGate.restore(
                            engine, DEFAULT_SYMBOLS, saved))
    assert report.snapshot_seq == 800 and report.front is None and report.verified == 800
