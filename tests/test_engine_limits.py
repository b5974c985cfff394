"""One order must never stop the exchange: limits and field widths (issue 9).

Every value the engine puts in an event must fit that event's field in
gatebook/wire/internal.py, or the log writer refuses the event and with it
everything after. These tests drive the engine with the extremes of every
field of every command and with random flows of huge orders, and require
every event to encode with the table codecs, every value in it to be a plain
int, and a rejected command to leave `state_hash()` as it was.
"""

from enum import IntEnum

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine_fixtures import (BUY, EVENT_CODEC, GATE, GTC, LIMIT, MARKET, SELL, STOP,
                             STOP_LIMIT, AdminAction, Exchange, MassCancelScope, RejectReason,
                             assert_events, usd)
from engine_implementations import golden_build  # noqa: F401 (the fixture, used by name)
from gatebook.wire import internal as W
from gatebook.wire.enums import OrderType, Side, TimeInForce
from gatebook.wire.records import as_dict, make
from gatebook.host.symbols import DEFAULT_SYMBOLS, MAX_QTY, SymbolSpec
from gatebook.host.wal import JournaledExchange, recover

# Every test here runs on the compiled engine and on its Python source.
pytestmark = pytest.mark.usefixtures("golden_build")

R = RejectReason
U64 = (1 << 64) - 1
BIG = 3_000_000_000                 # fits the 32-bit order quantity; two of them do not
TOP = usd(200)                      # GATE's price band: $10 .. $200


def assert_encodes(events):
    """Every event encodes with the table codec, round-trips, and holds only plain ints."""
    for event in events:
        assert all(type(value) is int for value in event), f"not plain ints: {event!r}"
        assert EVENT_CODEC.decode(EVENT_CODEC.encode(event)) == event, event


# -- the reproduction ------------------------------------------------------------


def test_two_orders_of_3e9_at_one_price_make_a_level_that_encodes():
    ex = Exchange()
    ex.sell(1, qty=BIG, price=TOP, tif=GTC)
    events = ex.sell(2, qty=BIG, price=TOP, tif=GTC)
    assert_events(events, [ex.accepted(), ex.level(SELL, TOP, qty=2 * BIG, orders=2)])
    assert_encodes(events)
    # The level keeps its true total through fills and replaces.
    events = ex.buy(3, qty=BIG + 5, price=TOP)
    assert events[-1] == ex.level(SELL, TOP, qty=BIG - 5, orders=1)
    assert_encodes(events)
    events = ex.replace(2, TOP, MAX_QTY)            # more shares: to the back, same level
    assert ex.engine.books[GATE].best(SELL) == (TOP, MAX_QTY, 1)
    assert_encodes(events)


def test_the_journal_takes_a_level_past_32_bits_and_recovers_it(tmp_path):
    """What the issue saw: the log writer refused everything after such a level."""
    def order(order_id, side, qty):
        return (GATE, order_id, 1, side, LIMIT, GTC, TOP, 0, qty)

    ex = JournaledExchange(str(tmp_path), DEFAULT_SYMBOLS, policy="strict")
    try:
        for order_id in (1, 2):
            _, events = ex.submit(W.NEW_ORDER.code, *order(order_id, SELL, BIG))
        assert as_dict(events[-1]) == dict(as_dict(events[-1]), type="level", qty=2 * BIG)
        seq, _ = ex.submit(W.NEW_ORDER.code, *order(3, BUY, 10))      # and it goes on
        ex.writer.wait_synced(seq, timeout=10)
        assert ex.writer.failure is None
        want = ex.engine.state_hash()
    finally:
        ex.close()
    engine, report = recover(str(tmp_path), DEFAULT_SYMBOLS)
    assert engine.state_hash() == want
    assert report.last_seq == 3


def test_stop_limits_that_rest_when_triggered_sum_past_32_bits():
    """Levels built by triggered stop-limits hold their true total too."""
    ex = Exchange()
    ex.sell(1, qty=1, price=usd(150), tif=GTC, user=2)
    ex.buy(2, qty=BIG, type=STOP_LIMIT, price=usd(100), stop=usd(150), tif=GTC)
    ex.buy(3, qty=BIG, type=STOP_LIMIT, price=usd(100), stop=usd(150), tif=GTC)
    events = ex.buy(4, qty=1, price=usd(150), user=3)      # the print triggers both
    assert_encodes(events)
    assert ex.engine.books[GATE].best(BUY) == (usd(100), 2 * BIG, 2)
    assert events[-1] == ex.level(BUY, usd(100), qty=2 * BIG, orders=2)


# -- the limits ----------------------------------------------------------------------

LIMITED = SymbolSpec(7, "LIM", tick_size=100, price_min=usd(1), price_max=usd(100),
                     max_order_qty=1_000, max_notional=usd(10_000))


@pytest.mark.parametrize("fields, reason", [
    (dict(qty=1_000, price=usd(10)), 0),                           # exactly at both limits
    (dict(qty=1_001, price=usd(1)), R.QUANTITY_ABOVE_LIMIT),
    (dict(qty=101, price=usd(100)), R.NOTIONAL_ABOVE_LIMIT),
    (dict(qty=100, price=usd(100)), 0),
    (dict(qty=101, price=0, type=MARKET), R.NOTIONAL_ABOVE_LIMIT),  # at the band's top
    (dict(qty=100, price=0, type=MARKET), 0),
], ids=["at both limits", "qty", "notional", "notional at the limit", "market notional",
        "market at the limit"])
def test_symbol_limits(fields, reason):
    ex = Exchange([LIMITED])
    before = ex.engine.state_hash()
    events = ex.order(1, BUY, symbol=7, **fields)
    assert_encodes(events)
    if reason:
        assert_events(events, [ex.rejected(reason, symbol=7, order_id=1, user=1)])
        assert ex.engine.state_hash() == before
    else:
        assert events[0] == ex.accepted()


def test_defaults_change_nothing():
    spec = SymbolSpec(9, "X")
    assert (spec.max_order_qty, spec.notional_binds) == (MAX_QTY, False)
    assert all(not s.notional_binds and s.max_order_qty == MAX_QTY for s in DEFAULT_SYMBOLS)


@pytest.mark.parametrize("fields", [dict(max_order_qty=0), dict(max_order_qty=MAX_QTY + 1),
                                    dict(max_order_qty=150, lot_size=200),
                                    dict(max_notional=99), dict(max_order_qty=True)])
def test_impossible_limits_are_refused(fields):
    with pytest.raises(ValueError):
        SymbolSpec(9, "X", **fields)


# -- the extremes of every field of every command ----------------------------------


class Color(IntEnum):       # an IntEnum that is none of the project's: still an int
    ONE = 1


_VALID = {
    W.NEW_ORDER: dict(symbol=GATE, order_id=100, user=5, side=BUY, order_type=LIMIT, tif=GTC,
                      price=usd(100), stop_price=0, qty=10),
    W.CANCEL: dict(order_id=1, user=1),
    W.REPLACE: dict(order_id=1, user=1, price=usd(99), qty=20),
    W.MASS_CANCEL: dict(scope=int(MassCancelScope.USER_SYMBOL), user=1, symbol=GATE),
    W.ADMIN: dict(action=int(AdminAction.HALT), symbol=GATE),
}


def _extremes(field):
    most = (1 << field.bits) - 1
    values = [0, 1, most, most + 1, -1, U64 + 1, True, False, 1.0, 0.5, None, "1", Color.ONE,
              Side.SELL]
    if field.enum is not None:
        values += list(field.enum)
    return values


_CASES = [(message, field.name, value)
          for message in _VALID for field in message.fields
          for value in _extremes(field)]


def _busy():
    ex = Exchange()
    ex.buy(1, qty=10, price=usd(100), tif=GTC, user=1)
    ex.sell(2, qty=10, price=usd(101), tif=GTC, user=2)
    ex.buy(3, qty=5, type=STOP, stop=usd(150), tif=GTC, user=1)
    return ex


@pytest.mark.parametrize("message, name, value", _CASES,
                         ids=[f"{m.name}.{n}={v!r}" for m, n, v in _CASES])
def test_extremes_of_every_field(message, name, value):
    """One field at an extreme, the rest valid: every event encodes, a reject changes nothing,
    and an int subclass (an IntEnum member) gives exactly what its plain int gives."""
    ex = _busy()
    before = ex.engine.state_hash()
    fields = dict(_VALID[message], seq=ex.next_seq, ts=10**18)
    fields[name] = value
    command = make(message, **fields)
    events = ex.send(command)
    assert events, "every command yields at least one event"
    assert_encodes(events)
    if [e[0] for e in events] == [W.REJECTED.code]:
        assert ex.engine.state_hash() == before, "a rejected command changed state_hash()"
    if isinstance(value, int) and type(value) not in (int, bool):
        twin = _busy()
        plain = tuple(int(v) if isinstance(v, int) else v for v in command)
        assert twin.send(plain) == events
        assert twin.engine.state_hash() == ex.engine.state_hash()


def test_the_projects_enums_are_ints():
    """Side.SELL, OrderType.LIMIT, TimeInForce.GTC are accepted as their values."""
    ex = Exchange()
    events = ex.order(1, Side.SELL, qty=10, price=usd(100), type=OrderType.LIMIT,
                      tif=TimeInForce.GTC)
    assert events[0][0] == W.ACCEPTED.code
    assert_encodes(events)
    assert ex.engine.books[GATE].best(SELL) == (usd(100), 10, 1)


# -- random flows of huge orders ---------------------------------------------------

# Mostly a few prices and huge quantities, so levels pile up past 32 bits.
_HUGE_QTY = st.one_of(st.sampled_from([MAX_QTY, BIG, 1 << 31]), st.integers(1, MAX_QTY),
                      st.integers(MAX_QTY + 1, U64 + 2))
_PRICE = st.one_of(st.sampled_from([usd(10), usd(100), usd(150), usd(200)]),
                   st.sampled_from([0, usd(200) + 100, 1 << 32, -100]),
                   st.integers(0, 1 << 33).map(lambda p: p - p % 100))


@st.composite
def _huge_command(draw, ids):
    kind = draw(st.sampled_from(["new"] * 8 + ["cancel", "replace", "replace", "admin", "mass"]))
    if kind == "new":
        order_type = draw(st.sampled_from([LIMIT, LIMIT, MARKET, STOP, STOP_LIMIT]))
        price = 0 if order_type in (MARKET, STOP) else draw(_PRICE)
        stop = draw(_PRICE) if order_type >= STOP else 0
        order_id = draw(st.integers(1, ids))
        return make(W.NEW_ORDER, seq=0, ts=0, symbol=GATE, order_id=order_id,
                    user=draw(st.integers(1, 3)), side=draw(st.sampled_from([BUY, SELL])),
                    order_type=order_type, tif=draw(st.sampled_from([0, 1, 1, 0, 2, 3])),
                    price=price, stop_price=stop, qty=draw(_HUGE_QTY))
    if kind == "cancel":
        return make(W.CANCEL, seq=0, ts=0, order_id=draw(st.integers(1, ids)),
                    user=draw(st.integers(1, 3)))
    if kind == "replace":
        return make(W.REPLACE, seq=0, ts=0, order_id=draw(st.integers(1, ids)),
                    user=draw(st.integers(1, 3)), price=draw(_PRICE), qty=draw(_HUGE_QTY))
    if kind == "admin":
        return make(W.ADMIN, seq=0, ts=0, action=draw(st.sampled_from([1, 2])), symbol=GATE)
    return make(W.MASS_CANCEL, seq=0, ts=0, scope=0, user=draw(st.integers(1, 3)), symbol=GATE)


def _huge_flow(examples):
    """Random flows of huge orders, `examples` of them (derandomized: the same each run)."""
    return lambda test: settings(derandomize=True, database=None, deadline=None,
                                 max_examples=examples,
                                 suppress_health_check=[HealthCheck.too_slow])(
        given(st.lists(_huge_command(400), min_size=10, max_size=60))(test))


# The default run draws 80 flows per build (compiled, then pure); the long run 300.
@_huge_flow(80)
def test_random_flows_of_huge_orders_always_encode(golden_build, commands):
    _check_huge_flow_encodes(golden_build, commands)


@pytest.mark.long
@_huge_flow(300)
def test_random_flows_of_huge_orders_always_encode_long(golden_build, commands):
    _check_huge_flow_encodes(golden_build, commands)


def _check_huge_flow_encodes(golden_build, commands):
    engine = golden_build(DEFAULT_SYMBOLS)
    for seq, command in enumerate(commands, start=1):
        command = command[:1] + (seq, 10**18 + seq) + command[3:]
        before = engine.state_hash()
        events = engine.apply(command)
        assert_encodes(events)
        if [e[0] for e in events] == [W.REJECTED.code]:
            assert engine.state_hash() == before


@pytest.mark.parametrize("message", list(_VALID))
def test_last_seq_skips_a_bad_stamp(message):
    """`last_seq` (what a snapshot records) follows every command with a valid stamp,
    rejected or not, and never takes a stamp that does not fit 64 bits."""
    ex = _busy()
    last = ex.engine.last_seq
    for seq in (-1, U64 + 1, 2.0, True):
        ex.send(make(message, **dict(_VALID[message], seq=seq, ts=1)))
        assert ex.engine.last_seq == last and type(ex.engine.last_seq) is int
    ex.send(make(message, **dict(_VALID[message], seq=U64, ts=1)))
    assert ex.engine.last_seq == U64
