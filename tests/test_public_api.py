"""The public API: what `import gatebook` gives, named views of records, command
constructors, and docs/api.md's example run as written."""

import contextlib
import dataclasses
import io
import re
import subprocess
import sys
from enum import IntEnum
from pathlib import Path

import pytest

import gatebook
from gatebook.host.clock import ManualClock
from gatebook.host.engine import MatchingEngine
from gatebook.host.sequencer import (Sequencer, admin, cancel, mass_cancel, new_order,
                                     replace)
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.wire import internal, named as named_module
from gatebook.wire.enums import (ALL_SYMBOLS, AdminAction, MassCancelScope, OrderType,
                                 RejectReason, Side, TimeInForce)
from gatebook.wire.layout import Field, Message
from gatebook.wire.named import (CLASSES, Accepted, Executed, Level, Rejected, classes_for,
                                 named, record_class)
from gatebook.wire.records import as_dict, make

ROOT = Path(__file__).resolve().parent.parent
GATE = 1


# -- import gatebook ---------------------------------------------------------------

def test_import_gatebook_loads_no_gateware_bridge_or_packet_library():
    probe = ("import sys, gatebook; "
             "print(' '.join(n for n in ('amaranth', 'cffi', 'scapy') if n in sys.modules))")
    done = subprocess.run([sys.executable, "-W", "error", "-c", probe], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_every_public_name_resolves_once():
    assert len(gatebook.__all__) == len(set(gatebook.__all__))
    for name in gatebook.__all__:
        assert getattr(gatebook, name) is not None, name
    assert gatebook.MatchingEngine is MatchingEngine
    assert gatebook.recover.__module__ == "gatebook.host.wal.recovery"
    assert gatebook.build_exchange.__module__ == "gatebook.host.builder"
    assert set(gatebook.__all__) <= set(dir(gatebook))


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_thing"):
        gatebook.no_such_thing  # noqa: B018 - the look-up is the test


def test_the_package_says_it_is_typed():
    assert (ROOT / "gatebook" / "py.typed").is_file()      # the wheel check: test_packaging.py


# -- docs/api.md -------------------------------------------------------------------

def test_the_api_doc_example_prints_what_the_doc_says():
    text = (ROOT / "docs" / "api.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    expected = re.search(r"It prints:\s*```text\n(.*?)```", text, re.S).group(1)
    assert len(code.splitlines()) <= 35, "the doc promises a session in about 30 lines"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/api.md", "exec"), {"__name__": "docs_api"})
    # Editors strip trailing blanks from Markdown; the book's header line pads its columns.
    assert [line.rstrip() for line in out.getvalue().splitlines()] == expected.splitlines()


# -- named views -------------------------------------------------------------------

def _session_events():
    engine, sequencer = MatchingEngine(DEFAULT_SYMBOLS), Sequencer(ManualClock(start=5))
    events = []
    for command in (
        new_order(symbol=GATE, order_id=1, user=7, side=Side.SELL, price=100_0000, qty=10),
        new_order(symbol=GATE, order_id=2, user=8, side=Side.BUY, price=100_0000, qty=4),
        replace(order_id=1, user=7, price=100_0000, qty=3),
        cancel(order_id=42, user=7),
        mass_cancel(scope=MassCancelScope.USER, user=7, symbol=GATE),
        admin(action=AdminAction.HALT, symbol=ALL_SYMBOLS),
    ):
        events += engine.apply(sequencer.stamped(command))
    return events


def test_every_message_of_both_tables_has_a_view_with_its_fields_in_order():
    messages = internal.COMMANDS.messages + internal.EVENTS.messages
    assert set(CLASSES) == {message.code for message in messages}
    for message in messages:
        cls = CLASSES[message.code]
        assert cls.message is message
        assert cls._fields == ("code",) + message.field_names
        assert getattr(named_module, cls.__name__) is cls
        assert cls.__name__ in named_module.__all__


def test_named_events_equal_the_plain_tuples_and_read_by_name():
    events = _session_events()
    kinds = {type(named(event)).__name__ for event in events}
    assert {"Accepted", "Executed", "Trade", "Level", "Replaced", "Rejected", "Cancelled",
            "TradingState", "Done"} <= kinds
    for event in events:
        view = named(event)
        assert view == event
        plain = as_dict(event)
        for name in view._fields[1:]:
            value = getattr(view, name)
            assert value == event[view._fields.index(name)]
            assert plain[name] == (value.name if isinstance(value, IntEnum) else value)
    fill = next(named(event) for event in events if named(event).code == internal.EXECUTED.code)
    assert isinstance(fill, Executed)
    assert (fill.qty, fill.resting_id, fill.aggressor_id, fill.aggressor_side) == (4, 1, 2, Side.BUY)
    assert type(fill.aggressor_side) is Side


def test_enum_fields_become_members_and_unknown_values_stay_ints():
    level = named(make(internal.LEVEL, seq=1, ts=2, symbol=GATE, side=1, price=5, qty=6, orders=1))
    assert isinstance(level, Level) and level.side is Side.SELL
    odd = named(make(internal.LEVEL, seq=1, ts=2, symbol=GATE, side=9, price=5, qty=6, orders=1))
    assert type(odd.side) is int and odd.side == 9
    assert repr(level) == "Level(seq=1, ts=2, symbol=1, side=Side.SELL, price=5, qty=6, orders=1)"


@pytest.mark.parametrize("record", [
    (), [ord("L"), 1, 2, 1, 0, 5, 6, 1], "L", None, (ord("?"), 1, 2), ("L", 1, 2),
    (ord("L"), 1, 2, 1, 0, 5, 6), (ord("L"), 1, 2, 1, 0, 5, 6, 1, 99),
])
def test_a_record_that_is_not_one_is_a_clear_value_error(record):
    with pytest.raises(ValueError):
        named(record)


def test_a_changed_table_changes_its_view_with_no_edit():
    venue = Field("venue", 1, enum=Side)              # any enum will do: it must be applied
    moved = dataclasses.replace(internal.LEVEL, fields=(
        *internal.LEVEL.fields[:2], venue, *reversed(internal.LEVEL.fields[2:])))
    classes = classes_for(moved, internal.ACCEPTED)
    record = (moved.code, 1, 2, 0, 1, 30, 400, 1, 2)
    view = named(record, classes)
    assert type(view).__name__ == "Level" and type(view) is not Level
    assert view._fields == ("code", "seq", "ts", "venue", "orders", "qty", "price", "side",
                            "symbol")
    assert (view.venue, view.orders, view.qty, view.price, view.side, view.symbol) == \
        (Side.BUY, 1, 30, 400, Side.SELL, 2)
    with pytest.raises(ValueError):                   # the old shape no longer fits
        named((moved.code, 1, 2, 1, 0, 5, 6, 1), classes)


def test_a_table_field_named_code_is_refused():
    with pytest.raises(ValueError, match="code"):
        record_class(Message("clash", ord("Z"), (Field("code", 1),)))
    with pytest.raises(ValueError, match="twice"):
        classes_for(internal.LEVEL, dataclasses.replace(internal.TRADE, code=internal.LEVEL.code))


# -- command constructors ----------------------------------------------------------

def test_constructors_build_unstamped_commands_by_field_name_with_plain_ints():
    order = new_order(symbol=GATE, order_id=3, user=7, side=Side.SELL, price=100_0000, qty=10,
                      order_type=OrderType.STOP_LIMIT, tif=TimeInForce.GTC, stop_price=99_0000)
    assert order == make(internal.NEW_ORDER, seq=0, ts=0, symbol=GATE, order_id=3, user=7,
                         side=1, order_type=3, tif=1, price=100_0000, stop_price=99_0000, qty=10)
    assert all(type(value) is int for value in order)       # the hot path's own form
    assert named(new_order(symbol=GATE, order_id=3, user=7, side=Side.BUY, price=1, qty=1)) \
        .order_type is OrderType.LIMIT
    assert named(cancel(order_id=3, user=7)) == (internal.CANCEL.code, 0, 0, 3, 7)
    assert named(replace(order_id=3, user=7, price=5, qty=6)).qty == 6
    assert named(mass_cancel(scope=MassCancelScope.SYMBOL, user=7, symbol=GATE)).scope \
        is MassCancelScope.SYMBOL
    assert named(admin(action=AdminAction.RESUME, symbol=ALL_SYMBOLS)).symbol == ALL_SYMBOLS
    with pytest.raises(TypeError):
        cancel(3, 7)                                            # by name only


def test_the_sequencer_stamps_a_built_command_like_its_own_methods():
    built, own = Sequencer(ManualClock(start=100, step=10)), Sequencer(ManualClock(start=100, step=10))
    command = new_order(symbol=GATE, order_id=1, user=7, side=Side.SELL, price=100_0000, qty=10)
    first = built.stamped(command)
    assert first == own.new_order(GATE, 1, 7, 1, 0, 0, 100_0000, 10)
    assert (named(first).seq, named(first).ts) == (1, 100)
    assert named(built.stamped(cancel(order_id=1, user=7))) == own.cancel(1, 7)
    assert built.next_seq == 3 and command[1:3] == (0, 0)       # the input is left as it was


@pytest.mark.parametrize("thing", [None, (), (ord("?"), 0, 0), "O", (internal.ACCEPTED.code,)])
def test_the_sequencer_refuses_what_is_not_a_command(thing):
    sequencer = Sequencer(ManualClock())
    with pytest.raises(ValueError):
        sequencer.stamped(thing)
    assert sequencer.next_seq == 1


def test_an_order_built_with_enums_trades_in_the_engine():
    engine, sequencer = MatchingEngine(DEFAULT_SYMBOLS), Sequencer(ManualClock())
    sell = new_order(symbol=GATE, order_id=1, user=7, side=Side.SELL, price=100_0000, qty=10)
    buy = new_order(symbol=GATE, order_id=2, user=8, side=Side.BUY, price=100_0000, qty=10,
                    tif=TimeInForce.IOC)
    assert isinstance(named(engine.apply(sequencer.stamped(sell))[0]), Accepted)
    events = [named(event) for event in engine.apply(sequencer.stamped(buy))]
    assert not any(isinstance(event, Rejected) for event in events)
    assert [event.qty for event in events if isinstance(event, Executed)] == [10]


def test_the_type_stub_matches_the_tables():
    from gatebook.wire.named import REGENERATE_STUB, stub_text
    stub = ROOT / "gatebook" / "wire" / "named.pyi"
    assert stub.read_text() == stub_text(), f"named.pyi is stale; run: {REGENERATE_STUB}"
    compile(stub.read_text(), str(stub), "exec")
    assert "class Executed(NamedTuple):\n    code: int\n    seq: int\n" in stub_text()
    assert "    aggressor_side: Side | int\n" in stub_text()
