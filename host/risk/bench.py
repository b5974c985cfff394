"""The engine's rate with pre-trade risk on and off, on the standard flow.

    python -m gatebook.host.risk.bench [--orders N] [--runs R] [--callgrind N]

Both runs apply the same seeded commands (host/flow.py) to a fresh engine, one
through `RiskGate` with limits wide enough that every order passes (so both
engines do the same matching and the difference is the gate's own cost); the best
of R runs of each, interleaved, with the cyclic GC paused as `gatebook bench` does.
`--callgrind N` counts instructions per command instead (N commands under valgrind,
as `python -m gatebook.host.bench` does for the engine), which a machine busy with
other work does not change.
"""

import argparse
import collections
import os
import pickle
import re
import subprocess
import sys
import tempfile
import time

from ..compiled import engine_build
from ..engine import MatchingEngine
from ..flow import generate_flow
from ..runtime import quiet_gc
from ..symbols import DEFAULT_SYMBOLS
from .gate import RiskGate
from .limits import AccountLimits
from .loading import gate_build

__all__ = ["measure", "instructions_per_command", "main"]

_WIDE = AccountLimits(buying_power=1 << 62, max_position=1 << 40, max_order_qty=1 << 32,
                      max_order_notional=1 << 62)


def _apply_of(engine, with_risk):
    if with_risk:
        return RiskGate(engine, DEFAULT_SYMBOLS, {}, default_limits=_WIDE).apply
    return engine.apply


def _run(commands, with_risk):
    engine = MatchingEngine(DEFAULT_SYMBOLS)
    apply = _apply_of(engine, with_risk)
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


def instructions_per_command(count=20_000, workdir=None):
    """{"off": ..., "on": ...}: instructions per command under callgrind.

    A fresh process per mode under ``valgrind --tool=callgrind`` loads the pickled flow,
    builds the engine (and the gate), then applies the commands inside one C call
    (`collections.deque(map(apply, commands), maxlen=0)`, whose `consume_iterator` is the
    only part callgrind counts): start-up, imports and the flow's loading are left out,
    whatever else the first start of a changed module costs.
    """
    workdir = workdir or tempfile.mkdtemp(prefix="gb-risk-callgrind-")
    flow = os.path.join(workdir, f"flow{count}.pkl")
    with open(flow, "wb") as out:
        pickle.dump(list(generate_flow(count)), out)
    counts = {}
    for mode in ("off", "on"):
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
             "--collect-atstart=no", "--toggle-collect=consume_iterator", sys.executable,
             "-c", "from gatebook.host.risk.bench import _replay; _replay()", flow, mode],
            capture_output=True, text=True)
        found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
        if done.returncode != 0 or found is None:
            raise RuntimeError(f"callgrind run failed:\n{done.stderr[-2000:]}")
        counts[mode] = int(found.group(1).replace(",", "")) / count
    return counts


def _replay():
    """The child of `instructions_per_command` (argv: pickled flow, off / on)."""
    with open(sys.argv[1], "rb") as flow:
        commands = pickle.load(flow)
    with quiet_gc():
        engine = MatchingEngine(DEFAULT_SYMBOLS)
        collections.deque(map(_apply_of(engine, sys.argv[2] == "on"), commands), maxlen=0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--callgrind", type=int, metavar="N", default=0,
                        help="count instructions per command over N commands instead")
    args = parser.parse_args(argv)
    print(f"engine: {engine_build()}; gate: {gate_build()}")
    if args.callgrind:
        counts = instructions_per_command(args.callgrind)
        print(f"callgrind, {args.callgrind:,} commands of the standard flow, instructions "
              f"per command")
        print(f"risk off  {counts['off']:>10,.0f}")
        print(f"risk on   {counts['on']:>10,.0f}  ({counts['on'] / counts['off']:.2f}x)")
        return
    rates = measure(args.orders, args.runs)
    print(f"{args.orders:,} commands, best of {args.runs}")
    print(f"risk off  {rates['off']:>10,.0f} commands/s")
    print(f"risk on   {rates['on']:>10,.0f} commands/s  "
          f"({100 * (rates['off'] / rates['on'] - 1):+.0f}% time per command)")


if __name__ == "__main__":
    main()
