"""The hybrid host's two builds of one source (host/hybrid/loading.py): the Cython-compiled
exchange and exchange.py run as Python give the same events, command for command, the same
state hash and the same counters, on seeded hot and adversarial flows (two lanes, random
reloads, garbage fields), each against lanes on Amaranth's simulator with the same stalls;
and both give the golden engine's events. The compiled front end and frontend.py decide the
same for every command of those flows. The equivalence tests (tests/test_hybrid_*.py) run
whichever build loads; ``GATEBOOK_PURE_PYTHON=1`` runs them on the source."""

import pytest

from gatebook.host import compiled
from gatebook.host.engine import MatchingEngine
from gatebook.host.hybrid import RandomReload, exchange, frontend
from gatebook.host.hybrid.loading import exchange_build, load_pure
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.sim.flows import OTHER, SYMBOL, hybrid_flow
from gatebook.sim.hybrid.amaranth_link import AmaranthLink
from gatebook.sim.hybrid.hot_flow import hot_flow
from test_hybrid_equivalence import garbled

PURE = load_pure("exchange")
PURE_FRONTEND = load_pure("frontend")


def _run(module, commands, depths, homes, window, policy_seed, stall_seed):
    links = [AmaranthLink(depth, stall=0.25, seed=stall_seed + index)
             for index, depth in enumerate(depths)]
    policy = None if policy_seed is None else RandomReload(policy_seed, p=0.3)
    hybrid = module.HybridExchange(DEFAULT_SYMBOLS, links, homes, window=window, policy=policy)
    got = []
    hybrid.subscribe(got.append)
    hashes = []
    try:
        for start in range(0, len(commands), 250):
            hybrid.run(commands[start:start + 250])
            hashes.append(hybrid.state_hash())
    finally:
        hybrid.close()
    counters = (hybrid.lane_commands, hybrid.host_kept, hybrid.evictions, dict(hybrid.punts),
                [(lane.loads, lane.handovers) for lane in hybrid.lanes])
    return got, hashes, counters


FLOWS = {
    "hot": (lambda: hot_flow(3, 600), [16], [SYMBOL], 16, None),
    "two lanes": (lambda: hybrid_flow(1, 300), [8, 16], [SYMBOL, OTHER], 4, None),
    "random reloads": (lambda: hybrid_flow(11, 400, symbols=(3,)), [4], [3], 8, 1),
    "garbage fields": (lambda: garbled(hybrid_flow(4, 400), 4), [4, 8], [SYMBOL, OTHER], 4,
                       None),
}


@pytest.mark.skipif(not compiled.is_compiled(exchange),
                    reason=f"the exchange loaded is not compiled ({exchange_build()})")
@pytest.mark.parametrize("name", sorted(FLOWS))
def test_the_compiled_exchange_is_the_source_exchange(name):
    make, depths, homes, window, policy_seed = FLOWS[name]
    assert PURE.HybridExchange is not exchange.HybridExchange and not compiled.is_compiled(PURE)
    commands = make()
    fast, slow = (_run(module, commands, depths, homes, window, policy_seed, 7)
                  for module in (exchange, PURE))
    golden = MatchingEngine(DEFAULT_SYMBOLS)
    want = [golden.apply(command) for command in commands]
    for number, (compiled_events, source_events) in enumerate(zip(fast[0], slow[0])):
        assert compiled_events == source_events, (number, commands[number])
        assert compiled_events == want[number], (number, commands[number])
    assert len(fast[0]) == len(slow[0]) == len(commands)
    assert fast[1] == slow[1] and fast[1][-1] == golden.state_hash()
    assert fast[2] == slow[2]
    assert fast[2][0], "the lanes must take part"


@pytest.mark.skipif(not compiled.is_compiled(frontend),
                    reason=f"the front end loaded is not compiled ({exchange_build('frontend')})")
@pytest.mark.parametrize("name", sorted(FLOWS))
def test_the_compiled_front_end_is_the_source_front_end(name):
    assert PURE_FRONTEND.FrontEnd is not frontend.FrontEnd
    fronts = [module.FrontEnd(DEFAULT_SYMBOLS) for module in (frontend, PURE_FRONTEND)]
    for number, command in enumerate(FLOWS[name][0]()):
        fast, slow = (front.advance(command) for front in fronts)
        assert fast == slow, (number, command)
    assert fronts[0].order_symbol == fronts[1].order_symbol and fronts[0].order_symbol
    assert fronts[0].halted == fronts[1].halted
