"""Every way the engine rejects a command.

For each bad command: exactly one REJECTED event with the specific reason and the
command's type byte, the event encodes on the wire, nothing raises, and the
engine's state is exactly as before, both through its public views and by
`state_hash()`.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine_fixtures import (BUY, EVENT_CODEC, GATE, GTC, MARKET, PENNY, SELL, STOP, STOP_LIMIT,
                             AdminAction, Exchange, MassCancelScope, RejectReason, assert_events,
                             public_state, usd)
from engine_implementations import golden_build  # noqa: F401 (the fixture, used by name)
from gatebook.wire import internal as W
from gatebook.wire.records import make
from gatebook.host.symbols import DEFAULT_SYMBOLS, SymbolSpec

# Every test here runs on the compiled engine and on its Python source.
pytestmark = pytest.mark.usefixtures("golden_build")

R = RejectReason
P98, P99, P100, P101, P102 = usd("99.98"), usd("99.99"), usd(100), usd("100.01"), usd("100.02")
U64 = (1 << 64) - 1
# A symbol with limits: at most 1,000 shares and $50,000 of notional an order.
LIMITED = 9
LIMITED_SPEC = SymbolSpec(LIMITED, "LIMITED", tick_size=100, price_min=usd(1),
                          price_max=usd(1000), max_order_qty=1000, max_notional=usd(50_000))


def busy_exchange():
    """Resting orders, a trade, a cancelled order, a pending stop, a second symbol."""
    ex = Exchange(DEFAULT_SYMBOLS + (LIMITED_SPEC,))
    ex.buy(1, qty=10, price=P99, user=1)                 # resting bid
    ex.sell(2, qty=10, price=P101, user=2)               # resting ask
    ex.sell(3, qty=5, price=P100, user=2)
    ex.buy(4, qty=5, price=P100, user=1)                 # 3 and 4 filled; last print 100.00
    ex.buy(5, qty=5, price=P98, user=1)
    ex.cancel(5)                                         # cancelled
    ex.buy(6, qty=5, type=STOP, stop=P102, user=3)       # pending stop
    ex.buy(7, qty=5, price=P98, tif=GTC, user=3)
    ex.sell(8, qty=100, price=50, symbol=PENNY, user=1)  # PENNY: tick 1, lot 100
    ex.buy(9, qty=10, price=usd(10), symbol=LIMITED, user=1)
    return ex


def new(ex, **fields):
    """A new order that is valid except for `fields`."""
    order = dict(order_id=100, side=BUY, qty=1, price=P99, user=5)
    order.update(fields)
    order_id, side, qty, price = (order.pop(k) for k in ("order_id", "side", "qty", "price"))
    return ex.order(order_id, side, qty, price, **order)


def check_rejected(ex, action, reason):
    before, before_hash = public_state(ex.engine), ex.engine.state_hash()
    events = action(ex)
    command = ex.command
    assert [e[0] for e in events] == [W.REJECTED.code], events
    fields = dict(zip(W.REJECTED.field_names, events[0][1:]))
    assert R(fields["reason"]) == reason
    code = command[0] if isinstance(command, (tuple, list)) and command else None
    assert fields["command"] == (code if type(code) is int and 0 <= code <= 0xFF else 0)
    assert EVENT_CODEC.decode(EVENT_CODEC.encode(events[0])) == events[0]
    assert public_state(ex.engine) == before, "a rejected command changed the engine's state"
    assert ex.engine.state_hash() == before_hash, "a rejected command changed state_hash()"
    return fields


NEW_ORDER_CASES = {
    "id zero": (dict(order_id=0), R.INVALID_ORDER_ID),
    "id negative": (dict(order_id=-1), R.INVALID_ORDER_ID),
    "id above 64 bits": (dict(order_id=U64 + 1), R.INVALID_ORDER_ID),
    "id float": (dict(order_id=100.0), R.INVALID_ORDER_ID),
    "id str": (dict(order_id="100"), R.INVALID_ORDER_ID),
    "user negative": (dict(user=-1), R.INVALID_USER),
    "user above 32 bits": (dict(user=1 << 32), R.INVALID_USER),
    "user float": (dict(user=7.0), R.INVALID_USER),
    "user str": (dict(user="alice"), R.INVALID_USER),
    "id of resting order": (dict(order_id=1), R.DUPLICATE_ORDER_ID),
    "id of filled resting order": (dict(order_id=3), R.DUPLICATE_ORDER_ID),
    "id of filled aggressor": (dict(order_id=4), R.DUPLICATE_ORDER_ID),
    "id of cancelled order": (dict(order_id=5), R.DUPLICATE_ORDER_ID),
    "id of pending stop": (dict(order_id=6), R.DUPLICATE_ORDER_ID),
    "id used in another symbol": (dict(order_id=8), R.DUPLICATE_ORDER_ID),
    "symbol 0": (dict(symbol=0), R.UNKNOWN_SYMBOL),
    "symbol unlisted": (dict(symbol=99), R.UNKNOWN_SYMBOL),
    "symbol ALL_SYMBOLS": (dict(symbol=0xFFFF), R.UNKNOWN_SYMBOL),
    "symbol str": (dict(symbol="GATE"), R.UNKNOWN_SYMBOL),
    "symbol float": (dict(symbol=1.0), R.UNKNOWN_SYMBOL),
    "symbol negative": (dict(symbol=-1), R.UNKNOWN_SYMBOL),
    "symbol above 16 bits": (dict(symbol=1 << 16), R.UNKNOWN_SYMBOL),
    "side 2": (dict(side=2), R.INVALID_SIDE),
    "side negative": (dict(side=-1), R.INVALID_SIDE),
    "side str": (dict(side="B"), R.INVALID_SIDE),
    "side float": (dict(side=1.0), R.INVALID_SIDE),
    "type 4": (dict(type=4), R.INVALID_ORDER_TYPE),
    "type negative": (dict(type=-1), R.INVALID_ORDER_TYPE),
    "type None": (dict(type=None), R.INVALID_ORDER_TYPE),
    "tif 4": (dict(tif=4), R.INVALID_TIME_IN_FORCE),
    "tif negative": (dict(tif=-1), R.INVALID_TIME_IN_FORCE),
    "tif str": (dict(tif="DAY"), R.INVALID_TIME_IN_FORCE),
    "qty zero": (dict(qty=0), R.INVALID_QUANTITY),
    "qty negative": (dict(qty=-5), R.INVALID_QUANTITY),
    "qty fractional": (dict(qty=1.5), R.INVALID_QUANTITY),
    "qty float": (dict(qty=10.0), R.INVALID_QUANTITY),
    "qty str": (dict(qty="10"), R.INVALID_QUANTITY),
    "qty above 32 bits": (dict(qty=1 << 32), R.QUANTITY_TOO_LARGE),
    "qty not a lot": (dict(symbol=PENNY, price=50, qty=150), R.QUANTITY_NOT_LOT_MULTIPLE),
    "qty above the symbol's max": (dict(symbol=LIMITED, qty=1001), R.QUANTITY_ABOVE_LIMIT),
    "qty above 32 bits, limited symbol": (dict(symbol=LIMITED, qty=1 << 32),
                                          R.QUANTITY_TOO_LARGE),
    "notional above the symbol's max": (dict(symbol=LIMITED, qty=501, price=usd(100)),
                                        R.NOTIONAL_ABOVE_LIMIT),
    "market notional counts at the band's top": (dict(symbol=LIMITED, type=MARKET, price=0,
                                                      qty=51), R.NOTIONAL_ABOVE_LIMIT),
    "stop notional counts at the band's top": (dict(symbol=LIMITED, type=STOP, price=0,
                                                    stop=usd(10), qty=51), R.NOTIONAL_ABOVE_LIMIT),
    "stop-limit notional at its limit": (dict(symbol=LIMITED, type=STOP_LIMIT, price=usd(200),
                                              stop=usd(10), qty=251), R.NOTIONAL_ABOVE_LIMIT),
    "side bool": (dict(side=True), R.INVALID_SIDE),
    "qty bool": (dict(qty=True), R.INVALID_QUANTITY),
    "id bool": (dict(order_id=True), R.INVALID_ORDER_ID),
    "symbol bool": (dict(symbol=True), R.UNKNOWN_SYMBOL),
    "limit price zero": (dict(price=0), R.INVALID_PRICE),
    "limit price negative": (dict(price=-P99), R.INVALID_PRICE),
    "limit price float": (dict(price=float(P99)), R.INVALID_PRICE),
    "limit price off tick": (dict(price=P99 + 50), R.PRICE_NOT_ON_TICK),
    "limit price below band": (dict(price=usd(5)), R.PRICE_OUTSIDE_BAND),
    "limit price above band": (dict(price=usd(300)), R.PRICE_OUTSIDE_BAND),
    "stop-limit price zero": (dict(type=STOP_LIMIT, price=0, stop=P99), R.INVALID_PRICE),
    "market with price": (dict(type=MARKET, price=P99), R.PRICE_NOT_ALLOWED),
    "stop with price": (dict(type=STOP, price=P99, stop=P102), R.PRICE_NOT_ALLOWED),
    "stop without stop price": (dict(type=STOP, price=0, stop=0), R.INVALID_STOP_PRICE),
    "stop price off tick": (dict(type=STOP, price=0, stop=P102 + 1), R.INVALID_STOP_PRICE),
    "stop price outside band": (dict(type=STOP, price=0, stop=usd(300)), R.INVALID_STOP_PRICE),
    "stop-limit without stop price": (dict(type=STOP_LIMIT, stop=0), R.INVALID_STOP_PRICE),
    "limit with stop price": (dict(stop=P99), R.INVALID_STOP_PRICE),
    "market with stop price": (dict(type=MARKET, price=0, stop=P99), R.INVALID_STOP_PRICE),
    "market price float zero": (dict(type=MARKET, price=0.0), R.PRICE_NOT_ALLOWED),
    "stop price float zero": (dict(type=STOP, price=0.0, stop=P102), R.PRICE_NOT_ALLOWED),
    "limit stop price float zero": (dict(stop=0.0), R.INVALID_STOP_PRICE),
    "market stop price float zero": (dict(type=MARKET, price=0, stop=0.0), R.INVALID_STOP_PRICE),
    # validation order: the first failure wins
    "bad id before unknown symbol": (dict(order_id=0, symbol=99), R.INVALID_ORDER_ID),
    "bad id before bad user": (dict(order_id=0, user=-1), R.INVALID_ORDER_ID),
    "bad user before duplicate": (dict(order_id=1, user=-1), R.INVALID_USER),
    "duplicate before unknown symbol": (dict(order_id=1, symbol=99), R.DUPLICATE_ORDER_ID),
    "unknown symbol before bad side": (dict(symbol=99, side=2), R.UNKNOWN_SYMBOL),
    "side before type": (dict(side=2, type=9), R.INVALID_SIDE),
    "type before tif": (dict(type=9, tif=9), R.INVALID_ORDER_TYPE),
    "tif before quantity": (dict(tif=9, qty=0), R.INVALID_TIME_IN_FORCE),
    "quantity before price": (dict(qty=0, price=P99 + 1), R.INVALID_QUANTITY),
    "price before stop price": (dict(price=P99 + 1, stop=P99), R.PRICE_NOT_ON_TICK),
    "lot before symbol max": (dict(symbol=PENNY, price=50, qty=150), R.QUANTITY_NOT_LOT_MULTIPLE),
    "symbol max before price": (dict(symbol=LIMITED, qty=1001, price=1), R.QUANTITY_ABOVE_LIMIT),
    "stop price before notional": (dict(symbol=LIMITED, type=STOP, price=0, stop=1, qty=51),
                                   R.INVALID_STOP_PRICE),
}


@pytest.mark.parametrize("fields, reason", NEW_ORDER_CASES.values(), ids=NEW_ORDER_CASES.keys())
def test_new_order_rejected(fields, reason):
    ex = busy_exchange()
    got = check_rejected(ex, lambda ex: new(ex, **fields), reason)
    order_id = ex.command[4]
    assert got["order_id"] == (order_id if type(order_id) is int and 0 <= order_id <= U64 else 0)


@pytest.mark.parametrize("fields, reason", [
    (dict(), R.SYMBOL_HALTED),
    (dict(type=STOP, price=0, stop=P102), R.SYMBOL_HALTED),
    (dict(price=P99 + 1), R.PRICE_NOT_ON_TICK),              # the halt is checked last
    (dict(type=STOP, price=0, stop=0), R.INVALID_STOP_PRICE),
], ids=["limit", "stop", "bad price before halt", "bad stop before halt"])
def test_new_order_in_halted_symbol_rejected(fields, reason):
    ex = busy_exchange()
    ex.admin(AdminAction.HALT, GATE)
    check_rejected(ex, lambda ex: new(ex, **fields), reason)


def test_rejected_order_id_stays_usable():
    ex = busy_exchange()
    new(ex, qty=0)
    assert_events(new(ex), [ex.accepted(), ex.level(BUY, P99, 11, 2)])


CANCEL_AND_REPLACE_CASES = {
    "cancel unknown id": (lambda ex: ex.cancel(999, user=1), R.UNKNOWN_ORDER),
    "cancel id zero": (lambda ex: ex.cancel(0, user=1), R.UNKNOWN_ORDER),
    "cancel id str": (lambda ex: ex.cancel("1", user=1), R.UNKNOWN_ORDER),
    "cancel filled resting": (lambda ex: ex.cancel(3), R.ORDER_NOT_LIVE),
    "cancel filled aggressor": (lambda ex: ex.cancel(4), R.ORDER_NOT_LIVE),
    "cancel cancelled": (lambda ex: ex.cancel(5), R.ORDER_NOT_LIVE),
    "cancel other user's order": (lambda ex: ex.cancel(1, user=2), R.NOT_OWNER),
    "cancel other user's stop": (lambda ex: ex.cancel(6, user=1), R.NOT_OWNER),
    "replace unknown id": (lambda ex: ex.replace(999, P99, 1, user=1), R.UNKNOWN_ORDER),
    "replace filled": (lambda ex: ex.replace(3, P100, 5), R.ORDER_NOT_LIVE),
    "replace cancelled": (lambda ex: ex.replace(5, P98, 5), R.ORDER_NOT_LIVE),
    "replace other user's order": (lambda ex: ex.replace(1, P99, 5, user=2), R.NOT_OWNER),
    "replace pending stop": (lambda ex: ex.replace(6, 0, 5), R.NOT_REPLACEABLE),
    "replace qty zero": (lambda ex: ex.replace(1, P99, 0), R.INVALID_QUANTITY),
    "replace qty negative": (lambda ex: ex.replace(1, P99, -1), R.INVALID_QUANTITY),
    "replace qty float": (lambda ex: ex.replace(1, P99, 5.0), R.INVALID_QUANTITY),
    "replace qty above 32 bits": (lambda ex: ex.replace(1, P99, 1 << 32), R.QUANTITY_TOO_LARGE),
    "replace qty not a lot": (lambda ex: ex.replace(8, 50, 150), R.QUANTITY_NOT_LOT_MULTIPLE),
    "replace price zero": (lambda ex: ex.replace(1, 0, 5), R.INVALID_PRICE),
    "replace price off tick": (lambda ex: ex.replace(1, P99 + 1, 5), R.PRICE_NOT_ON_TICK),
    "replace price outside band": (lambda ex: ex.replace(1, usd(300), 5), R.PRICE_OUTSIDE_BAND),
    "replace quantity before price": (lambda ex: ex.replace(1, P99 + 1, 0), R.INVALID_QUANTITY),
    "replace qty above the symbol's max": (lambda ex: ex.replace(9, usd(10), 1001),
                                           R.QUANTITY_ABOVE_LIMIT),
    "replace notional above the symbol's max": (lambda ex: ex.replace(9, usd(100), 501),
                                                R.NOTIONAL_ABOVE_LIMIT),
    "replace price before notional": (lambda ex: ex.replace(9, usd(2000), 1000),
                                      R.PRICE_OUTSIDE_BAND),
    "cancel id bool": (lambda ex: ex.cancel(True, user=1), R.UNKNOWN_ORDER),
    "cancel id float": (lambda ex: ex.cancel(1.0, user=1), R.UNKNOWN_ORDER),
    "cancel user float": (lambda ex: ex.cancel(1, user=1.0), R.INVALID_USER),
    "cancel user bool": (lambda ex: ex.cancel(1, user=True), R.INVALID_USER),
    "replace user above 32 bits": (lambda ex: ex.replace(1, P99, 5, user=1 << 32), R.INVALID_USER),
    "replace qty bool": (lambda ex: ex.replace(1, P99, True), R.INVALID_QUANTITY),
}


@pytest.mark.parametrize("action, reason", CANCEL_AND_REPLACE_CASES.values(),
                         ids=CANCEL_AND_REPLACE_CASES.keys())
def test_cancel_or_replace_rejected(action, reason):
    check_rejected(busy_exchange(), action, reason)


def test_replace_in_halted_symbol_rejected():
    ex = busy_exchange()
    ex.admin(AdminAction.HALT, GATE)
    check_rejected(ex, lambda ex: ex.replace(1, P99, 5), R.SYMBOL_HALTED)


ADMIN_CASES = {
    "mass cancel bad scope": (lambda ex: ex.mass_cancel(3, user=1, symbol=GATE), R.INVALID_SCOPE),
    "mass cancel unknown symbol": (lambda ex: ex.mass_cancel(MassCancelScope.SYMBOL, symbol=99),
                                   R.UNKNOWN_SYMBOL),
    "mass cancel user+unknown symbol": (
        lambda ex: ex.mass_cancel(MassCancelScope.USER_SYMBOL, user=1, symbol=0), R.UNKNOWN_SYMBOL),
    "admin unknown symbol": (lambda ex: ex.admin(AdminAction.KILL, 99), R.UNKNOWN_SYMBOL),
    "admin bad action": (lambda ex: ex.admin(4, GATE), R.INVALID_ADMIN_ACTION),
    "admin negative action": (lambda ex: ex.admin(-1), R.INVALID_ADMIN_ACTION),
    "admin action bool": (lambda ex: ex.admin(True, GATE), R.INVALID_ADMIN_ACTION),
    "admin symbol float": (lambda ex: ex.admin(AdminAction.HALT, 1.0), R.UNKNOWN_SYMBOL),
    "mass cancel scope bool": (lambda ex: ex.mass_cancel(True, user=1, symbol=GATE),
                               R.INVALID_SCOPE),
    "mass cancel user negative": (lambda ex: ex.mass_cancel(MassCancelScope.USER, user=-1),
                                  R.INVALID_USER),
    "mass cancel user float": (lambda ex: ex.mass_cancel(MassCancelScope.USER, user=1.0),
                               R.INVALID_USER),
    "mass cancel symbol float": (lambda ex: ex.mass_cancel(MassCancelScope.SYMBOL, user=1,
                                                           symbol=1.0), R.UNKNOWN_SYMBOL),
}


def _send_stamped(message, seq, ts, **fields):
    return lambda ex: ex.send(make(message, seq=seq, ts=ts, **fields))


_VALID_NEW = dict(symbol=GATE, order_id=100, user=5, side=BUY, order_type=0, tif=0, price=P99,
                  stop_price=0, qty=1)
STAMP_CASES = {
    f"{message.name} {what}": (_send_stamped(message, seq, ts, **fields), R.INVALID_STAMP)
    for message, fields in [(W.NEW_ORDER, _VALID_NEW), (W.CANCEL, dict(order_id=1, user=1)),
                            (W.REPLACE, dict(order_id=1, user=1, price=P99, qty=5)),
                            (W.MASS_CANCEL, dict(scope=0, user=1, symbol=GATE)),
                            (W.ADMIN, dict(action=AdminAction.KILL, symbol=GATE))]
    for what, seq, ts in [("seq negative", -1, 1), ("seq above 64 bits", U64 + 1, 1),
                          ("seq float", 7.0, 1), ("seq bool", True, 1), ("seq None", None, 1),
                          ("ts negative", 7, -1), ("ts above 64 bits", 7, U64 + 1),
                          ("ts float", 7, 1.5)]
}


@pytest.mark.parametrize("action, reason", STAMP_CASES.values(), ids=STAMP_CASES.keys())
def test_bad_stamp_rejected_first(action, reason):
    """A command's seq and ts go into every event it causes: checked before anything else."""
    check_rejected(busy_exchange(), action, reason)


@pytest.mark.parametrize("action, reason", ADMIN_CASES.values(), ids=ADMIN_CASES.keys())
def test_mass_cancel_or_admin_rejected(action, reason):
    check_rejected(busy_exchange(), action, reason)


def _stamped(ex, message, **fields):
    return ex.stamp(message, **fields)


MALFORMED = {
    "empty tuple": lambda ex: (),
    "None": lambda ex: None,
    "an int": lambda ex: 79,
    "a str": lambda ex: "O",
    "unknown type byte": lambda ex: (ord("Z"), ex.next_seq, 1, 100, 1),
    "type code above a byte": lambda ex: (0x100 + W.CANCEL.code, ex.next_seq, 1, 1, 1),
    "an event's type byte": lambda ex: (W.ACCEPTED.code,) + _stamped(ex, W.NEW_ORDER, symbol=GATE,
        order_id=100, user=5, side=BUY, order_type=0, tif=0, price=P99, stop_price=0, qty=1)[1:],
    "new order one field short": lambda ex: _stamped(ex, W.NEW_ORDER, symbol=GATE, order_id=100,
        user=5, side=BUY, order_type=0, tif=0, price=P99, stop_price=0, qty=1)[:-1],
    "new order one field long": lambda ex: _stamped(ex, W.NEW_ORDER, symbol=GATE, order_id=100,
        user=5, side=BUY, order_type=0, tif=0, price=P99, stop_price=0, qty=1) + (0,),
    "cancel without user": lambda ex: _stamped(ex, W.CANCEL, order_id=1, user=1)[:-1],
    "replace one field short": lambda ex: _stamped(ex, W.REPLACE, order_id=1, user=1, price=P99,
                                                   qty=5)[:-1],
    "mass cancel one field long": lambda ex: _stamped(ex, W.MASS_CANCEL, scope=0, user=1,
                                                      symbol=GATE) + (1,),
    "admin one field short": lambda ex: _stamped(ex, W.ADMIN, action=AdminAction.KILL,
                                                 symbol=GATE)[:-1],
}


@pytest.mark.parametrize("build", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_command_rejected(build):
    ex = busy_exchange()
    check_rejected(ex, lambda ex: ex.send(build(ex)), R.UNKNOWN_COMMAND)


# -- any garbage: nothing raises, every event encodes -----------------------------

_GARBAGE = st.sampled_from([-1, 0, 1, 2, 3, 4, 1 << 32, 1 << 64, 1.0, 0.0, None, "1", True])


def _field(valid):
    return st.one_of(st.sampled_from(valid), _GARBAGE)


_CLIENT_FIELDS = {      # user, seq and ts come from the gateway and the sequencer, not the client
    W.NEW_ORDER: dict(symbol=[GATE, PENNY], order_id=[1, 6, 100], side=[BUY, SELL],
                      order_type=[0, 1, 2, 3], tif=[0, 1, 2, 3], price=[0, 50, P99, P101],
                      stop_price=[0, 50, P101, P102], qty=[1, 100]),
    W.CANCEL: dict(order_id=[1, 2, 6, 999]),
    W.REPLACE: dict(order_id=[1, 2, 8], price=[50, P98, P101], qty=[1, 100]),
    W.MASS_CANCEL: dict(scope=[0, 1, 2], symbol=[GATE, PENNY]),
    W.ADMIN: dict(action=[0, 1, 2, 3], symbol=[GATE, 0xFFFF]),
}


@st.composite
def _garbage_command(draw):
    message = draw(st.sampled_from(list(_CLIENT_FIELDS)))
    fields = {name: draw(_field(valid)) for name, valid in _CLIENT_FIELDS[message].items()}
    if "user" in message.field_names:
        fields["user"] = draw(st.sampled_from([1, 2, 5]))
    return message, fields


def _garbage_lists(examples):
    """Lists of garbage commands, `examples` of them (derandomized: the same each run)."""
    return lambda test: settings(derandomize=True, database=None, deadline=None,
                                 max_examples=examples,
                                 suppress_health_check=[HealthCheck.too_slow])(
        given(st.lists(_garbage_command(), min_size=1, max_size=6))(test))


# The default run draws 120 lists per build (compiled, then pure); the long run 400.
@_garbage_lists(120)
def test_garbage_commands_never_raise_and_every_event_encodes(commands):
    _check_garbage_commands(commands)


@pytest.mark.long
@_garbage_lists(400)
def test_garbage_commands_never_raise_and_every_event_encodes_long(commands):
    _check_garbage_commands(commands)


def _check_garbage_commands(commands):
    ex = busy_exchange()
    for message, fields in commands:
        before = public_state(ex.engine)
        events = ex.send(ex.stamp(message, **fields))
        assert events, "every command yields at least one event"
        for event in events:
            assert EVENT_CODEC.decode(EVENT_CODEC.encode(event)) == event, event
        if [e[0] for e in events] == [W.REJECTED.code]:
            assert public_state(ex.engine) == before


def test_every_reject_reason_has_a_case_here():
    covered = {reason for _, reason in NEW_ORDER_CASES.values()}
    covered |= {reason for _, reason in CANCEL_AND_REPLACE_CASES.values()}
    covered |= {reason for _, reason in ADMIN_CASES.values()}
    covered |= {reason for _, reason in STAMP_CASES.values()}
    covered |= {R.SYMBOL_HALTED, R.UNKNOWN_COMMAND}        # the halted and malformed tests
    covered |= {reason for reason in RejectReason if 32 <= reason <= 39}  # risk: test_risk.py
    assert set(RejectReason) - covered == set()
