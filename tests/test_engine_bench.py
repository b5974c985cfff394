"""The engine benchmark's collector control, and the book's memory bounds under churn.

`gatebook bench` runs with the cyclic collector off by default (the engine makes no
reference cycles), and says so; a level's list of orders stays bounded however orders come
and go at one price, whether they are cancelled or filled, so a hostile add/cancel loop
cannot grow the process.
"""

import gc
import subprocess
import sys

import pytest

from engine_implementations import PureMatchingEngine
from gatebook.host.bench import GC_MODES, collector, run_benchmark
from gatebook.host.engine import MatchingEngine
from gatebook.host.flow import generate_flow
from gatebook.host.sequencer import Sequencer
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.wire.enums import OrderType, Side, TimeInForce

GATE = DEFAULT_SYMBOLS[0]


def test_collector_modes_disable_and_restore():
    assert gc.isenabled()
    with collector("off"):
        assert not gc.isenabled()
    assert gc.isenabled()
    with collector("quiet"):
        assert gc.isenabled() and gc.get_threshold()[0] == 200_000
    assert gc.isenabled() and gc.get_threshold()[0] < 200_000
    with pytest.raises(ValueError):
        with collector("sometimes"):
            pass


def test_a_run_with_the_collector_off_makes_no_collector_pass():
    result = run_benchmark(generate_flow(3_000, seed=2), DEFAULT_SYMBOLS, gc_mode="off")
    assert result.collections == 0 and result.commands == 3_000
    assert gc.isenabled()


def test_gatebook_bench_names_the_collector_mode():
    done = subprocess.run([sys.executable, "-m", "gatebook.cli", "bench", "--orders", "2000",
                           "--repeat", "1", "--gc", "quiet"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "collector quiet" in done.stdout and " gc" in done.stdout
    assert set(GC_MODES) == {"off", "quiet", "default"}


def _order(sequencer, order_id, side, qty, tif=TimeInForce.GTC, price=100_0000):
    return sequencer.new_order(GATE.symbol_id, order_id, 7, int(side), int(OrderType.LIMIT),
                               int(tif), price, qty)


def _level(engine, side, price):
    book = engine.books[GATE.symbol_id]
    return book.levels[side][price if side == Side.BUY else -price]


@pytest.mark.parametrize("engine_class", [MatchingEngine, PureMatchingEngine],
                         ids=["loaded", "source"])
def test_a_level_stays_small_under_an_add_cancel_loop(engine_class):
    engine = engine_class([GATE])
    sequencer = Sequencer(iter(range(1, 10**9)).__next__)
    engine.apply(_order(sequencer, 1, Side.BUY, 100))          # stays all along
    for order_id in range(2, 5_002):
        engine.apply(_order(sequencer, order_id, Side.BUY, 100))
        engine.apply(sequencer.cancel(order_id, 7))
        assert len(_level(engine, Side.BUY, 100_0000).orders) <= 2 * 1 + 16 + 1
    level = _level(engine, Side.BUY, 100_0000)
    assert level.count == 1 and level.qty == 100


@pytest.mark.parametrize("engine_class", [MatchingEngine, PureMatchingEngine],
                         ids=["loaded", "source"])
def test_a_level_stays_small_while_its_front_is_filled_away(engine_class):
    engine = engine_class([GATE])
    sequencer = Sequencer(iter(range(1, 10**9)).__next__)
    for order_id in range(1, 41):
        engine.apply(_order(sequencer, order_id, Side.SELL, 100))
    next_id = 41
    for _ in range(3_000):                  # one fill takes the front, one order joins the back
        engine.apply(_order(sequencer, next_id, Side.BUY, 100, TimeInForce.IOC))
        engine.apply(_order(sequencer, next_id + 1, Side.SELL, 100))
        next_id += 2
        level = _level(engine, Side.SELL, 100_0000)
        assert level.count == 40 and len(level.orders) <= 2 * 40 + 16 + 1


def test_the_steady_tail_is_slow_in_every_run_and_named_by_kind():
    from gatebook.host.bench import KINDS, steady_tail
    commands = generate_flow(3_000, seed=4)
    thresholds, slow, sizes = steady_tail(commands, DEFAULT_SYMBOLS, runs=2, share=0.05)
    assert len(thresholds) == 2 and all(t > 0 for t in thresholds)
    assert len(slow) <= 0.05 * len(commands) + 1
    assert set(slow.values()) <= set(KINDS) and set(sizes) == set(slow)
    done = subprocess.run([sys.executable, "-m", "gatebook.cli", "bench", "--tail", "--orders",
                           "2000", "--repeat", "2"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "in every run:" in done.stdout


@pytest.mark.parametrize("engine_class", [MatchingEngine, PureMatchingEngine],
                         ids=["loaded", "source"])
def test_a_deep_level_stays_bounded_when_cancels_land_anywhere_in_it(engine_class):
    # Cancels scattered through a 200-order queue: compaction goes a window at a time
    # (book._SWEEP entries per cancel), so the list may run past 2 * live + 16 for a while,
    # but never far: the windows come round before the dead pile up.
    import random
    rng = random.Random(5)
    engine = engine_class([GATE])
    sequencer = Sequencer(iter(range(1, 10**9)).__next__)
    live = list(range(1, 201))
    for order_id in live:
        engine.apply(_order(sequencer, order_id, Side.BUY, 100))
    next_id, longest = 201, 0
    for _ in range(6_000):
        victim = live.pop(rng.randrange(len(live)))
        engine.apply(sequencer.cancel(victim, 7))
        engine.apply(_order(sequencer, next_id, Side.BUY, 100))
        live.append(next_id)
        next_id += 1
        level = _level(engine, Side.BUY, 100_0000)
        longest = max(longest, len(level.orders) - level.head)
    assert level.count == 200 and level.qty == 200 * 100
    assert longest <= 3 * 200 + 16
