"""`gatebook bench --peers` (host/peer_bench.py): Gatebook beside other engines, honestly.

The comparison means something only if every engine did the same work on the same flow,
so these tests check the flow's mix and that trades and volume agree between engines;
a peer that is not installed must be reported as skipped, with how to install it.
"""

import importlib.util
import os
import subprocess
import sys
from collections import Counter

import pytest

from gatebook.host.engine import MatchingEngine
from gatebook.host.peer_bench import (INSTALL_HINT, PEER_MIX, PEERS, flow_shape, peer_flow,
                                      run_peers)
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.wire.enums import TimeInForce
from gatebook.wire.internal import CANCEL, REJECTED
from gatebook.wire.positions import CODE, INTERNAL

_NEW = INTERNAL.NEW_ORDER


@pytest.fixture(scope="module")
def flow():
    return peer_flow(6_000, seed=3)


def test_flow_is_the_peers_mix_and_repeatable(flow):
    assert peer_flow(6_000, seed=3) == flow
    kinds = Counter("cancel" if command[CODE] == CANCEL.code else
                    "ioc" if command[_NEW.tif] == TimeInForce.IOC else "passive"
                    for command in flow)
    assert abs(kinds["passive"] / len(flow) - PEER_MIX.passive) < 0.03
    assert abs(kinds["cancel"] / len(flow) - PEER_MIX.cancel) < 0.03
    assert abs(kinds["ioc"] / len(flow) - PEER_MIX.marketable) < 0.03
    # Cancels aim at live orders only: none is rejected, so no engine's reject path is timed.
    engine = MatchingEngine([DEFAULT_SYMBOLS[0]])
    rejected = [event for command in flow for event in engine.apply(command)
                if event[CODE] == REJECTED.code]
    assert rejected == []
    resting, levels, longest = flow_shape(flow)
    assert levels <= 2 * PEER_MIX.levels + 2 and longest > 50      # deep queues, few levels


def test_every_engine_agrees_on_trades_or_is_skipped_with_the_install_hint(flow):
    results = run_peers(flow, repeat=1)
    assert [result.name for result in results] == [name for name, _, _ in PEERS]
    ran = [result for result in results if not result.skipped]
    assert ran[0].name.startswith("gatebook") and ran[1].name.startswith("gatebook")
    assert ran[0].trades > 100 and ran[0].volume > 100 * ran[0].trades
    assert {(result.trades, result.volume) for result in ran} == {(ran[0].trades, ran[0].volume)}
    for result in results:
        assert (result.skipped and INSTALL_HINT in result.skipped) or len(result.seconds) == 1
    for (name, _, module), result in zip(PEERS, results):
        if module == "liquibook":
            assert bool(result.skipped) == (importlib.util.find_spec("liquibook") is None)


def test_cli_prints_the_table_and_says_the_trades_agree():
    done = subprocess.run([sys.executable, "-m", "gatebook.cli", "bench", "--peers",
                           "--orders", "3000", "--repeat", "1"],
                          capture_output=True, text=True, timeout=300, env=os.environ)
    assert done.returncode == 0, done.stderr
    assert "trades and volume agree across every engine" in done.stdout
    assert "gatebook, " in done.stdout and "matching-engine 0.1.1" in done.stdout
    assert "3,000 records" in done.stdout


def test_an_engine_whose_run_dies_is_reported_and_the_others_go_on(tmp_path):
    from gatebook.host import peer_bench
    result = peer_bench.PeerResult("gatebook", 1, [], 0, 0)
    # A real child process that fails (its flow file is not there): what a crash looks like.
    seconds = peer_bench._one_run(0, [], str(tmp_path / "missing.pkl"), DEFAULT_SYMBOLS[0],
                                  False, True, result)
    assert seconds == 0.0 and result.skipped.startswith("crashed (exit 1) in a timed run")
    assert "FileNotFoundError" in result.skipped
