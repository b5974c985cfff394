"""The engine's rate with pre-trade risk on and off, on the standard flow.

    python -m gatebook.host.risk.bench [--orders N] [--runs R]

Both runs apply the same seeded commands (host/flow.py) to a fresh engine, one
through `RiskGate` with limits wide enough that every order passes (so both
engines do the same matching and the difference is the gate's own cost); the best
of R runs of each, interleaved, with the cyclic GC paused as `gatebook bench` does.
"""

import argparse
import time

from ..engine import MatchingEngine
from ..flow import generate_flow
from ..runtime import quiet_gc
from ..symbols import DEFAULT_SYMBOLS
from .gate import RiskGate
from .limits import AccountLimits

__all__ = ["measure", "main"]

_WIDE = AccountLimits(buying_power=1 << 62, max_position=1 << 40, max_order_qty=1 << 32,
                      max_order_notional=1 << 62)


def _run(commands, with_risk):
    engine = MatchingEngine(DEFAULT_SYMBOLS)
    apply = engine.apply
    if with_risk:
        apply = RiskGate(engine, DEFAULT_SYMBOLS, {}, default_limits=_WIDE).apply
    with quiet_gc():
        started = time.perf_counter()
        for command in commands:
            apply(command)
        return time.perf_counter() - started, engine.state_hash()


def measure(orders=200_000, runs=3):
    """{"off": commands/s, "on": commands/s}, best of `runs` each; the two runs' state
    hashes must agree (the gate passed everything)."""
    commands = list(generate_flow(orders))
    best = {"off": float("inf"), "on": float("inf")}
    hashes = set()
    for _ in range(runs):
        for name in ("off", "on"):
            seconds, state = _run(commands, name == "on")
            best[name] = min(best[name], seconds)
            hashes.add(state)
    assert len(hashes) == 1, "the gate changed what the engine did"
    return {name: len(commands) / seconds for name, seconds in best.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    rates = measure(args.orders, args.runs)
    print(f"{args.orders:,} commands, best of {args.runs}")
    print(f"risk off  {rates['off']:>10,.0f} commands/s")
    print(f"risk on   {rates['on']:>10,.0f} commands/s  "
          f"({100 * (rates['off'] / rates['on'] - 1):+.0f}% time per command)")


if __name__ == "__main__":
    main()
