"""Properties of the engine on random order flows.

Flows mix every order type and time in force, cancels and replaces (some aimed
at the wrong user or at orders already gone), duplicate ids, mass cancels and
admin actions, on two symbols with seven price points each, so orders cross,
stops trigger and cascade, and levels fill and empty all the time. Each
property is checked after every command, each on the same flows: drawing a flow
costs more than checking it, so one test draws them and runs every property.
Hypothesis runs derandomized, so the suite is the same on every run.
"""

from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine_fixtures import (AAPL, BUY, DAY, EVENT_CODEC, FOK, GATE, GTC, IOC, LIMIT, MARKET,
                             SELL, STOP, STOP_LIMIT, AdminAction, Exchange, MassCancelScope, usd)
from gatebook.wire import internal as W

SYMBOLS = (GATE, AAPL)
PRICES = [usd(100) + 100 * step for step in range(-3, 4)]        # seven one-cent ticks
USERS = (1, 2, 3)

# The default run draws 50 flows; the long run (--run-long) 150.
FLOW_SETTINGS = settings(derandomize=True, database=None, deadline=None, max_examples=50,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
LONG_FLOW_SETTINGS = settings(FLOW_SETTINGS, max_examples=150)


_OPERATIONS = {
    "new": st.tuples(st.just("new"), st.sampled_from(SYMBOLS), st.sampled_from(USERS),
                     st.sampled_from([BUY, SELL]),
                     st.sampled_from([LIMIT] * 5 + [MARKET, STOP, STOP_LIMIT]),
                     st.sampled_from([DAY, DAY, GTC, GTC, IOC, FOK]),
                     st.sampled_from(PRICES), st.sampled_from(PRICES),     # limit, stop
                     st.integers(1, 8),                                    # qty
                     st.integers(0, 12)),                                  # 0: reuse an id
    # target (counted back from the newest order), 0: wrong user, price (None: keep), qty
    "cancel": st.tuples(st.just("cancel"), st.integers(0, 15), st.integers(0, 7)),
    "replace": st.tuples(st.just("replace"), st.integers(0, 15), st.integers(0, 7),
                         st.sampled_from([None, None, *PRICES]), st.integers(1, 10)),
    "mass": st.tuples(st.just("mass"), st.sampled_from(list(MassCancelScope)),
                      st.sampled_from(USERS), st.sampled_from(SYMBOLS)),
    "admin": st.tuples(st.just("admin"),
                       st.sampled_from([AdminAction.HALT, AdminAction.KILL, AdminAction.END_OF_DAY]
                                       + [AdminAction.RESUME] * 3),
                       st.sampled_from(SYMBOLS)),
}
_KINDS = st.sampled_from(["new"] * 20 + ["cancel"] * 5 + ["replace"] * 5 + ["mass", "admin"])


@st.composite
def operations(draw):
    return draw(_OPERATIONS[draw(_KINDS)])


FLOWS = given(ops=st.lists(operations(), min_size=20, max_size=80), stp=st.booleans())


def commands_for(ops):
    """Stamped command tuples for a list of operations (pure: no engine involved)."""
    ex = Exchange()
    ids, owner, last_price, commands = [], {}, {}, []
    for op in ops:
        kind = op[0]
        if kind == "new":
            _, symbol, user, side, order_type, tif, price, stop, qty, pick = op
            order_id = ids[-1] if pick == 0 and ids else 1 + len(ids)
            ids.append(order_id)
            owner.setdefault(order_id, user)
            limit = price if order_type in (LIMIT, STOP_LIMIT) else 0
            last_price.setdefault(order_id, limit)
            stop = stop if order_type in (STOP, STOP_LIMIT) else 0
            commands.append(ex.stamp(W.NEW_ORDER, symbol=symbol, order_id=order_id, user=user,
                                     side=side, order_type=order_type, tif=tif, price=limit,
                                     stop_price=stop, qty=qty))
        elif kind in ("cancel", "replace"):
            _, target, who, price, qty = op if kind == "replace" else op + (None, None)
            order_id = ids[-1 - target % len(ids)] if ids else 1      # mostly recent orders
            user = owner.get(order_id, 1) if who else 1 + owner.get(order_id, 1) % 3
            if price is None:                          # keep the price: may keep priority
                price = last_price.get(order_id) or PRICES[3]
            if kind == "cancel":
                commands.append(ex.stamp(W.CANCEL, order_id=order_id, user=user))
            else:
                commands.append(ex.stamp(W.REPLACE, order_id=order_id, user=user, price=price,
                                         qty=qty))
                last_price[order_id] = price
        elif kind == "mass":
            _, scope, user, symbol = op
            commands.append(ex.stamp(W.MASS_CANCEL, scope=scope, user=user, symbol=symbol))
        else:
            _, action, symbol = op
            commands.append(ex.stamp(W.ADMIN, action=action, symbol=symbol))
    return commands


def run(ops, stp):
    """Yield (engine, command, events) after each command of the flow."""
    ex = Exchange(stp=stp)
    for command in commands_for(ops):
        yield ex.engine, command, ex.send(command)


_FIELD_NAMES = {message.code: message.field_names for message in W.EVENTS.messages}


def fields(event):
    return dict(zip(_FIELD_NAMES[event[0]], event[1:]))


def live_quantities(engine):
    """order id -> open quantity, for every order resting or waiting as a stop."""
    live = {}
    for book in engine.books.values():
        for side in (BUY, SELL):
            for _, orders in book.orders_at(side):
                live.update((o.order_id, o.qty) for o in orders)
            live.update((o.order_id, o.qty) for o in book.live_stops(side))
    return live


def book_never_crossed_at_rest(ops, stp):
    for engine, command, _ in run(ops, stp):
        for symbol, book in engine.books.items():
            bid, ask = book.best(BUY), book.best(SELL)
            assert bid is None or ask is None or bid[0] < ask[0], (command, bid, ask)


@dataclass
class Ledger:
    entered: int
    increased: int = 0
    filled: int = 0
    removed: int = 0            # cancelled, expired, killed, or cut by a replace
    open: int = 0


def quantity_conserved_per_order(ops, stp):
    ledgers = {}
    for engine, command, events in run(ops, stp):
        for event in events:
            f = fields(event)
            if event[0] == W.ACCEPTED.code:
                ledgers[f["order_id"]] = Ledger(entered=f["qty"], open=f["qty"])
            elif event[0] == W.EXECUTED.code:
                for who in ("aggressor", "resting"):
                    ledger = ledgers[f[f"{who}_id"]]
                    ledger.filled += f["qty"]
                    ledger.open -= f["qty"]
                    assert ledger.open == f[f"{who}_leaves"], (command, event)
            elif event[0] == W.CANCELLED.code:
                ledger = ledgers[f["order_id"]]
                assert 0 < f["qty"] == ledger.open, (command, event)
                ledger.removed += f["qty"]
                ledger.open = 0
            elif event[0] == W.REPLACED.code:
                ledger = ledgers[f["order_id"]]
                ledger.increased += max(0, f["qty"] - ledger.open)
                ledger.removed += max(0, ledger.open - f["qty"])
                ledger.open = f["qty"]
        live = live_quantities(engine)
        assert live.keys() <= ledgers.keys(), command
        for order_id, ledger in ledgers.items():
            resting = live.get(order_id, 0)
            assert ledger.entered + ledger.increased == ledger.filled + ledger.removed + resting, \
                (command, order_id, ledger, resting)


def fifo_within_level_and_levels_add_up(ops, stp):
    for engine, command, _ in run(ops, stp):
        for book in engine.books.values():
            for side in (BUY, SELL):
                levels = book.orders_at(side)
                for price, orders in levels:
                    seqs = [o.seq for o in orders]
                    assert seqs == sorted(seqs), (command, price, orders)
                    assert all(o.price == price and o.side == side and o.qty > 0 for o in orders)
                    assert all(o.tif in (DAY, GTC) and o.order_type in (LIMIT, STOP_LIMIT)
                               for o in orders), (command, orders)
                assert book.depth(side) == [(price, sum(o.qty for o in orders), len(orders))
                                            for price, orders in levels], command


def executions_at_resting_price_with_positive_quantity(ops, stp):
    limit, side_of, user_of = {}, {}, {}
    last_match = 0
    for engine, command, events in run(ops, stp):
        for position, event in enumerate(events):
            f = fields(event)
            if event[0] in (W.ACCEPTED.code, W.REPLACED.code):
                limit[f["order_id"]] = f["price"]
                side_of.setdefault(f["order_id"], f.get("side"))
                user_of[f["order_id"]] = f["user"]
            if event[0] != W.EXECUTED.code:
                continue
            aggressor, resting = f["aggressor_id"], f["resting_id"]
            assert f["qty"] > 0, (command, event)
            assert f["price"] == limit[resting], (command, event)
            assert side_of[resting] != f["aggressor_side"] == side_of[aggressor], (command, event)
            if limit[aggressor]:              # a limit aggressor never pays more than its limit
                assert (f["price"] <= limit[aggressor] if f["aggressor_side"] == BUY
                        else f["price"] >= limit[aggressor]), (command, event)
            assert f["match_id"] == last_match + 1, (command, event)
            last_match = f["match_id"]
            if stp:
                assert user_of[aggressor] != user_of[resting], (command, event)
            trade = events[position + 1]
            assert trade == (W.TRADE.code, f["seq"], f["ts"], f["symbol"], f["match_id"],
                             f["price"], f["qty"], f["aggressor_side"]), (command, event, trade)


def level_events_mirror_the_book(ops, stp):
    mirror = {}
    for engine, command, events in run(ops, stp):
        for event in events:
            if event[0] == W.LEVEL.code:
                f = fields(event)
                assert (f["qty"] == 0) == (f["orders"] == 0), (command, event)
                mirror[f["symbol"], f["side"], f["price"]] = (f["qty"], f["orders"])
        shown = {key: value for key, value in mirror.items() if value[1]}
        actual = {(symbol, side, price): (qty, count)
                  for symbol, book in engine.books.items() for side in (BUY, SELL)
                  for price, qty, count in book.depth(side)}
        assert shown == actual, command


def replay_gives_identical_events_and_state_hash(ops, stp):
    first = [(events, engine.state_hash()) for engine, _, events in run(ops, stp)]
    second = [(events, engine.state_hash()) for engine, _, events in run(ops, stp)]
    assert first == second


def every_event_round_trips_through_the_wire_codec(ops, stp):
    for _, command, events in run(ops, stp):
        assert events, command
        for event in events:
            assert EVENT_CODEC.decode(EVENT_CODEC.encode(event)) == event, (command, event)


PROPERTIES = (
    book_never_crossed_at_rest,
    quantity_conserved_per_order,
    fifo_within_level_and_levels_add_up,
    executions_at_resting_price_with_positive_quantity,
    level_events_mirror_the_book,
    replay_gives_identical_events_and_state_hash,
    every_event_round_trips_through_the_wire_codec,
)


@FLOW_SETTINGS
@FLOWS
def test_every_property_holds_on_random_flows(ops, stp):
    """Each flow is drawn once and checked for every property (drawing a flow costs three
    times as much as checking one); a failing property shrinks its flow and names itself
    in the traceback."""
    for prop in PROPERTIES:
        prop(ops, stp)


@pytest.mark.long
@LONG_FLOW_SETTINGS
@FLOWS
def test_every_property_holds_on_random_flows_long(ops, stp):
    for prop in PROPERTIES:
        prop(ops, stp)


def _history(*steps):
    def play():
        ex = Exchange()
        for step in steps:
            step(ex)
        return ex.engine.state_hash()
    return play


P100, P101 = usd(100), usd("100.01")
_STATES_THAT_BEHAVE_DIFFERENTLY = {       # same books on screen, different future events
    "an order id was used": (
        _history(lambda ex: ex.buy(1, qty=1, price=P100, tif=IOC)), _history()),
    "which order ids were used": (
        _history(lambda ex: ex.buy(1, qty=1, price=P100, tif=IOC)),
        _history(lambda ex: ex.buy(2, qty=1, price=P100, tif=IOC))),
    "time priority within a level": (
        _history(lambda ex: ex.sell(1, qty=5, price=P100), lambda ex: ex.sell(2, qty=5, price=P100)),
        _history(lambda ex: ex.sell(2, qty=5, price=P100), lambda ex: ex.sell(1, qty=5, price=P100))),
    "a symbol is halted": (_history(lambda ex: ex.admin(AdminAction.HALT, GATE)), _history()),
    "a stop is pending": (
        _history(lambda ex: ex.buy(1, qty=1, type=STOP, stop=P101)),
        _history(lambda ex: ex.buy(1, qty=1, price=P100, tif=IOC))),
    "last trade price": (
        _history(lambda ex: ex.sell(1, qty=1, price=P100), lambda ex: ex.buy(2, qty=1, price=P100)),
        _history(lambda ex: ex.sell(1, qty=1, price=P101), lambda ex: ex.buy(2, qty=1, price=P101))),
    "match id counter": (
        _history(lambda ex: ex.sell(1, qty=1, price=P100), lambda ex: ex.sell(3, qty=1, price=P100),
                 lambda ex: ex.buy(2, qty=2, price=P100)),
        _history(lambda ex: ex.sell(1, qty=2, price=P100), lambda ex: ex.buy(2, qty=2, price=P100),
                 lambda ex: ex.buy(3, qty=1, price=P100, tif=IOC))),
}


def test_state_hash_tells_apart_states_that_behave_differently():
    for name, (first, second) in _STATES_THAT_BEHAVE_DIFFERENTLY.items():
        assert first() == first(), name
        assert first() != second(), name
