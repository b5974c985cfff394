"""The write-ahead log in front of the hybrid host: what a lane matched is logged
like anything else, recovery rebuilds it on the golden engine, and a restarted
hybrid host carries on from the recovered books with an empty lane.

Each runs a short flow by default and the original long one with --run-long: the
same properties, with the thresholds scaled to the flow.
"""

import pytest

from gatebook.host.engine import MatchingEngine
from gatebook.host.hybrid import HybridExchange
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.host.wal import JournaledExchange, recover
from gatebook.sim.flows import SYMBOL, hybrid_flow
from gatebook.sim.hybrid.amaranth_link import AmaranthLink


def _around(engine):
    return HybridExchange(DEFAULT_SYMBOLS, [AmaranthLink(4, stall=0.2, seed=3)], [SYMBOL],
                          engine=engine)


def _journaled(directory, **options):
    return JournaledExchange(str(directory), DEFAULT_SYMBOLS, policy="none", matcher=_around,
                             **options)


@pytest.mark.parametrize("count", [300, pytest.param(1200, marks=pytest.mark.long)])
def test_a_lanes_matches_are_logged_and_recover_on_the_golden_engine(tmp_path, count):
    commands = hybrid_flow(21, count, symbols=(SYMBOL, 3))
    golden = MatchingEngine(DEFAULT_SYMBOLS)
    journal = _journaled(tmp_path, snapshot_every=count // 3)
    try:
        for command in commands:
            assert journal.apply(command) == golden.apply(command), command
    finally:
        journal.matcher.close()
        journal.close()
    assert journal.matcher.lane_commands > count // 12    # the lane matched, not only the host
    # every logged event is what the golden engine gives on replay, snapshots included
    engine, report = recover(str(tmp_path), DEFAULT_SYMBOLS, verify_outputs=True,
                             use_snapshots=False)
    assert engine.state_hash() == golden.state_hash()
    engine, report = recover(str(tmp_path), DEFAULT_SYMBOLS)
    assert report.snapshot and engine.state_hash() == golden.state_hash()


@pytest.mark.parametrize("count", [400, pytest.param(1600, marks=pytest.mark.long)])
def test_a_restarted_hybrid_host_carries_on_from_the_log(tmp_path, count):
    commands = hybrid_flow(22, count, symbols=(SYMBOL, 3))
    golden = MatchingEngine(DEFAULT_SYMBOLS)
    half = len(commands) // 2
    for part in (commands[:half], commands[half:]):
        journal = _journaled(tmp_path)                   # the second recovers the first's log
        try:
            for command in part:
                # cancels and replaces of orders from before the restart, reused ids and
                # the halts all need the recovered state the front end caught up with
                assert journal.apply(command) == golden.apply(command), command
        finally:
            journal.matcher.close()
            journal.close()
        assert journal.matcher.lane_commands > count // 32
    assert journal.recovery.last_seq == commands[half - 1][1]
    assert recover(str(tmp_path), DEFAULT_SYMBOLS)[0].state_hash() == golden.state_hash()
