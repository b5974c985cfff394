"""host/hybrid's front end predicts the golden engine's validation exactly.

The lane matches only orders the front end let through, so a wrong
prediction would be a wrong fill; this checks every new order of long
adversarial flows (every validation rule, halts, kills, duplicates) against
the engine directly, with no simulator in the loop.
"""

import pytest

from gatebook.wire import internal
from host.engine import MatchingEngine
from host.hybrid.frontend import FrontEnd
from host.symbols import DEFAULT_SYMBOLS
from sim.flows import hybrid_flow, random_flow


def _ill_typed(commands):
    """Every 50th new order made wrong in one field, the way a buggy front end might."""
    wrong = {5: (-1, 1 << 32, 7.0), 6: (True, 2, 1.0), 7: (True, 4, 0.0), 8: (True, 4),
             9: ("100", 1.5), 10: (1.0, -1), 11: (2.0, 1 << 32), 3: (1.0, "GATE")}
    out = []
    for number, command in enumerate(commands):
        if command[0] == internal.NEW_ORDER.code and number % 50 == 0:
            field = list(wrong)[number // 50 % len(wrong)]
            values = wrong[field]
            command = command[:field] + (values[number // 400 % len(values)],) + command[field + 1:]
        out.append(command)
    return out


@pytest.mark.parametrize("commands", [hybrid_flow(5, 20_000), hybrid_flow(6, 5000, symbols=(4, 5), mid=5000),
                                      random_flow(7, 5000), _ill_typed(hybrid_flow(8, 20_000))],
                         ids=["three", "odd_specs", "random", "ill_typed"])
def test_validation_matches_the_engine(commands):
    engine, front = MatchingEngine(DEFAULT_SYMBOLS), FrontEnd(DEFAULT_SYMBOLS)
    rejected = accepted = 0
    for command in commands:
        events = engine.apply(command)
        predicted = front.advance(command)
        if command[0] == internal.NEW_ORDER.code:
            actual = events[0][0] != internal.REJECTED.code
            assert predicted == actual, (command, events[0])
            accepted += actual
            rejected += not actual
        elif command[0] == internal.REPLACE.code and command[3] in front.order_symbol:
            reason = events[0][7] if events[0][0] == internal.REJECTED.code else 0
            if front.replace_checks_fail(command):
                assert reason, (command, events)
    assert accepted > 50 and rejected > 100
