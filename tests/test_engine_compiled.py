"""The compiled engine against its own Python source (host/compiled.py, setup.py).

Cython compiles host/engine.py, book.py and validation.py as they are; these tests hold the
compiled build to the source build event for event and by `state_hash()`, on seeded flows
(the benchmark's and harsher mixes) and on adversarial commands (every field hostile: out
of range, int subclasses, bools, floats, wrong lengths, not tuples at all). They also check
which build loads, and that an out-of-date compiled module never does.
"""

import os
import shutil
import subprocess
import sys
import sysconfig
from enum import IntEnum
from importlib.machinery import EXTENSION_SUFFIXES

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine_implementations import PureMatchingEngine, compiled_skip
from gatebook.host import compiled
from gatebook.host import engine as loaded_engine
from gatebook.host.engine import MatchingEngine
from gatebook.host.flow import STANDARD_MIX, FlowMix, generate_flow
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.wire import internal as W
from gatebook.wire.enums import Side
from gatebook.wire.records import make

HASH_EVERY = 500


def _compiler_available():
    try:
        import Cython  # noqa: F401
    except ImportError:
        return False
    return shutil.which(sysconfig.get_config_var("CC").split()[0] or "cc") is not None


def _run_both(commands, stp=False, hash_every=HASH_EVERY):
    """Apply `commands` to a compiled and a pure engine; assert equal outcomes throughout."""
    fast = MatchingEngine(DEFAULT_SYMBOLS, self_trade_prevention=stp)
    slow = PureMatchingEngine(DEFAULT_SYMBOLS, self_trade_prevention=stp)
    for index, command in enumerate(commands):
        assert _outcome(fast, command) == _outcome(slow, command), (index, command)
        if index % hash_every == 0:
            assert fast.state_hash() == slow.state_hash(), index
    assert fast.state_hash() == slow.state_hash()
    assert fast.last_seq == slow.last_seq and fast.match_id == slow.match_id
    return fast


def _outcome(engine, command):
    try:
        events = engine.apply(command)
    except Exception as error:          # the two builds must fail alike, should either fail
        return ("raised", type(error).__name__, str(error))
    assert all(type(value) is int for event in events for value in event), events
    return events


# -- which build loads ---------------------------------------------------------------


def test_the_compiled_engine_loads_where_it_can_be_built():
    if os.environ.get(compiled.PURE_PYTHON_ENV, "") not in ("", "0"):
        pytest.skip(f"{compiled.PURE_PYTHON_ENV} is set")
    if not _compiler_available():
        pytest.skip("no Cython or no C compiler: the engine runs as Python source")
    assert compiled_skip() is None, \
        "the engine runs from source although it can be compiled: rebuild with `pip install -e .`"
    for module in compiled.COMPILED_MODULES:
        assert compiled.is_compiled(sys.modules[f"gatebook.host.{module}"]), module
    assert compiled.engine_build().startswith("compiled")


def test_the_pure_twin_is_the_python_source_throughout():
    for module in compiled.COMPILED_MODULES:
        twin = compiled.load_pure(module)
        assert twin.__file__.endswith(f"host{os.sep}{module}.py")
        assert not compiled.is_compiled(twin)
    # The source engine's own imports resolve to the source book and validation.
    assert PureMatchingEngine.__module__ == compiled.PURE_PACKAGE + ".engine"
    assert compiled.load_pure("engine").Book is compiled.load_pure("book").Book
    # So do the Python modules it calls (engine_state): the source engine's state part
    # builds source-book orders, never the compiled book's.
    state = sys.modules[compiled.PURE_PACKAGE + ".engine_state"]
    assert compiled.load_pure("engine").engine_state is state
    assert state.new_order is compiled.load_pure("book").new_order
    with pytest.raises(ValueError):
        compiled.load_pure("flow")


def test_the_environment_variable_loads_the_source():
    script = ("from gatebook.host import compiled, engine, book; "
              "print(engine.__file__); print(book.__file__); print(compiled.engine_build())")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=dict(os.environ, **{compiled.PURE_PYTHON_ENV: "1"}), timeout=60)
    assert done.returncode == 0, done.stderr
    engine_file, book_file, build = done.stdout.splitlines()
    assert engine_file.endswith("engine.py") and book_file.endswith("book.py")
    assert build == f"pure Python: {compiled.PURE_PYTHON_ENV}=1"


def test_a_compiled_module_older_than_its_source_is_refused(tmp_path):
    (tmp_path / "book.py").write_text("X = 1\n")
    assert compiled.source_reason("book", tmp_path, environ={}).startswith("not compiled")
    built = tmp_path / f"book{EXTENSION_SUFFIXES[0]}"
    built.write_bytes(b"compiled bytes")
    assert "older than its source" in compiled.source_reason("book", tmp_path, environ={})
    digest = tmp_path / f"{built.name}{compiled.DIGEST_SUFFIX}"
    digest.write_text(compiled.source_digest(tmp_path, "book") + "\n")
    assert compiled.source_reason("book", tmp_path, environ={}) is None
    assert compiled.source_reason("book", tmp_path,
                                  environ={compiled.PURE_PYTHON_ENV: "1"}) is not None
    (tmp_path / "book.py").write_text("X = 2\n")          # edited, not rebuilt
    assert "older than its source" in compiled.source_reason("book", tmp_path, environ={})
    (tmp_path / "book.py").write_text("X = 1\n")
    (tmp_path / "book.pxd").write_text("cdef int X\n")    # the types count as source too
    assert "older than its source" in compiled.source_reason("book", tmp_path, environ={})


def test_one_out_of_date_module_sends_every_engine_module_to_its_source(tmp_path):
    # A compiled engine must never call into a book compiled from other source, nor the
    # reverse: one stale module and all three load from their .py.
    for module in compiled.COMPILED_MODULES:
        (tmp_path / f"{module}.py").write_text(f"NAME = {module!r}\n")
        built = tmp_path / f"{module}{EXTENSION_SUFFIXES[0]}"
        built.write_bytes(b"compiled bytes")
        (tmp_path / f"{built.name}{compiled.DIGEST_SUFFIX}").write_text(
            compiled.source_digest(tmp_path, module) + "\n")
    current = compiled.SourceFinder(tmp_path, environ={})
    assert all(current.find_spec(f"gatebook.host.{module}") is None
               for module in compiled.COMPILED_MODULES)        # the compiled modules load
    assert current.find_spec("gatebook.host.flow") is None      # not an engine module
    (tmp_path / "book.py").write_text("NAME = 'edited'\n")
    stale = compiled.SourceFinder(tmp_path, environ={})
    for module in compiled.COMPILED_MODULES:
        spec = stale.find_spec(f"gatebook.host.{module}")
        assert spec is not None and spec.origin == str(tmp_path / f"{module}.py"), module
        assert "older than its source" in stale.reasons[module]


# -- seeded flows ----------------------------------------------------------------------

FLOWS = {
    "standard": STANDARD_MIX,
    "mass cancels": FlowMix(mass_cancel_every=400),
    "stops and sweeps": FlowMix(passive_limit=0.3, marketable_limit=0.15, market=0.05,
                                fok=0.04, stop=0.1, mid_step=0.2, late_cancel=0.2),
    "few users, wide books": FlowMix(users=3, depth_ticks=200, replace=0.2),
}


# 2,500 commands per flow in the default run; the long run adds 6,000.
@pytest.mark.skipif(compiled_skip() is not None, reason=str(compiled_skip()))
@pytest.mark.parametrize("count", [2_500, pytest.param(6_000, marks=pytest.mark.long)])
@pytest.mark.parametrize("stp", [False, True], ids=["no-stp", "stp"])
@pytest.mark.parametrize("name", list(FLOWS))
def test_seeded_flows_give_the_same_events_and_state(name, stp, count):
    commands = generate_flow(count, seed=len(name), mix=FLOWS[name])
    engine = _run_both(commands, stp)
    assert any(engine.books[symbol].keys[0] for symbol in engine.books)   # books got deep


# -- adversarial commands ---------------------------------------------------------------


class _Wrapped(IntEnum):
    ONE = 1
    TWO = 2


_HOSTILE = st.one_of(
    st.integers(-3, 3), st.integers(0, 2**64 + 5), st.integers(-2**70, 2**70),
    st.sampled_from([0, 1, 2, 3, 100, 10_000, 1_000_000, 2**32 - 1, 2**32, 2**63, 2**64 - 1]),
    st.sampled_from([True, False, None, 1.0, "1", b"\x01", Side.SELL, _Wrapped.ONE,
                     _Wrapped.TWO, (1,), [1]]))
_PRICE = st.sampled_from([0, 1_000_000, 1_000_100, 1_000_200, 999_900, 1_000_001, -100])
_QTY = st.sampled_from([0, 1, 100, 1_000, 2**32, 3_000_000_000, -1])


@st.composite
def _command(draw):
    ids = st.integers(1, 12)
    kind = draw(st.sampled_from(["new", "new", "new", "cancel", "replace", "mass", "admin",
                                 "raw"]))
    if kind == "raw":
        # Anything at all: wrong lengths, unknown codes, not a tuple.
        return draw(st.one_of(st.lists(_HOSTILE, max_size=14).map(tuple),
                              st.lists(_HOSTILE, max_size=14), _HOSTILE))
    if kind == "new":
        fields = dict(symbol=draw(st.sampled_from([1, 2, 4, 99])), order_id=draw(ids),
                      user=draw(st.integers(1, 3)), side=draw(st.integers(0, 1)),
                      order_type=draw(st.integers(0, 3)), tif=draw(st.integers(0, 3)),
                      price=draw(_PRICE), stop_price=draw(_PRICE), qty=draw(_QTY))
        message = W.NEW_ORDER
    elif kind == "cancel":
        fields = dict(order_id=draw(ids), user=draw(st.integers(1, 3)))
        message = W.CANCEL
    elif kind == "replace":
        fields = dict(order_id=draw(ids), user=draw(st.integers(1, 3)), price=draw(_PRICE),
                      qty=draw(_QTY))
        message = W.REPLACE
    elif kind == "mass":
        fields = dict(scope=draw(st.integers(0, 3)), user=draw(st.integers(1, 3)),
                      symbol=draw(st.sampled_from([1, 2, 0xFFFF])))
        message = W.MASS_CANCEL
    else:
        fields = dict(action=draw(st.integers(0, 5)), symbol=draw(st.sampled_from([1, 0xFFFF])))
        message = W.ADMIN
    # One field in three made hostile, any field, the stamp included.
    names = ["seq", "ts", *fields]
    fields.update(seq=0, ts=0)
    for name in draw(st.lists(st.sampled_from(names), max_size=2, unique=True)):
        fields[name] = draw(_HOSTILE)
    return make(message, **fields)


def _adversarial_lists(examples):
    """Lists of adversarial commands, `examples` of them (derandomized: the same each run)."""
    return lambda test: pytest.mark.skipif(compiled_skip() is not None,
                                           reason=str(compiled_skip()))(
        settings(derandomize=True, database=None, deadline=None, max_examples=examples,
                 suppress_health_check=[HealthCheck.too_slow])(
            given(st.lists(_command(), min_size=5, max_size=80))(test)))


# The default run draws 80 lists; the long run (--run-long) 250.
@_adversarial_lists(80)
def test_adversarial_commands_give_the_same_events_and_state(commands):
    _check_adversarial_commands(commands)


@pytest.mark.long
@_adversarial_lists(250)
def test_adversarial_commands_give_the_same_events_and_state_long(commands):
    _check_adversarial_commands(commands)


def _check_adversarial_commands(commands):
    stamped = []
    for seq, command in enumerate(commands, start=1):
        if isinstance(command, tuple) and len(command) > 2 and command[1] == 0 == command[2]:
            command = command[:1] + (seq, 10**18 + seq) + command[3:]   # a valid stamp, mostly
        stamped.append(command)
    _run_both(stamped, hash_every=1)


@pytest.mark.parametrize("pure", [False, True], ids=["default", "pure"])
def test_gatebook_bench_says_which_engine_ran(pure):
    env = {name: value for name, value in os.environ.items() if name != compiled.PURE_PYTHON_ENV}
    if pure:
        env[compiled.PURE_PYTHON_ENV] = "1"
    done = subprocess.run([sys.executable, "-m", "gatebook.cli", "bench", "--orders", "2000",
                           "--repeat", "1"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    [line] = [line for line in done.stdout.splitlines() if "; engine " in line]
    reason = compiled.source_reason("engine", environ=env)
    expected = "compiled (Cython, pure-Python mode)" if reason is None else f"pure Python: {reason}"
    assert line.endswith(f"; engine {expected}"), line
    assert ("pure Python" in line) == (pure or reason is not None)


@pytest.mark.long
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
@pytest.mark.skipif(compiled_skip() is not None, reason=str(compiled_skip()))
def test_the_compiled_engine_runs_far_fewer_instructions():
    """callgrind's count, which a busy machine does not move: the compiled build must stay
    well ahead of its source (6,922 against 16,858 per command when this was written)."""
    from gatebook.host.bench import instructions_per_command
    commands = generate_flow(5_000, seed=1)
    compiled_cost = instructions_per_command(commands)
    pure_cost = instructions_per_command(commands, pure=True)
    assert compiled_cost < 0.6 * pure_cost, (compiled_cost, pure_cost)


# -- the edges the compiled build's C integers rest on ----------------------------------

def _edge_symbols():
    """A symbol whose tick is wider than every price and whose protection reaches past any
    64-bit key: the compiled build caps the tick it divides by and clamps the threshold."""
    from gatebook.host.symbols import SymbolSpec
    return (SymbolSpec(7, "WIDE", tick_size=2**40 + 1, lot_size=3, price_min=1,
                       price_max=2**32 - 1, protection_ticks=2**32 - 1),
            SymbolSpec(8, "PLAIN", tick_size=100, lot_size=1, price_min=100,
                       price_max=2**32 - 1, max_order_qty=1_000),
            SymbolSpec(9, "HUGE", tick_size=3 * 2**30, price_min=1, price_max=2**32 - 1,
                       protection_ticks=2**32 - 1))


@pytest.mark.skipif(compiled_skip() is not None, reason=str(compiled_skip()))
def test_prices_quantities_and_ticks_at_their_widths_give_the_same_reasons():
    # Prices and quantities just under, at and over 32 bits (the compiled checks copy a
    # value into a C integer only once it is known to fit), ticks wider than any price,
    # and a protected market order whose threshold lies beyond any 64-bit key.
    prices = [1, 99, 100, 3 * 2**30, 2**32 - 100, 2**32 - 1, 2**32, 2**40 + 1, 2**41 + 2,
              2**64 + 100]
    quantities = [1, 3, 999, 1_000, 1_001, 2**32 - 1, 2**32, 2**63, 2**64]
    commands, seq = [], 0
    for symbol in (7, 8, 9):
        for price in prices:
            for qty in quantities:
                for order_type, stop_price in ((0, 0), (3, price), (2, price)):
                    seq += 1
                    commands.append(make(W.NEW_ORDER, seq=seq, ts=seq, symbol=symbol,
                                         order_id=seq, user=1 + seq % 2, side=seq % 2,
                                         order_type=order_type, tif=1,
                                         price=price if order_type != 2 else 0,
                                         stop_price=stop_price if order_type else 0, qty=qty))
                seq += 1
                commands.append(make(W.REPLACE, seq=seq, ts=seq, order_id=seq - 5, user=1,
                                     price=price, qty=qty))
        for side in (0, 1):
            seq += 1
            commands.append(make(W.NEW_ORDER, seq=seq, ts=seq, symbol=symbol, order_id=seq,
                                 user=3, side=side, order_type=1, tif=2, price=0,
                                 stop_price=0, qty=3))
    fast = MatchingEngine(_edge_symbols())
    slow = PureMatchingEngine(_edge_symbols())
    outcomes = []
    for command in commands:
        outcome = _outcome(fast, command)
        assert outcome == _outcome(slow, command), command
        outcomes.append(outcome)
    assert fast.state_hash() == slow.state_hash()
    reasons = {event[-1] for events in outcomes for event in events if event[0] == W.REJECTED.code}
    # The flow reaches every width rule, so a build that skipped one would differ here.
    from gatebook.wire.enums import RejectReason as R
    assert {R.QUANTITY_TOO_LARGE, R.QUANTITY_ABOVE_LIMIT, R.QUANTITY_NOT_LOT_MULTIPLE,
            R.PRICE_NOT_ON_TICK, R.PRICE_OUTSIDE_BAND} <= reasons
    assert any(event[0] == W.EXECUTED.code for events in outcomes for event in events)
