"""The circuit breaker: a trade beyond a band around the reference price halts the symbol.

GATE trades in a band of 50.00..200.00 with a 10 % breaker: after a print at 100.00 no
trade may print above 110.00 or below 90.00 while the window lasts; the order that would
halts the symbol instead (its remainder cancelled with HALT, nothing printed beyond the
band). Every implementation of the `engine` fixture runs these (the golden engine,
compiled and from source, and the hybrid host, which keeps a breaker's symbol off its
lanes: a lane has no breaker).
"""

import pytest

from engine_fixtures import (FOK, GATE, SELL, STOP, AdminAction, CancelReason, Exchange,
                             RejectReason, usd)
from engine_implementations import engine  # noqa: F401 (the fixture, used by name)
from test_protection import _cancels, _trade_prices
from gatebook.host.config import ConfigError, parse_config
from gatebook.host.marketdata.itch_feed import ItchFeed
from gatebook.host.symbols import DEFAULT_SYMBOLS, SymbolSpec
from gatebook.wire import internal as W
from gatebook.wire import itch50
from gatebook.wire.positions import CODE, INTERNAL
from gatebook.wire.records import make

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
START = 1_700_000_000_000_000_000


def _symbols(**breaker):
    band = SymbolSpec(GATE, "GATE", tick_size=100, price_min=usd(50), price_max=usd(200),
                      **breaker)
    return (band,) + DEFAULT_SYMBOLS[1:]


class Clocked(Exchange):
    """An `Exchange` whose commands carry `now` (advanced 1 µs a command) as their ts."""

    now = START

    def stamp(self, message, **fields):
        seq = self.next_seq
        self.next_seq += 1
        self.now += 1000
        return make(message, seq=seq, ts=self.now, **fields)


def _breaker(engine, percent=10, pause=0):
    return Clocked(_symbols(breaker_percent=percent, breaker_window_ns=5 * MINUTE,
                            breaker_pause_ns=pause), implementation=engine)


def _states(events):
    return [(event[INTERNAL.TRADING_STATE.symbol], event[INTERNAL.TRADING_STATE.halted])
            for event in events if event[CODE] == W.TRADING_STATE.code]


def _rejects(events):
    return [RejectReason(event[INTERNAL.REJECTED.reason])
            for event in events if event[CODE] == W.REJECTED.code]


def _print_at(ex, price):
    """One share traded at `price` (dollars) between users 8 and 9."""
    ex.sell(900 + ex.next_seq, 1, usd(price), user=9)
    assert _trade_prices(ex.buy(900 + ex.next_seq, 1, usd(price), user=8)) == [usd(price)]


def _ladder(ex, prices, first_id=100):
    for offset, price in enumerate(prices):
        ex.sell(first_id + offset, 1, usd(price), user=9)


def _trip(ex):
    """Print 100, offer 105, 108 and 115; a buy of 3 at 120 trips the breaker. Its events."""
    _print_at(ex, 100)
    _ladder(ex, [105, 108, 115])
    return ex.buy(1, 3, usd(120))


def test_without_a_breaker_the_buy_trades_through_the_band(engine):
    ex = Clocked(_symbols(), implementation=engine)
    events = _trip(ex)
    assert _trade_prices(events) == [usd(105), usd(108), usd(115)]
    assert _states(events) == []


def test_a_trade_beyond_the_band_halts_the_symbol_instead(engine):
    ex = _breaker(engine)
    events = _trip(ex)
    # 105 and 108 are inside 100 +- 10 %; 115 is not: it does not print, the symbol halts
    # and the buy's last share is cancelled.
    assert _trade_prices(events) == [usd(105), usd(108)]
    assert _states(events) == [(GATE, 1)]
    assert _cancels(events) == [(1, 1, CancelReason.HALT)]
    assert [price for price, _ in ex.queue(SELL)] == [usd(115)]
    # Halted: new orders and replaces are refused with the admin halt's reason, cancels work.
    assert _rejects(ex.buy(2, 1, usd(100))) == [RejectReason.SYMBOL_HALTED]
    assert _rejects(ex.replace(102, usd(116), 1)) == [RejectReason.SYMBOL_HALTED]
    assert _cancels(ex.cancel(102)) == [(102, 1, CancelReason.USER)]
    # Another symbol trades on.
    assert _rejects(ex.buy(3, 1, usd(100), symbol=2)) == []


def test_a_sell_below_the_band_and_a_fok_beyond_it_trip_too(engine):
    ex = _breaker(engine)
    _print_at(ex, 100)
    ex.buy(10, 1, usd(95), user=8)
    ex.buy(11, 1, usd(85), user=8)
    events = ex.sell(1, 2, usd(80))
    assert _trade_prices(events) == [usd(95)]
    assert (_states(events), _cancels(events)) == ([(GATE, 1)], [(1, 1, CancelReason.HALT)])

    ex = _breaker(engine)
    _print_at(ex, 100)
    _ladder(ex, [105, 108, 115])
    events = ex.buy(1, 3, usd(120), tif=FOK)       # fillable only through 115: no fill at all
    assert _trade_prices(events) == []
    assert (_states(events), _cancels(events)) == ([(GATE, 1)], [(1, 3, CancelReason.HALT)])


def test_stops_the_tripping_order_triggered_are_cancelled_in_the_halt(engine):
    ex = _breaker(engine)
    _print_at(ex, 100)
    ex.buy(60, 1, stop=usd(106), type=STOP, user=3)
    _ladder(ex, [106, 115])
    events = ex.buy(1, 2, usd(120))
    # 106 prints and triggers the stop; 115 would be beyond the band: the halt comes first,
    # then the triggered stop is cancelled rather than traded in it.
    assert _trade_prices(events) == [usd(106)]
    assert [event[CODE] for event in events].count(W.STOP_TRIGGERED.code) == 1
    assert _cancels(events) == [(1, 1, CancelReason.HALT), (60, 1, CancelReason.HALT)]
    assert _states(events) == [(GATE, 1)]


def test_a_replace_through_the_band_trips_it(engine):
    ex = _breaker(engine)
    _print_at(ex, 100)
    ex.sell(100, 1, usd(115), user=9)
    ex.buy(1, 5, usd(100))
    events = ex.replace(1, usd(120), 5)
    assert _trade_prices(events) == []
    assert (_states(events), _cancels(events)) == ([(GATE, 1)], [(1, 5, CancelReason.HALT)])
    assert ex.queue(SELL) and not ex.queue(0)


def test_the_halt_is_an_itch_stock_trading_action(engine):
    ex = _breaker(engine)
    records = []
    ex.engine.subscribe(ItchFeed(_symbols(), records.extend))
    _trip(ex)
    ex.admin(AdminAction.RESUME, GATE)
    state = 1 + itch50.STOCK_TRADING_ACTION.field_names.index("trading_state")
    locate = 1 + itch50.STOCK_TRADING_ACTION.field_names.index("stock_locate")
    actions = [(record[locate], record[state]) for record in records
               if record[CODE] == itch50.STOCK_TRADING_ACTION.code]
    assert actions == [(GATE, "H"), (GATE, "T")]


def test_an_admin_resume_reopens_under_a_new_window_from_the_last_trade(engine):
    ex = _breaker(engine)
    _trip(ex)
    assert _states(ex.admin(AdminAction.RESUME, GATE)) == [(GATE, 0)]
    # The new window's reference is the last print, 108: up to 118.80 may trade, so 115 does.
    events = ex.buy(2, 1, usd(120))
    assert (_trade_prices(events), _states(events)) == ([usd(115)], [])


def test_with_no_pause_the_halt_lasts_until_an_admin_resume(engine):
    ex = _breaker(engine)
    _trip(ex)
    ex.now += 60 * MINUTE
    assert _rejects(ex.buy(2, 1, usd(100))) == [RejectReason.SYMBOL_HALTED]


def test_a_paused_halt_lifts_at_the_first_order_past_the_pause(engine):
    ex = _breaker(engine, pause=30 * SECOND)
    _trip(ex)
    tripped_at = ex.now
    ex.now = tripped_at + 30 * SECOND - 2000       # the next command lands 1 µs short
    assert _rejects(ex.buy(2, 1, usd(100))) == [RejectReason.SYMBOL_HALTED]
    ex.now = tripped_at + 30 * SECOND - 1000       # exactly at the pause's end
    events = ex.buy(3, 1, usd(120))
    # The resume comes first, under this command's stamp; the order then trades as usual.
    assert events[0][CODE] == W.TRADING_STATE.code and _states(events) == [(GATE, 0)]
    assert _trade_prices(events) == [usd(115)]      # 108 + 10 %: up to 118.80


def test_a_command_rejected_as_the_pause_ends_is_still_counted_by_its_reason(engine):
    ex = _breaker(engine, pause=30 * SECOND)
    _trip(ex)
    ex.now += 30 * SECOND
    events = ex.buy(2, 0, usd(100))
    assert _states(events) == [(GATE, 0)]
    assert _rejects(events) == [RejectReason.INVALID_QUANTITY]
    golden = ex.engine.engine           # the golden engine inside either wrapper
    assert golden.rejects == {int(RejectReason.INVALID_QUANTITY): 1}


def test_an_admin_halt_during_a_pause_lasts_until_an_admin_resume(engine):
    ex = _breaker(engine, pause=30 * SECOND)
    _trip(ex)
    ex.admin(AdminAction.HALT, GATE)
    ex.now += MINUTE
    assert _rejects(ex.buy(2, 1, usd(100))) == [RejectReason.SYMBOL_HALTED]


def test_the_window_rolls_and_its_reference_moves_to_the_last_trade(engine):
    # In one window the reference stays: 100 -> 109 -> 115 trips (115 is 15 % from 100).
    ex = _breaker(engine)
    _print_at(ex, 100)
    _print_at(ex, 109)          # opens the window, reference 100
    ex.now += 5 * MINUTE - 10_000
    ex.sell(1, 1, usd(115), user=9)
    assert _states(ex.buy(2, 1, usd(115), user=8)) == [(GATE, 1)]
    # Once the window has ended the next one opens from the last trade, 109: 115 prints.
    ex = _breaker(engine)
    _print_at(ex, 100)
    _print_at(ex, 109)
    ex.now += 5 * MINUTE
    ex.sell(1, 1, usd(115), user=9)
    events = ex.buy(2, 1, usd(115), user=8)
    assert (_trade_prices(events), _states(events)) == ([usd(115)], [])


def test_the_breaker_is_read_from_the_symbols_in_the_config():
    config = parse_config('[[symbols]]\nid = 1\nname = "GATE"\nbreaker_percent = 10\n'
                          'breaker_window_ns = 300000000000\nbreaker_pause_ns = 5000000000\n')
    spec = config.symbols[0]
    assert (spec.breaker_percent, spec.breaker_window_ns, spec.breaker_pause_ns) == \
        (10, 300 * SECOND, 5 * SECOND)
    with pytest.raises(ConfigError, match="breaker"):
        parse_config('[[symbols]]\nid = 1\nname = "GATE"\nbreaker_percent = 101\n')
    with pytest.raises(ConfigError, match="breaker"):
        parse_config('[[symbols]]\nid = 1\nname = "GATE"\nbreaker_window_ns = 0\n')
    with pytest.raises(ValueError, match="breaker"):
        SymbolSpec(1, "GATE", breaker_pause_ns=-1)
    assert SymbolSpec(1, "GATE").breaker_percent == 0       # off unless configured
