"""Seeded, unstamped command streams for the log's tests, drivers and benchmark.

The same seed always gives the same commands, so a test can rebuild the
reference state of a run that was killed half way by replaying the stream up
to the last sequence number the log holds. The mix exercises every record
the engine writes: resting and crossing limits, market orders, stops, cancels
and replaces of live and dead orders, and now and then a mass cancel.
"""

import random

from gatebook.wire import internal
from gatebook.wire.enums import MassCancelScope, OrderType, TimeInForce

from gatebook.host.clock import ManualClock
from gatebook.host.sequencer import Sequencer
from gatebook.host.symbols import DEFAULT_SYMBOLS

__all__ = ["seeded_commands", "stamped", "START_NS", "STEP_NS"]

START_NS = 1_700_000_000_000_000_000        # the ManualClock every seeded run uses
STEP_NS = 250

_NEW_ORDER, _CANCEL, _REPLACE = internal.NEW_ORDER.code, internal.CANCEL.code, internal.REPLACE.code
_MASS_CANCEL = internal.MASS_CANCEL.code
# The engine takes plain ints (it checks `type(x) is int`), not enum members.
_LIMIT, _MARKET, _STOP = int(OrderType.LIMIT), int(OrderType.MARKET), int(OrderType.STOP)
_DAY, _GTC, _IOC = int(TimeInForce.DAY), int(TimeInForce.GTC), int(TimeInForce.IOC)
_BY_USER = int(MassCancelScope.USER)


def seeded_commands(seed, count=None, symbols=DEFAULT_SYMBOLS[:3], first_order_id=1):
    """Yield (type code, fields...) tuples without seq and ts; endless when count is None."""
    rng = random.Random(seed)
    mids = {spec.symbol_id: (spec.price_min + spec.price_max) // 2 // spec.tick_size * spec.tick_size
            for spec in symbols}
    live = []                                   # (order_id, user, symbol) maybe still resting
    next_id = first_order_id
    produced = 0
    while count is None or produced < count:
        produced += 1
        roll = rng.random()
        spec = rng.choice(symbols)
        tick = spec.tick_size
        if roll < 0.25 and live:
            order_id, user, _ = live.pop(rng.randrange(len(live)))
            yield (_CANCEL, order_id, user)
            continue
        if roll < 0.33 and live:
            order_id, user, symbol = live[rng.randrange(len(live))]
            yield (_REPLACE, order_id, user, mids[symbol] + rng.randint(-5, 5) * tick,
                   rng.randint(1, 10) * 100)
            continue
        if 0.33 <= roll < 0.331:
            yield (_MASS_CANCEL, _BY_USER, rng.randint(1, 50), 0)
            continue
        if rng.random() < 0.05:
            mids[spec.symbol_id] += rng.choice((-tick, tick))
        mid = mids[spec.symbol_id]
        side = rng.randint(0, 1)
        away = 1 if side == 0 else -1           # passive orders rest below (buy) or above (sell)
        user = rng.randint(1, 50)
        qty = rng.randint(1, 10) * 100
        order_id, next_id = next_id, next_id + 1
        kind = rng.random()
        if kind < 0.80:
            price = mid - away * rng.randint(0, 10) * tick
            tif = _GTC if rng.random() < 0.5 else _DAY
            yield (_NEW_ORDER, spec.symbol_id, order_id, user, side, _LIMIT, tif,
                   price, 0, qty)
            live.append((order_id, user, spec.symbol_id))
            if len(live) > 5000:
                del live[:1000]
        elif kind < 0.95:
            price = mid + away * rng.randint(0, 3) * tick
            yield (_NEW_ORDER, spec.symbol_id, order_id, user, side, _LIMIT,
                   _IOC, price, 0, qty)
        elif kind < 0.98:
            yield (_NEW_ORDER, spec.symbol_id, order_id, user, side, _MARKET,
                   _IOC, 0, 0, qty)
        else:
            stop = mid + away * rng.randint(1, 5) * tick
            yield (_NEW_ORDER, spec.symbol_id, order_id, user, side, _STOP,
                   _DAY, 0, stop, qty)
            live.append((order_id, user, spec.symbol_id))


def stamped(commands, next_seq=1):
    """Stamp unstamped commands as a seeded run's sequencer does."""
    sequencer = Sequencer(ManualClock(START_NS, STEP_NS), next_seq)
    for command in commands:
        yield sequencer.stamp(*command)
