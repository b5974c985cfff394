"""A hot flow over several symbols at once: each symbol's `hot_flow`, interleaved.

Each symbol gets its own `gatebook.sim.hybrid.hot_flow.hot_flow` (quotes at the touch,
requotes, takers, size-down replaces); the flows are interleaved at random (seeded) and
numbered again as one sequencer would: seq and ts in the merged order, order ids
exchange-wide (each symbol's ids mapped to fresh ones, cancels and replaces with them).
"""

import random

from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.wire import internal
from gatebook.wire.positions import CODE, INTERNAL

from ..hybrid.hot_flow import HOT_MIX, hot_flow

__all__ = ["multi_hot_flow"]

_ORDER_ID_AT = {internal.NEW_ORDER.code: INTERNAL.NEW_ORDER.order_id,
                internal.CANCEL.code: INTERNAL.CANCEL.order_id,
                internal.REPLACE.code: INTERNAL.REPLACE.order_id}
_SEQ, _TS = INTERNAL.NEW_ORDER.seq, INTERNAL.NEW_ORDER.ts
assert all(getattr(INTERNAL, m.name.upper()).seq == _SEQ and getattr(INTERNAL, m.name.upper()).ts
           == _TS for m in internal.COMMANDS.messages), "seq and ts moved in a table"


def multi_hot_flow(seed, count, symbols, *, mix=HOT_MIX, specs=DEFAULT_SYMBOLS):
    """`count` sequenced commands over `symbols`, the same ones for the same arguments.

    Parameters
    ----------
    seed : int
    count : int
        Commands in all (about `count / len(symbols)` per symbol).
    symbols : sequence of int
        Listed symbol ids.
    mix : HotMix
        Each symbol's flow's shares.
    """
    rng = random.Random(seed)
    share = -(-count // len(symbols))
    pending = {symbol: list(reversed(hot_flow(seed * 1000 + symbol, share, mix=mix,
                                              symbol=symbol, specs=specs)))
               for symbol in symbols}
    ids = {symbol: {} for symbol in symbols}        # symbol -> its flow's id -> exchange id
    merged = []
    next_id = 1
    while len(merged) < count:
        symbol = rng.choice([s for s in symbols if pending[s]])
        command = list(pending[symbol].pop())
        seq = len(merged) + 1
        command[_SEQ], command[_TS] = seq, 1_000_000 + 10 * seq
        at = _ORDER_ID_AT[command[CODE]]
        mapped = ids[symbol]
        if command[CODE] == internal.NEW_ORDER.code:
            mapped[command[at]] = next_id
            next_id += 1
        command[at] = mapped[command[at]]
        merged.append(tuple(command))
    return merged
