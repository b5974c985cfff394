"""Seeded synthetic order flows: the demo's traffic and the benchmark's standard flow.

The flow is a list of stamped command tuples, made before the engine runs so
that generating it costs the measured engine nothing. Each symbol's mid price
takes a slow random walk; most orders rest a few ticks from the mid, building
deep queues near the touch; some cross the spread. Cancels and replaces pick
recently entered orders that are still live, found by running a shadow copy
of the engine while generating; a small share (`late_cancel`) deliberately
targets orders already gone, as real cancels racing a fill do.

STANDARD_MIX is the benchmark's documented mix (docs/benchmarks.md).
"""

import random
from dataclasses import dataclass, field

from gatebook.wire.enums import MassCancelScope, OrderType, Side, TimeInForce

from .clock import ManualClock
from .engine import MatchingEngine
from .sequencer import Sequencer
from .symbols import DEFAULT_SYMBOLS

__all__ = ["FlowMix", "STANDARD_MIX", "generate_flow"]


@dataclass(frozen=True)
class FlowMix:
    """Probabilities of each kind of command; they need not sum to one."""

    # About one order in ten takes liquidity; cancels run a little behind
    # adds, so the book keeps deepening through the run (docs/benchmarks.md
    # gives the depth the standard flow ends with).
    passive_limit: float = 0.52     # rests 1..depth_ticks ticks from the mid
    marketable_limit: float = 0.06  # crosses the spread by 0..2 ticks
    market: float = 0.01
    ioc: float = 0.02
    fok: float = 0.01
    stop: float = 0.01              # stop and stop-limit, half each
    cancel: float = 0.28
    replace: float = 0.09           # half keep priority (size down), half move price
    depth_ticks: int = 20           # passive orders rest within this many ticks of the mid
    mid_step: float = 0.04          # chance per order that the mid moves one tick
    users: int = 200
    max_lots: int = 10              # order size is 1..max_lots lots of 100 shares
    day_fraction: float = 0.5       # share of resting orders that are DAY (rest are GTC)
    late_cancel: float = 0.02       # share of cancels and replaces aimed at orders already gone
    mass_cancel_every: int = 0      # 0: none; else one mass cancel per this many commands
    symbols: tuple = field(default_factory=lambda: tuple(s.symbol_id for s in DEFAULT_SYMBOLS[:3]))


STANDARD_MIX = FlowMix()


def generate_flow(count, seed=1, mix=STANDARD_MIX, specs=DEFAULT_SYMBOLS, clock=None,
                  first_order_id=1, progress=None):
    """`count` stamped commands, the same ones for the same arguments.

    `progress(done, total)`, if given, is called every 50,000 commands.
    """
    rng = random.Random(seed)
    sequencer = Sequencer(clock or ManualClock(start=1_700_000_000_000_000_000, step=250))
    by_id = {spec.symbol_id: spec for spec in specs}
    symbols = [by_id[symbol] for symbol in mix.symbols]
    mids = {spec.symbol_id: _start_mid(spec) for spec in symbols}
    recent = []                     # (order_id, user, symbol, price) of resting-style orders
    next_id = first_order_id
    kinds, weights = zip(*[
        ("passive", mix.passive_limit), ("marketable", mix.marketable_limit),
        ("market", mix.market), ("ioc", mix.ioc), ("fok", mix.fok), ("stop", mix.stop),
        ("cancel", mix.cancel), ("replace", mix.replace)])
    choose = rng.choices
    shadow = MatchingEngine(specs)
    live = shadow.orders
    commands = []
    applied = 0
    while len(commands) < count:
        while applied < len(commands):
            shadow.apply(commands[applied])
            applied += 1
            if progress and applied % 50_000 == 0:
                progress(applied, count)
        index = len(commands)
        if mix.mass_cancel_every and index and index % mix.mass_cancel_every == 0:
            spec = rng.choice(symbols)
            commands.append(sequencer.mass_cancel(int(MassCancelScope.USER_SYMBOL),
                                                  rng.randrange(1, mix.users + 1), spec.symbol_id))
            continue
        kind = choose(kinds, weights)[0]
        if kind in ("cancel", "replace") and recent:
            stale_ok = rng.random() < mix.late_cancel
            for _ in range(50):
                slot = rng.randrange(max(0, len(recent) - 5000), len(recent))
                order_id, user, symbol, price = recent[slot]
                recent[slot] = recent[-1]
                recent.pop()
                if stale_ok or order_id in live or not recent:
                    break
            else:
                continue
            if kind == "cancel":
                commands.append(sequencer.cancel(order_id, user))
            else:
                spec = by_id[symbol]
                qty = rng.randint(1, mix.max_lots) * 100 * spec.lot_size
                if rng.random() < 0.5:
                    new_price = price
                else:
                    new_price = _clamp(spec, price + rng.choice((-1, 1)) * spec.tick_size)
                commands.append(sequencer.replace(order_id, user, new_price, qty))
                recent.append((order_id, user, symbol, new_price))
            continue
        spec = rng.choice(symbols)
        symbol = spec.symbol_id
        tick = spec.tick_size
        mid = mids[symbol]
        if rng.random() < mix.mid_step:
            mid = mids[symbol] = _clamp(spec, mid + rng.choice((-tick, tick)))
        side = rng.randrange(2)
        sign = 1 if side == Side.BUY else -1
        user = rng.randrange(1, mix.users + 1)
        qty = rng.randint(1, mix.max_lots) * 100 * spec.lot_size
        order_id = next_id
        next_id += 1
        stop_price = 0
        if kind == "passive":
            price = _clamp(spec, mid - sign * tick * (1 + int(rng.expovariate(0.25)) % mix.depth_ticks))
            order_type = OrderType.LIMIT
            tif = TimeInForce.DAY if rng.random() < mix.day_fraction else TimeInForce.GTC
            recent.append((order_id, user, symbol, price))
        elif kind in ("marketable", "ioc", "fok"):
            price = _clamp(spec, mid + sign * tick * rng.randint(0, 2))
            order_type = OrderType.LIMIT
            tif = {"marketable": TimeInForce.GTC, "ioc": TimeInForce.IOC, "fok": TimeInForce.FOK}[kind]
            if kind == "marketable":
                recent.append((order_id, user, symbol, price))
        elif kind == "market":
            price, order_type, tif = 0, OrderType.MARKET, TimeInForce.IOC
        else:
            stop_price = _clamp(spec, mid + sign * tick * rng.randint(2, 6))
            if rng.random() < 0.5:
                price, order_type = 0, OrderType.STOP
            else:
                price, order_type = _clamp(spec, stop_price + sign * tick * 2), OrderType.STOP_LIMIT
            tif = TimeInForce.GTC
        commands.append(sequencer.new_order(symbol, order_id, user, side, int(order_type),
                                            int(tif), price, qty, stop_price))
    return commands


def _start_mid(spec):
    middle = (spec.price_min + spec.price_max) // 2
    return middle - middle % spec.tick_size


def _clamp(spec, price):
    low = -(-spec.price_min // spec.tick_size) * spec.tick_size
    high = spec.price_max // spec.tick_size * spec.tick_size
    return min(max(price, low), high)
