"""Every implementation of the engine's interface, for suites that run against each one.

As exchange-core runs one base test class against each order book, the exact-event
scenarios take an `engine` fixture parametrized over these: the golden
`MatchingEngine`, and `HybridExchange` (the host plus matcher lanes) with each lane
backend that runs in-process: the Amaranth simulation always, the compiled Verilator
harness when it is already built and current (building it takes half a minute: the
long suite's tests/test_hybrid_long.py does). Commands the hybrid host keeps to
itself (mass cancels, admin, stops) still run there and must give the same events.

The golden engine itself comes in two builds of one source (host/compiled.py): compiled
by Cython ("golden", whenever it is built and current) and its Python source
("golden-pure", loaded beside it). The `engine` fixture runs both; `golden_build` makes
`engine_fixtures.Exchange()` drive each in turn, for suites that build their own.
"""

from dataclasses import dataclass
from typing import Callable

import pytest

import engine_fixtures
from gatebook.host import compiled
from gatebook.host import engine as loaded_engine
from gatebook.host.engine import MatchingEngine
from gatebook.host.hybrid import HybridExchange
from gatebook.sim.hybrid.amaranth_link import AmaranthLink

__all__ = ["Implementation", "IMPLEMENTATIONS", "GOLDEN", "GOLDEN_PURE", "PureMatchingEngine",
           "compiled_skip", "engine", "golden_build"]

LANE_HOMES = (1,)           # GATE gets a lane (each costs ~0.8 s to elaborate); others stay on the host
LANE_DEPTH = 4              # a small window, so scenarios also cross it and punt
STALL = 0.25                # random valid/ready stalls on every lane


@dataclass(frozen=True)
class Implementation:
    """One implementation of the engine's interface: `apply(command) -> events` plus books.

    Parameters
    ----------
    name : str
        The test id.
    make : callable
        ``make(symbols, stp) -> engine`` with ``apply``, ``subscribe``, ``state_hash``
        and ``close``.
    books : callable
        ``books(engine) -> {symbol: OrderBook}``, the state every window included.
    """

    name: str
    make: Callable
    books: Callable


#: The engine loaded from its Python source, beside the (normally compiled) MatchingEngine.
PureMatchingEngine = compiled.load_pure("engine").MatchingEngine


def compiled_skip():
    """Why the compiled engine is not what `gatebook.host.engine` loaded, or None."""
    if not compiled.is_compiled(loaded_engine):
        return f"the compiled engine is not loaded ({compiled.engine_build()})"
    return None


class _Golden:
    engine_class = MatchingEngine

    def __init__(self, symbols, stp):
        self.engine = self.engine_class(symbols, self_trade_prevention=stp)
        self.apply = self.engine.apply
        self.subscribe = self.engine.subscribe
        self.state_hash = self.engine.state_hash

    def close(self):
        pass


def _hybrid(make_link):
    def make(symbols, stp):
        if stp:
            # The lanes have no self-trade prevention, and HybridExchange does not refuse
            # an engine that has it: it would trade where the golden engine cancels.
            pytest.skip("HybridExchange has no self-trade prevention (its lanes match "
                        "same-user orders)")
        links = [make_link(LANE_DEPTH, seed) for seed, _ in enumerate(LANE_HOMES)]
        return HybridExchange(symbols, links, LANE_HOMES, window=1)
    return make


def _hybrid_books(hybrid):
    hybrid.reclaim()            # the lanes' windows back into the host's books, then read them
    return hybrid.engine.books


def _verilator_link(depth, seed):
    from gatebook.sim.hybrid.verilator_link import VerilatorLink
    return VerilatorLink(depth, stall=STALL, seed=seed)


def _verilator_skip():
    """Why the Verilator lane cannot run here without a build, or None when it can."""
    from gatebook.sim.hybrid import verilator_link
    if not verilator_link.verilator_available():
        return "Verilator or a C++ compiler is not installed"
    # Building the harness takes half a minute; the default suite only uses one the
    # build cache already holds for the current gateware source.
    if verilator_link.built_harness(LANE_DEPTH) is None:
        return f"no current d{LANE_DEPTH} Verilator harness in the build cache " \
               "(pytest --run-long tests/test_hybrid_long.py builds it)"
    return None


class _GoldenPure(_Golden):
    engine_class = PureMatchingEngine


GOLDEN = Implementation("golden", _Golden, lambda golden: golden.engine.books)
GOLDEN_PURE = Implementation("golden-pure", _GoldenPure, lambda golden: golden.engine.books)
AMARANTH = Implementation(
    "hybrid-amaranth",
    _hybrid(lambda depth, seed: AmaranthLink(depth, stall=STALL, seed=seed)),
    _hybrid_books)
VERILATOR = Implementation("hybrid-verilator", _hybrid(_verilator_link), _hybrid_books)
IMPLEMENTATIONS = (GOLDEN, GOLDEN_PURE, AMARANTH, VERILATOR)

_SKIPS = {}                 # implementation name -> skip reason, decided once per session


@pytest.fixture(params=IMPLEMENTATIONS, ids=lambda implementation: implementation.name)
def engine(request):
    """Each implementation in turn, as an `Implementation`; whatever it made is closed after."""
    implementation = request.param
    if implementation is GOLDEN and compiled_skip():
        pytest.skip(compiled_skip())
    if implementation is VERILATOR:
        if "verilator" not in _SKIPS:
            _SKIPS["verilator"] = _verilator_skip()
        if _SKIPS["verilator"]:
            pytest.skip(_SKIPS["verilator"])
    made = []

    def make(symbols, stp):
        instance = implementation.make(symbols, stp)
        made.append(instance)
        return instance
    yield Implementation(implementation.name, make, implementation.books)
    for instance in made:
        instance.close()


@pytest.fixture(scope="module", params=("compiled", "pure"))
def golden_build(request):
    """`engine_fixtures.Exchange()` drives the compiled engine, then its Python source.

    Module-scoped (hypothesis refuses function-scoped fixtures): each module's tests run
    on one build, then all again on the other.
    """
    if request.param == "compiled" and compiled_skip():
        pytest.skip(compiled_skip())
    chosen = MatchingEngine if request.param == "compiled" else PureMatchingEngine
    saved = engine_fixtures.MatchingEngine
    engine_fixtures.MatchingEngine = chosen
    yield chosen
    engine_fixtures.MatchingEngine = saved
