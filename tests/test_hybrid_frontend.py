"""host/hybrid's front end predicts the golden engine's validation exactly.

The lane matches only orders the front end let through, so a wrong
prediction would be a wrong fill; this checks every new order of long
adversarial flows (every validation rule, halts, kills, duplicates) against
the engine directly, with no simulator in the loop.
"""

import dataclasses

import pytest

from gatebook.wire import internal
from gatebook.wire.enums import RejectReason, Side
from gatebook.host.engine import MatchingEngine
from gatebook.host.hybrid.frontend import FrontEnd
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.sim.flows import hybrid_flow, random_flow

# Every default symbol with limits that bite: 40 shares an order, and a notional a little
# above 20 shares at the band's middle.
LIMITED = tuple(dataclasses.replace(s, max_order_qty=40 * s.lot_size,
                                    max_notional=20 * s.lot_size * (s.price_min + s.price_max) // 2)
                for s in DEFAULT_SYMBOLS)


def _ill_typed(commands):
    """Every 50th new order made wrong in one field, the way a buggy front end might."""
    wrong = {5: (-1, 1 << 32, 7.0), 6: (True, 2, 1.0, Side.SELL), 7: (True, 4, 0.0), 8: (True, 4),
             9: ("100", 1.5), 10: (1.0, -1), 11: (2.0, 1 << 32), 3: (1.0, "GATE"),
             1: (-1, 1 << 64, 3.0, True), 2: (-1, None)}
    out = []
    for number, command in enumerate(commands):
        if command[0] == internal.NEW_ORDER.code and number % 50 == 0:
            field = list(wrong)[number // 50 % len(wrong)]
            values = wrong[field]
            command = command[:field] + (values[number // 400 % len(values)],) + command[field + 1:]
        out.append(command)
    return out


@pytest.mark.parametrize("commands, symbols", [
    (hybrid_flow(5, 20_000), DEFAULT_SYMBOLS),
    (hybrid_flow(6, 5000, symbols=(4, 5), mid=5000), DEFAULT_SYMBOLS),
    (random_flow(7, 5000), DEFAULT_SYMBOLS),
    (_ill_typed(hybrid_flow(8, 20_000)), DEFAULT_SYMBOLS),
    (_ill_typed(hybrid_flow(9, 10_000)), LIMITED),
], ids=["three", "odd_specs", "random", "ill_typed", "limited"])
def test_validation_matches_the_engine(commands, symbols):
    engine, front = MatchingEngine(symbols), FrontEnd(symbols)
    rejected = accepted = 0
    reasons = set()
    for command in commands:
        events = engine.apply(command)
        predicted = front.advance(command)
        if command[0] == internal.NEW_ORDER.code:
            actual = events[0][0] != internal.REJECTED.code
            assert predicted == actual, (command, events[0])
            reasons.add(0 if actual else events[0][7])
            accepted += actual
            rejected += not actual
        elif command[0] == internal.REPLACE.code and command[3] in front.order_symbol:
            reason = events[0][7] if events[0][0] == internal.REJECTED.code else 0
            if front.replace_checks_fail(command):
                assert reason, (command, events)
    assert accepted > 50 and rejected > 100
    if symbols is LIMITED:
        assert {RejectReason.QUANTITY_ABOVE_LIMIT, RejectReason.NOTIONAL_ABOVE_LIMIT,
                RejectReason.INVALID_STAMP} <= reasons


def test_a_rejected_admin_command_changes_no_halt():
    """A float or bool action equals a real one (0.0 == HALT); the engine refuses it, and so
    must the front end's halt tracking, or it would reject every order that follows."""
    from gatebook.sim.flows import SYMBOL, Flow, cents
    f = Flow()
    for action in (0.0, True, False):
        f.commands.append((internal.ADMIN.code, f.seq, 0, action, SYMBOL))
        f.seq += 1
    f.commands.append((internal.ADMIN.code, f.seq, 0, 0, float(SYMBOL)))
    f.commands.append((internal.ADMIN.code, -1, 0, 0, SYMBOL))
    f.seq += 1
    f.order(Side.BUY, cents(10000), 10)
    engine, front = MatchingEngine(DEFAULT_SYMBOLS), FrontEnd(DEFAULT_SYMBOLS)
    for command in f.commands:
        events = engine.apply(command)
        predicted = front.advance(command)
    assert events[0][0] == internal.ACCEPTED.code and predicted is True
    assert front.halted[SYMBOL] is False


def test_a_hybrid_host_with_lanes_refuses_self_trade_prevention():
    # The lanes do not implement STP: with it on, a lane would trade what the
    # golden engine cancels, so the two would no longer be equal.
    from gatebook.host.hybrid.exchange import HybridExchange
    from gatebook.sim.hybrid.amaranth_link import AmaranthLink
    engine = MatchingEngine(DEFAULT_SYMBOLS, self_trade_prevention=True)
    link = AmaranthLink(4)
    try:
        with pytest.raises(ValueError, match="self-trade prevention is not in the matching lanes"):
            HybridExchange(DEFAULT_SYMBOLS, [link], [DEFAULT_SYMBOLS[0].symbol_id], engine=engine)
    finally:
        link.close()
    HybridExchange(DEFAULT_SYMBOLS, [], [], engine=engine)          # no lanes: the engine alone
