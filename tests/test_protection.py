"""Market-order protection: market and stop orders trade no further than a limit from a reference.

The two runs of issue 11 ("Market safety"), in a band of 50.00..200.00: a market buy for 10
swept 100 -> 199, and 1-lot market orders walked 100 -> 150 and set off a stop that filled
at 200. With protection each stops at its limit and its remainder is cancelled with
PROTECTION. Every implementation of the `engine` fixture runs them (the golden engine,
compiled and from source, and the hybrid host, which hands protected market orders to the
host's engine).
"""

import pytest

from engine_fixtures import FOK, GATE, MARKET, SELL, STOP, CancelReason, Exchange, usd
from engine_implementations import engine  # noqa: F401 (the fixture, used by name)
from gatebook.host.config import ConfigError, parse_config
from gatebook.host.symbols import DEFAULT_SYMBOLS, SymbolSpec
from gatebook.wire import internal as W
from gatebook.wire.positions import CODE, INTERNAL


def _symbols(**protection):
    band = SymbolSpec(GATE, "GATE", tick_size=100, price_min=usd(50), price_max=usd(200),
                      **protection)
    return (band,) + DEFAULT_SYMBOLS[1:]


def _trade_prices(events):
    return [event[INTERNAL.TRADE.price] for event in events if event[CODE] == W.TRADE.code]


def _cancels(events):
    return [(event[INTERNAL.CANCELLED.order_id], event[INTERNAL.CANCELLED.qty],
             CancelReason(event[INTERNAL.CANCELLED.reason]))
            for event in events if event[CODE] == W.CANCELLED.code]


def _ladder(ex, prices, first_id=100):
    """One share offered at each of `prices` (dollars) by user 9."""
    for offset, price in enumerate(prices):
        ex.sell(first_id + offset, 1, usd(price), user=9)


SWEEP = [100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 199]


def test_unprotected_a_market_buy_sweeps_the_whole_band(engine):
    ex = Exchange(_symbols(), implementation=engine)
    _ladder(ex, SWEEP)
    events = ex.buy(1, 10, type=MARKET)
    assert _trade_prices(events) == [usd(p) for p in SWEEP[:10]]      # 100 -> 190
    assert _cancels(events) == []


def test_a_protected_market_buy_stops_at_its_limit_and_the_rest_is_cancelled(engine):
    # No trade yet: the reference is the best ask, 100; 15 % of it allows up to 115.
    ex = Exchange(_symbols(protection_percent=15), implementation=engine)
    _ladder(ex, SWEEP)
    events = ex.buy(1, 10, type=MARKET)
    assert _trade_prices(events) == [usd(100), usd(110)]
    assert _cancels(events) == [(1, 8, CancelReason.PROTECTION)]
    assert [price for price, _ in ex.queue(SELL)] == [usd(p) for p in SWEEP[2:]]
    # Now the reference is the last trade, 110: a sell market order may go down to 93.50
    # (15 % of 110 is 16.50, on the grid); the bids at 95 trade, the one at 90 does not.
    ex.buy(2, 1, usd(95), user=8)
    ex.buy(3, 1, usd(90), user=8)
    events = ex.sell(4, 2, type=MARKET, user=7)
    assert _trade_prices(events) == [usd(95)]
    assert _cancels(events) == [(4, 1, CancelReason.PROTECTION)]


def test_a_market_order_that_fills_within_its_limit_is_not_cancelled(engine):
    ex = Exchange(_symbols(protection_ticks=2000), implementation=engine)     # 20.00
    _ladder(ex, SWEEP)
    events = ex.buy(1, 3, type=MARKET)
    assert _trade_prices(events) == [usd(100), usd(110), usd(120)]
    assert _cancels(events) == []
    # An empty book beyond the fills: the remainder is IOC_REMAINDER, as before.
    ex = Exchange(_symbols(protection_ticks=2000), implementation=engine)
    _ladder(ex, [100])
    assert _cancels(ex.buy(1, 3, type=MARKET)) == [(1, 2, CancelReason.IOC_REMAINDER)]


def test_a_protected_fok_market_order_counts_only_what_is_inside_its_limit(engine):
    ex = Exchange(_symbols(protection_percent=15), implementation=engine)
    _ladder(ex, SWEEP)
    events = ex.buy(1, 3, type=MARKET, tif=FOK)          # 100 and 110 only: killed whole
    assert _trade_prices(events) == []
    assert _cancels(events) == [(1, 3, CancelReason.FOK_KILL)]
    assert _trade_prices(ex.buy(2, 2, type=MARKET, tif=FOK)) == [usd(100), usd(110)]


def _walk_then_stop(ex):
    """A print at 100, a buy stop at 150, asks every 10 from 110 and one at 200; five
    1-lot market buys. The events of the last command."""
    ex.sell(50, 1, usd(100), user=9)
    ex.buy(51, 1, usd(100), user=8)                     # last trade 100
    ex.buy(60, 2, stop=usd(150), type=STOP, user=3)
    _ladder(ex, [110, 120, 130, 140, 150, 200])
    return [ex.buy(70 + n, 1, type=MARKET, user=4) for n in range(5)]


def test_unprotected_market_orders_walk_the_price_and_a_stop_fills_at_the_band_top(engine):
    ex = Exchange(_symbols(), implementation=engine)
    walked = _walk_then_stop(ex)
    assert [_trade_prices(events) for events in walked[:4]] == [[usd(110)], [usd(120)],
                                                                [usd(130)], [usd(140)]]
    # The fifth prints 150 and triggers the stop, which buys the only ask left: 200.
    assert _trade_prices(walked[4]) == [usd(150), usd(200)]


def test_a_protected_stop_fills_no_further_than_its_limit_from_the_trigger(engine):
    ex = Exchange(_symbols(protection_ticks=1000), implementation=engine)     # 10.00
    walked = _walk_then_stop(ex)
    # Each 1-lot market order may go 10.00 past the last print: the walk goes on, one
    # level at a time (protection bounds each order, not a run of them) ...
    assert [_trade_prices(events) for events in walked] == [
        [usd(110)], [usd(120)], [usd(130)], [usd(140)], [usd(150)]]
    # ... but the stop the 150 print triggers may buy up to 160: the ask at 200 stays,
    # and the stop's 2 shares are cancelled with PROTECTION.
    assert _cancels(walked[4]) == [(60, 2, CancelReason.PROTECTION)]
    assert [price for price, _ in ex.queue(SELL)] == [usd(200)]


def test_protection_is_read_from_the_symbols_in_the_config():
    config = parse_config('[[symbols]]\nid = 1\nname = "GATE"\nprotection_ticks = 50\n'
                          'protection_percent = 5\n')
    assert (config.symbols[0].protection_ticks, config.symbols[0].protection_percent) == (50, 5)
    with pytest.raises(ConfigError, match="protection"):
        parse_config('[[symbols]]\nid = 1\nname = "GATE"\nprotection_percent = 101\n')
    with pytest.raises(ValueError, match="protection"):
        SymbolSpec(1, "GATE", protection_ticks=-1)
