"""Scenario tests of the engine's interface: exact event sequences for the rules
stated in host/engine.py's docstring, against every implementation (the `engine`
fixture of tests/engine_implementations.py: the golden engine, and the hybrid host
with each in-process lane backend).

Symbol GATE (id 1) has a one-cent tick (100 price units); prices are written usd(...).
"""

from engine_fixtures import (AAPL, ALL_SYMBOLS, BUY, FOK, GATE, GTC, IOC, MARKET, SELL, STOP, STOP_LIMIT,
                             AdminAction, CancelReason, Exchange, MassCancelScope, RejectReason,
                             assert_events, usd)
from engine_implementations import engine  # noqa: F401 (the fixture, used by name)

P100, P101, P102, P103 = usd(100), usd("100.01"), usd("100.02"), usd("100.03")
P99, P98 = usd("99.99"), usd("99.98")


# -- resting and filling ------------------------------------------------------

def test_limit_order_rests_and_shows_as_best(engine):
    ex = Exchange(implementation=engine)
    assert_events(ex.buy(1, qty=10, price=P100), [ex.accepted(), ex.level(BUY, P100, 10, 1)])
    assert ex.book().best(BUY) == (P100, 10, 1)
    assert ex.book().best(SELL) is None


def test_full_fill_empties_both_sides(engine):
    ex = Exchange(implementation=engine)
    ex.sell(1, qty=10, price=P100, user=1)
    got = ex.buy(2, qty=10, price=P100, user=2)
    assert_events(got, [ex.accepted(),
                        *ex.fill(1, P100, 10, taker=2, taker_leaves=0, maker=1, maker_leaves=0),
                        ex.level(SELL, P100, 0, 0)])
    assert ex.book().best(BUY) is None and ex.book().best(SELL) is None


def test_partial_fill_of_resting_then_of_aggressor(engine):
    ex = Exchange(implementation=engine)
    ex.sell(1, qty=10, price=P100, user=1)
    got = ex.buy(2, qty=4, price=P100, user=2)
    assert_events(got, [ex.accepted(),
                        *ex.fill(1, P100, 4, taker=2, taker_leaves=0, maker=1, maker_leaves=6),
                        ex.level(SELL, P100, 6, 1)])
    got = ex.buy(3, qty=10, price=P100, user=3)
    assert_events(got, [ex.accepted(),
                        *ex.fill(2, P100, 6, taker=3, taker_leaves=4, maker=1, maker_leaves=0),
                        ex.level(SELL, P100, 0, 0),
                        ex.level(BUY, P100, 4, 1)])
    assert ex.queue(BUY) == [(P100, [3])] and ex.queue(SELL) == []


def test_sweep_across_levels_stops_at_limit(engine):
    ex = Exchange(implementation=engine)
    ex.sell(1, qty=5, price=P100, user=1)
    ex.sell(2, qty=5, price=P101, user=2)
    ex.sell(3, qty=3, price=P101, user=3)
    ex.sell(4, qty=5, price=P102, user=4)
    got = ex.buy(5, qty=20, price=P101, user=5)
    assert_events(got, [ex.accepted(),
                        *ex.fill(1, P100, 5, taker=5, taker_leaves=15, maker=1, maker_leaves=0),
                        ex.level(SELL, P100, 0, 0),
                        *ex.fill(2, P101, 5, taker=5, taker_leaves=10, maker=2, maker_leaves=0),
                        *ex.fill(3, P101, 3, taker=5, taker_leaves=7, maker=3, maker_leaves=0),
                        ex.level(SELL, P101, 0, 0),
                        ex.level(BUY, P101, 7, 1)])
    assert ex.book().depth(SELL) == [(P102, 5, 1)]
    assert ex.book().depth(BUY) == [(P101, 7, 1)]


def test_buy_aggressor_trades_at_resting_ask_price(engine):
    ex = Exchange(implementation=engine)
    ex.sell(1, qty=5, price=P100, user=1)
    got = ex.buy(2, qty=5, price=P103, user=2)
    assert_events(got, [ex.accepted(),
                        *ex.fill(1, P100, 5, taker=2, taker_leaves=0, maker=1, maker_leaves=0),
                        ex.level(SELL, P100, 0, 0)])


def test_sell_aggressor_trades_at_resting_bid_price(engine):
    ex = Exchange(implementation=engine)
    ex.buy(1, qty=5, price=P103, user=1)
    got = ex.sell(2, qty=5, price=P100, user=2)
    assert_events(got, [ex.accepted(),
                        *ex.fill(1, P103, 5, taker=2, taker_leaves=0, maker=1, maker_leaves=0),
                        ex.level(BUY, P103, 0, 0)])


def test_fifo_kept_after_cancel_in_middle_of_queue(engine):
    ex = Exchange(implementation=engine)
    for order_id in (1, 2, 3):
        ex.sell(order_id, qty=5, price=P100, user=order_id)
    assert_events(ex.cancel(2), [ex.cancelled(2, 5, CancelReason.USER), ex.level(SELL, P100, 10, 2)])
    assert ex.queue(SELL) == [(P100, [1, 3])]
    got = ex.buy(4, qty=7, price=P100, user=4)
    assert_events(got, [ex.accepted(),
                        *ex.fill(1, P100, 5, taker=4, taker_leaves=2, maker=1, maker_leaves=0),
                        *ex.fill(2, P100, 2, taker=4, taker_leaves=0, maker=3, maker_leaves=3),
                        ex.level(SELL, P100, 3, 1)])


def test_best_moves_to_next_level_when_best_empties(engine):
    ex = Exchange(implementation=engine)
    ex.buy(1, qty=5, price=P100, user=1)
    ex.buy(2, qty=5, price=P99, user=2)
    ex.sell(3, qty=5, price=P101, user=3)
    ex.sell(4, qty=5, price=P102, user=4)
    ex.sell(5, qty=5, price=P100, user=5)           # fills bid 1 completely
    assert ex.book().best(BUY) == (P99, 5, 1)
    ex.cancel(3)                                   # the best ask level empties by cancel
    assert ex.book().best(SELL) == (P102, 5, 1)
    got = ex.sell(6, qty=1, price=P99, user=6)      # must not trade with the gone bid at 100
    assert_events(got, [ex.accepted(),
                        *ex.fill(2, P99, 1, taker=6, taker_leaves=0, maker=2, maker_leaves=4),
                        ex.level(BUY, P99, 4, 1)])


def test_cancel_and_replace_of_filled_order_rejected(engine):
    ex = Exchange(implementation=engine)
    ex.sell(1, qty=5, price=P100, user=1)
    ex.buy(2, qty=5, price=P100, user=2)
    for order_id, user in ((1, 1), (2, 2)):
        assert_events(ex.cancel(order_id), [
            ex.rejected(RejectReason.ORDER_NOT_LIVE, order_id=order_id, user=user)])
        assert_events(ex.replace(order_id, P100, 5), [
            ex.rejected(RejectReason.ORDER_NOT_LIVE, order_id=order_id, user=user)])


def test_taker_that_exactly_empties_a_level_makes_no_zero_quantity_fill(engine):
    ex = Exchange(implementation=engine)
    ex.sell(1, qty=5, price=P100, user=1)
    ex.sell(2, qty=5, price=P101, user=2)
    ex.sell(3, qty=5, price=P101, user=3)
    ex.cancel(2)                                   # leaves a dead entry at the front of 100.01
    got = ex.buy(4, qty=5, price=P101, user=4)
    assert_events(got, [ex.accepted(),
                        *ex.fill(1, P100, 5, taker=4, taker_leaves=0, maker=1, maker_leaves=0),
                        ex.level(SELL, P100, 0, 0)])
    got = ex.buy(5, qty=5, price=P101, user=5)
    assert_events(got, [ex.accepted(),
                        *ex.fill(2, P101, 5, taker=5, taker_leaves=0, maker=3, maker_leaves=0),
                        ex.level(SELL, P101, 0, 0)])


# -- IOC, market, FOK -----------------------------------------------------------

def test_ioc_remainder_cancelled_never_rests(engine):
    ex = Exchange(implementation=engine)
    ex.sell(1, qty=5, price=P100, user=1)
    got = ex.buy(2, qty=8, price=P101, user=2, tif=IOC)
    assert_events(got, [ex.accepted(),
                        *ex.fill(1, P100, 5, taker=2, taker_leaves=3, maker=1, maker_leaves=0),
                        ex.level(SELL, P100, 0, 0),
                        ex.cancelled(2, 3, CancelReason.IOC_REMAINDER)])
    assert_events(ex.buy(3, qty=4, price=P100, tif=IOC),
                  [ex.accepted(), ex.cancelled(3, 4, CancelReason.IOC_REMAINDER)])
    assert ex.book().best(BUY) is None


def test_market_order_on_empty_book_is_cancelled(engine):
    ex = Exchange(implementation=engine)
    assert_events(ex.buy(1, qty=10, type=MARKET),
                  [ex.accepted(), ex.cancelled(1, 10, CancelReason.IOC_REMAINDER)])
    assert ex.book().best(BUY) is None


def test_market_order_sweeps_and_remainder_cancelled(engine):
    ex = Exchange(implementation=engine)
    ex.buy(1, qty=5, price=P100, user=1)
    ex.buy(2, qty=5, price=P98, user=2)
    got = ex.sell(3, qty=12, type=MARKET, tif=GTC, user=3)
    assert_events(got, [ex.accepted(),
                        *ex.fill(1, P100, 5, taker=3, taker_leaves=7, maker=1, maker_leaves=0),
                        ex.level(BUY, P100, 0, 0),
                        *ex.fill(2, P98, 5, taker=3, taker_leaves=2, maker=2, maker_leaves=0),
                        ex.level(BUY, P98, 0, 0),
                        ex.cancelled(3, 2, CancelReason.IOC_REMAINDER)])
    assert ex.book().best(SELL) is None


def test_fok_killed_without_partial_fill_and_book_unchanged(engine):
    ex = Exchange(implementation=engine)
    ex.sell(1, qty=5, price=P100, user=1)
    ex.sell(2, qty=3, price=P101, user=2)
    ex.sell(3, qty=9, price=P103, user=3)
    before = (ex.queue(SELL), ex.book().depth(SELL))
    got = ex.buy(4, qty=10, price=P101, tif=FOK, user=4)        # only 8 at or below 100.01
    assert_events(got, [ex.accepted(), ex.cancelled(4, 10, CancelReason.FOK_KILL)])
    assert (ex.queue(SELL), ex.book().depth(SELL)) == before
    assert ex.book().last_trade_price == 0


def test_fok_filled_exactly(engine):
    ex = Exchange(implementation=engine)
    ex.sell(1, qty=5, price=P100, user=1)
    ex.sell(2, qty=3, price=P101, user=2)
    got = ex.buy(3, qty=8, price=P101, tif=FOK, user=3)
    assert_events(got, [ex.accepted(),
                        *ex.fill(1, P100, 5, taker=3, taker_leaves=3, maker=1, maker_leaves=0),
                        ex.level(SELL, P100, 0, 0),
                        *ex.fill(2, P101, 3, taker=3, taker_leaves=0, maker=2, maker_leaves=0),
                        ex.level(SELL, P101, 0, 0)])


def test_order_ids_are_never_reused(engine):
    ex = Exchange(implementation=engine)
    ex.sell(1, qty=5, price=P100, user=1)
    ex.buy(2, qty=5, price=P100, user=2)           # 1 and 2 filled
    ex.buy(3, qty=5, price=P99, user=3)
    ex.cancel(3)
    for order_id in (1, 2, 3):
        assert_events(ex.buy(order_id, qty=1, price=P99, symbol=AAPL, user=9),
                      [ex.rejected(RejectReason.DUPLICATE_ORDER_ID, symbol=AAPL,
                                   order_id=order_id, user=9)])


# -- replace ------------------------------------------------------------------

def test_replace_quantity_down_keeps_priority(engine):
    ex = Exchange(implementation=engine)
    ex.sell(1, qty=10, price=P100, user=1)
    ex.sell(2, qty=10, price=P100, user=2)
    assert_events(ex.replace(1, P100, 4), [ex.replaced(1, P100, 4, kept_priority=True),
                                           ex.level(SELL, P100, 14, 2)])
    assert ex.queue(SELL) == [(P100, [1, 2])]
    got = ex.buy(3, qty=5, price=P100, user=3)
    assert_events(got, [ex.accepted(),
                        *ex.fill(1, P100, 4, taker=3, taker_leaves=1, maker=1, maker_leaves=0),
                        *ex.fill(2, P100, 1, taker=3, taker_leaves=0, maker=2, maker_leaves=9),
                        ex.level(SELL, P100, 9, 1)])


def test_replace_quantity_up_loses_priority(engine):
    ex = Exchange(implementation=engine)
    ex.sell(1, qty=10, price=P100, user=1)
    ex.sell(2, qty=10, price=P100, user=2)
    assert_events(ex.replace(1, P100, 15), [ex.replaced(1, P100, 15, kept_priority=False),
                                            ex.level(SELL, P100, 10, 1),
                                            ex.level(SELL, P100, 25, 2)])
    assert ex.queue(SELL) == [(P100, [2, 1])]
    got = ex.buy(3, qty=5, price=P100, user=3)
    assert_events(got, [ex.accepted(),
                        *ex.fill(1, P100, 5, taker=3, taker_leaves=0, maker=2, maker_leaves=5),
                        ex.level(SELL, P100, 20, 2)])


def test_replace_price_change_loses_priority_and_can_cross(engine):
    ex = Exchange(implementation=engine)
    ex.buy(1, qty=10, price=P99, user=1)
    ex.buy(2, qty=10, price=P100, user=2)
    ex.sell(3, qty=4, price=P101, user=3)
    assert_events(ex.replace(1, P100, 10), [ex.replaced(1, P100, 10, kept_priority=False),
                                            ex.level(BUY, P99, 0, 0),
                                            ex.level(BUY, P100, 20, 2)])
    assert ex.queue(BUY) == [(P100, [2, 1])]
    got = ex.replace(2, P101, 10)                                  # crosses the ask
    assert_events(got, [ex.replaced(2, P101, 10, kept_priority=False),
                        ex.level(BUY, P100, 10, 1),
                        *ex.fill(1, P101, 4, taker=2, taker_leaves=6, maker=3, maker_leaves=0),
                        ex.level(SELL, P101, 0, 0),
                        ex.level(BUY, P101, 6, 1)])
    assert ex.book().depth(BUY) == [(P101, 6, 1), (P100, 10, 1)]


# -- stops --------------------------------------------------------------------

def test_buy_stop_triggers_on_print_at_stop_price(engine):
    ex = Exchange(implementation=engine)
    ex.sell(1, qty=5, price=P100, user=1)
    ex.sell(2, qty=5, price=P101, user=2)
    assert_events(ex.buy(10, qty=3, type=STOP, stop=P101, user=7), [ex.accepted()])
    ex.buy(11, qty=5, price=P100, user=3)               # prints 100.00: below the stop
    assert ex.book().depth(SELL) == [(P101, 5, 1)]
    got = ex.buy(12, qty=1, price=P101, user=3)           # prints 100.01: triggers
    assert_events(got, [ex.accepted(),
                        *ex.fill(2, P101, 1, taker=12, taker_leaves=0, maker=2, maker_leaves=4),
                        ex.level(SELL, P101, 4, 1),
                        ex.triggered(10, P101),
                        *ex.fill(3, P101, 3, taker=10, taker_leaves=0, maker=2, maker_leaves=1),
                        ex.level(SELL, P101, 1, 1)])


def test_sell_stop_limit_triggers_fills_then_rests_at_its_limit(engine):
    ex = Exchange(implementation=engine)
    ex.buy(1, qty=2, price=P100, user=1)
    assert_events(ex.sell(10, qty=6, price=P100, type=STOP_LIMIT, stop=P100, user=7),
                  [ex.accepted()])
    got = ex.sell(11, qty=1, price=P100, user=3)          # prints 100.00 at the bid: triggers
    assert_events(got, [ex.accepted(),
                        *ex.fill(1, P100, 1, taker=11, taker_leaves=0, maker=1, maker_leaves=1),
                        ex.level(BUY, P100, 1, 1),
                        ex.triggered(10, P100),
                        *ex.fill(2, P100, 1, taker=10, taker_leaves=5, maker=1, maker_leaves=0),
                        ex.level(BUY, P100, 0, 0),
                        ex.level(SELL, P100, 5, 1)])


def test_triggered_stop_limit_takes_time_priority_at_trigger(engine):
    ex = Exchange(implementation=engine)
    ex.buy(1, qty=1, price=P100, user=1)
    ex.sell(10, qty=6, price=P102, type=STOP_LIMIT, stop=P100, user=7)
    ex.sell(2, qty=4, price=P102, user=2)                 # entered after the stop, before its trigger
    got = ex.sell(11, qty=1, price=P100, user=3)
    assert_events(got, [ex.accepted(),
                        *ex.fill(1, P100, 1, taker=11, taker_leaves=0, maker=1, maker_leaves=0),
                        ex.level(BUY, P100, 0, 0),
                        ex.triggered(10, P100),
                        ex.level(SELL, P102, 10, 2)])
    assert ex.queue(SELL) == [(P102, [2, 10])]


def test_stop_triggers_at_entry_when_last_print_is_through_it(engine):
    ex = Exchange(implementation=engine)
    ex.sell(1, qty=1, price=P101, user=1)
    ex.buy(2, qty=1, price=P101, user=2)                  # last print 100.01
    ex.sell(3, qty=5, price=P102, user=3)
    got = ex.buy(10, qty=2, type=STOP, stop=P100, user=7)  # 100.01 >= 100.00
    assert_events(got, [ex.accepted(), ex.triggered(10, P101),
                        *ex.fill(2, P102, 2, taker=10, taker_leaves=0, maker=3, maker_leaves=3),
                        ex.level(SELL, P102, 3, 1)])
    got = ex.sell(11, qty=2, type=STOP, stop=P103, user=7)  # 100.02 <= 100.03; no bids
    assert_events(got, [ex.accepted(), ex.triggered(11, P102),
                        ex.cancelled(11, 2, CancelReason.IOC_REMAINDER)])


def test_stops_triggered_by_one_print_released_buy_first_in_order_reached(engine):
    ex = Exchange(implementation=engine)
    # Stops entered before any trade wait; then one print at 100.01 triggers them all.
    ex.buy(20, qty=1, type=STOP, stop=P101, user=7)
    ex.buy(21, qty=1, type=STOP, stop=P100, user=7)
    ex.buy(22, qty=1, type=STOP, stop=P100, user=7)
    ex.sell(23, qty=1, type=STOP, stop=P101, user=7)
    ex.sell(24, qty=1, type=STOP, stop=P102, user=7)
    ex.sell(25, qty=1, type=STOP, stop=P99, user=7)       # not reached: stays pending
    ex.sell(1, qty=1, price=P101, user=1)
    got = ex.buy(2, qty=1, price=P101, user=2)
    assert_events(got, [ex.accepted(),
                        *ex.fill(1, P101, 1, taker=2, taker_leaves=0, maker=1, maker_leaves=0),
                        ex.level(SELL, P101, 0, 0),
                        # buy stops lowest first, ties in time order; then sells highest first
                        ex.triggered(21, P101), ex.cancelled(21, 1, CancelReason.IOC_REMAINDER),
                        ex.triggered(22, P101), ex.cancelled(22, 1, CancelReason.IOC_REMAINDER),
                        ex.triggered(20, P101), ex.cancelled(20, 1, CancelReason.IOC_REMAINDER),
                        ex.triggered(24, P101), ex.cancelled(24, 1, CancelReason.IOC_REMAINDER),
                        ex.triggered(23, P101), ex.cancelled(23, 1, CancelReason.IOC_REMAINDER)])
    assert [o.order_id for o in ex.book().live_stops(SELL)] == [25]


def test_stop_cascade_runs_after_the_command_in_trigger_order(engine):
    ex = Exchange(implementation=engine)
    ex.sell(1, qty=1, price=P100, user=1)
    ex.sell(2, qty=1, price=P101, user=1)
    ex.sell(3, qty=1, price=P102, user=1)
    ex.sell(4, qty=5, price=P103, user=1)
    ex.buy(10, qty=1, type=STOP, stop=P101, user=7)      # A: triggered by the print at 100.01
    ex.buy(11, qty=1, type=STOP, stop=P102, user=7)      # C: triggered by A's print at 100.02
    ex.buy(12, qty=1, type=STOP, stop=P101, user=8)      # B: same stop as A, entered later
    got = ex.buy(5, qty=2, price=P101, user=2)
    assert_events(got, [ex.accepted(),
                        *ex.fill(1, P100, 1, taker=5, taker_leaves=1, maker=1, maker_leaves=0),
                        ex.level(SELL, P100, 0, 0),
                        *ex.fill(2, P101, 1, taker=5, taker_leaves=0, maker=2, maker_leaves=0),
                        ex.level(SELL, P101, 0, 0),
                        ex.triggered(10, P101),
                        *ex.fill(3, P102, 1, taker=10, taker_leaves=0, maker=3, maker_leaves=0),
                        ex.level(SELL, P102, 0, 0),
                        ex.triggered(12, P101),
                        *ex.fill(4, P103, 1, taker=12, taker_leaves=0, maker=4, maker_leaves=4),
                        ex.level(SELL, P103, 4, 1),
                        ex.triggered(11, P102),
                        *ex.fill(5, P103, 1, taker=11, taker_leaves=0, maker=4, maker_leaves=3),
                        ex.level(SELL, P103, 3, 1)])
    assert {e[1] for e in got} == {ex.command[1]}          # all under the command's seq


def test_pending_stop_cancel_has_no_level_event(engine):
    ex = Exchange(implementation=engine)
    ex.buy(10, qty=3, type=STOP, stop=P101, user=7)
    assert_events(ex.cancel(10), [ex.cancelled(10, 3, CancelReason.USER)])
    assert ex.book().live_stops(BUY) == []


# -- self-trade prevention ------------------------------------------------------

def test_self_trade_prevention_cancels_newest_after_trading_others(engine):
    ex = Exchange(stp=True, implementation=engine)
    ex.sell(1, qty=3, price=P100, user=2)
    ex.sell(2, qty=5, price=P100, user=1)
    got = ex.buy(3, qty=10, price=P100, user=1)
    assert_events(got, [ex.accepted(),
                        *ex.fill(1, P100, 3, taker=3, taker_leaves=7, maker=1, maker_leaves=0),
                        ex.level(SELL, P100, 5, 1),
                        ex.cancelled(3, 7, CancelReason.SELF_TRADE)])
    assert ex.queue(SELL) == [(P100, [2])]


def test_self_trade_prevention_kills_fok_that_needs_own_liquidity(engine):
    ex = Exchange(stp=True, implementation=engine)
    ex.sell(1, qty=3, price=P100, user=2)
    ex.sell(2, qty=5, price=P100, user=1)
    got = ex.buy(3, qty=5, price=P100, user=1, tif=FOK)
    assert_events(got, [ex.accepted(), ex.cancelled(3, 5, CancelReason.FOK_KILL)])


def test_self_trade_allowed_by_default(engine):
    ex = Exchange(implementation=engine)
    ex.sell(1, qty=5, price=P100, user=1)
    got = ex.buy(2, qty=5, price=P100, user=1)
    assert_events(got, [ex.accepted(),
                        *ex.fill(1, P100, 5, taker=2, taker_leaves=0, maker=1, maker_leaves=0),
                        ex.level(SELL, P100, 0, 0)])


# -- mass cancel and admin ------------------------------------------------------

def _three_users_two_symbols(engine):
    ex = Exchange(implementation=engine)
    ex.buy(1, qty=1, price=P99, user=1)
    ex.sell(2, qty=2, price=P102, user=1, symbol=AAPL)
    ex.buy(3, qty=3, price=P99, user=2)
    ex.buy(4, qty=4, type=STOP, stop=P103, user=1)
    ex.sell(5, qty=5, price=P102, user=3, tif=GTC)
    return ex


def test_mass_cancel_by_user(engine):
    ex = _three_users_two_symbols(engine)
    assert_events(ex.mass_cancel(MassCancelScope.USER, user=1), [
        ex.cancelled(1, 1, CancelReason.MASS_CANCEL), ex.level(BUY, P99, 3, 1),
        ex.cancelled(2, 2, CancelReason.MASS_CANCEL), ex.level(SELL, P102, 0, 0, symbol=AAPL),
        ex.cancelled(4, 4, CancelReason.MASS_CANCEL),
        ex.done(3)])
    assert ex.queue(BUY) == [(P99, [3])] and ex.queue(SELL) == [(P102, [5])]


def test_mass_cancel_by_symbol(engine):
    ex = _three_users_two_symbols(engine)
    assert_events(ex.mass_cancel(MassCancelScope.SYMBOL, symbol=GATE), [
        ex.cancelled(1, 1, CancelReason.MASS_CANCEL), ex.level(BUY, P99, 3, 1),
        ex.cancelled(3, 3, CancelReason.MASS_CANCEL), ex.level(BUY, P99, 0, 0),
        ex.cancelled(4, 4, CancelReason.MASS_CANCEL),
        ex.cancelled(5, 5, CancelReason.MASS_CANCEL), ex.level(SELL, P102, 0, 0),
        ex.done(4)])
    assert ex.book(AAPL).depth(SELL) == [(P102, 2, 1)]


def test_mass_cancel_by_user_and_symbol(engine):
    ex = _three_users_two_symbols(engine)
    assert_events(ex.mass_cancel(MassCancelScope.USER_SYMBOL, user=1, symbol=AAPL), [
        ex.cancelled(2, 2, CancelReason.MASS_CANCEL), ex.level(SELL, P102, 0, 0, symbol=AAPL),
        ex.done(1)])
    assert_events(ex.mass_cancel(MassCancelScope.USER_SYMBOL, user=1, symbol=AAPL), [ex.done(0)])
    assert ex.book().depth(BUY) == [(P99, 4, 2)]


def test_halt_rejects_orders_allows_cancels_then_resume(engine):
    ex = _three_users_two_symbols(engine)
    assert_events(ex.admin(AdminAction.HALT, GATE), [ex.trading_state(GATE, halted=1), ex.done(0)])
    assert_events(ex.admin(AdminAction.HALT, GATE), [ex.done(0)])     # no change, no state event
    assert_events(ex.buy(6, qty=1, price=P99, user=2), [
        ex.rejected(RejectReason.SYMBOL_HALTED, symbol=GATE, order_id=6, user=2)])
    assert_events(ex.replace(3, P99, 1), [
        ex.rejected(RejectReason.SYMBOL_HALTED, symbol=GATE, order_id=3, user=2)])
    assert_events(ex.cancel(3), [ex.cancelled(3, 3, CancelReason.USER), ex.level(BUY, P99, 1, 1)])
    assert_events(ex.buy(7, qty=1, price=P99, user=2, symbol=AAPL),
                  [ex.accepted(), ex.level(BUY, P99, 1, 1, symbol=AAPL)])
    assert_events(ex.admin(AdminAction.RESUME, GATE), [ex.trading_state(GATE, halted=0), ex.done(0)])
    assert_events(ex.buy(6, qty=1, price=P99, user=2), [ex.accepted(), ex.level(BUY, P99, 2, 2)])


def test_kill_cancels_everything_with_reason_halt_and_halts(engine):
    ex = _three_users_two_symbols(engine)
    got = ex.admin(AdminAction.KILL, ALL_SYMBOLS)
    halts = [ex.trading_state(symbol, halted=1) for symbol in ex.books()]   # listing order
    assert_events(got, halts + [
        ex.cancelled(1, 1, CancelReason.HALT), ex.level(BUY, P99, 3, 1),
        ex.cancelled(2, 2, CancelReason.HALT), ex.level(SELL, P102, 0, 0, symbol=AAPL),
        ex.cancelled(3, 3, CancelReason.HALT), ex.level(BUY, P99, 0, 0),
        ex.cancelled(4, 4, CancelReason.HALT),
        ex.cancelled(5, 5, CancelReason.HALT), ex.level(SELL, P102, 0, 0),
        ex.done(5)])
    assert_events(ex.sell(6, qty=1, price=P102, user=3, symbol=AAPL), [
        ex.rejected(RejectReason.SYMBOL_HALTED, symbol=AAPL, order_id=6, user=3)])


def test_end_of_day_expires_day_orders_keeps_gtc(engine):
    ex = _three_users_two_symbols(engine)
    ex.buy(6, qty=6, type=STOP, stop=P103, user=2, tif=GTC)
    assert_events(ex.admin(AdminAction.END_OF_DAY, GATE), [
        ex.cancelled(1, 1, CancelReason.EXPIRED), ex.level(BUY, P99, 3, 1),
        ex.cancelled(3, 3, CancelReason.EXPIRED), ex.level(BUY, P99, 0, 0),
        ex.cancelled(4, 4, CancelReason.EXPIRED),
        ex.done(3)])
    assert ex.queue(SELL) == [(P102, [5])]
    assert [o.order_id for o in ex.book().live_stops(BUY)] == [6]
    assert ex.book(AAPL).depth(SELL) == [(P102, 2, 1)]         # other symbol untouched


# -- market data views ----------------------------------------------------------

def test_l1_l2_l3_views(engine):
    ex = Exchange(implementation=engine)
    ex.buy(1, qty=5, price=P99, user=1)
    ex.buy(2, qty=7, price=P100, user=2)
    ex.buy(3, qty=1, price=P99, user=3)
    ex.buy(4, qty=2, price=P98, user=4)
    ex.sell(5, qty=4, price=P102, user=5)
    ex.sell(6, qty=6, price=P103, user=6)
    ex.replace(1, P99, 3)                                   # keeps priority over 3
    book = ex.book()
    assert (book.best(BUY), book.best(SELL)) == ((P100, 7, 1), (P102, 4, 1))
    assert book.depth(BUY) == [(P100, 7, 1), (P99, 4, 2), (P98, 2, 1)]
    assert book.depth(BUY, 2) == [(P100, 7, 1), (P99, 4, 2)]
    assert book.depth(SELL, 0) == []
    assert book.depth(SELL) == [(P102, 4, 1), (P103, 6, 1)]
    assert [(price, [(o.order_id, o.qty) for o in orders]) for price, orders in book.orders_at(BUY)] \
        == [(P100, [(2, 7)]), (P99, [(1, 3), (3, 1)]), (P98, [(4, 2)])]
    assert ex.book(AAPL).best(BUY) is None and ex.book(AAPL).depth(SELL) == []


def test_listeners_receive_every_command_events_in_order(engine):
    ex = Exchange(implementation=engine)
    heard = []
    ex.engine.subscribe(heard.append)
    returned = [ex.sell(1, qty=5, price=P100, user=1), ex.buy(2, qty=5, price=P100, user=2),
                ex.cancel(1), ex.send(("not a command",))]
    assert heard == returned and all(returned)
