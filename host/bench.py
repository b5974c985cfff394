"""In-process benchmark of the golden-model engine on a seeded flow.

Two passes over the same commands, each on a fresh engine: one timed as a
whole for throughput, one timing every `apply` call for the latency
distribution (the per-call clock reads would otherwise slow the throughput
figure). Latencies go into an HdrHistogram (1 ns .. 1 s, 3 significant digits).

`instructions_per_command` counts instructions under callgrind instead, which a busy
machine does not move: ``python -m gatebook.host.bench 30000`` prints them for the
compiled engine and its Python source.
"""

import gc
import os
import pickle
import re
import resource
import subprocess
import sys
import tempfile
import time
from array import array
from contextlib import contextmanager
from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

from gatebook.wire.internal import CANCEL, EXECUTED, LEVEL, NEW_ORDER, REPLACE
from gatebook.wire.positions import CODE

from .compiled import PURE_PYTHON_ENV
from .engine import MatchingEngine
from .runtime import quiet_gc

__all__ = ["BenchResult", "run_benchmark", "latency_histogram", "time_each", "KINDS",
           "instructions_per_command", "GC_MODES", "collector", "steady_tail"]

#: How the cyclic collector runs during a benchmark. "off": what exists after set-up frozen
#: and the collector disabled for the run, as engines whose hot path makes no reference
#: cycles run it (this one makes none: docs/benchmarks.md); "quiet": frozen, a gen-0 pass
#: every 200,000 allocations (runtime.quiet_gc, what `gatebook run` does); "default":
#: Python's own thresholds.
GC_MODES = ("off", "quiet", "default")

# What a command turned out to be, for the latency table by kind.
KINDS = ("new order, rests", "new order, trades", "new order, other", "cancel", "replace", "other")
_EXECUTED, _LEVEL = EXECUTED.code, LEVEL.code
_NEW_ORDER, _CANCEL, _REPLACE = NEW_ORDER.code, CANCEL.code, REPLACE.code


def classify(command, events):
    """Index into KINDS."""
    code = command[CODE]
    if code == _NEW_ORDER:
        codes = {event[CODE] for event in events}
        if _EXECUTED in codes:
            return 1
        return 0 if _LEVEL in codes else 2
    return 3 if code == _CANCEL else 4 if code == _REPLACE else 5


@dataclass
class BenchResult:
    commands: int
    events: int
    seconds: float
    histogram: HdrHistogram
    peak_rss_mib: float
    state_hash: str
    by_kind: dict           # KINDS entry -> HdrHistogram of that kind's latencies
    collections: int = 0    # collector passes during the two runs (any generation)

    @property
    def orders_per_second(self):
        return self.commands / self.seconds

    @property
    def events_per_second(self):
        return self.events / self.seconds


def latency_histogram():
    return HdrHistogram(1, 1_000_000_000, 3)


@contextmanager
def collector(mode):
    """Run the block with the cyclic collector as `mode` (one of GC_MODES) says."""
    if mode not in GC_MODES:
        raise ValueError(f"gc mode {mode!r}: one of {', '.join(GC_MODES)}")
    if mode == "default":
        yield
        return
    was_enabled = gc.isenabled()
    with quiet_gc():
        if mode == "off":
            gc.disable()
        try:
            yield
        finally:
            if was_enabled:
                gc.enable()


def _passes():
    return sum(generation["collections"] for generation in gc.get_stats())


def run_benchmark(commands, specs, *, self_trade_prevention=False, gc_mode="off"):
    """Throughput and per-command latency of `MatchingEngine.apply` over `commands`."""
    with collector(gc_mode):
        passes = _passes()
        engine = MatchingEngine(specs, self_trade_prevention=self_trade_prevention)
        counted = [0]

        def count(events):
            counted[0] += len(events)
        engine.subscribe(count)
        apply = engine.apply
        start = time.perf_counter()
        for command in commands:
            apply(command)
        seconds = time.perf_counter() - start
        state_hash = engine.state_hash()
        del engine

        engine = MatchingEngine(specs, self_trade_prevention=self_trade_prevention)
        kinds = bytearray(len(commands))
        samples, _ = time_each(engine.apply, commands, kinds=kinds)
        passes = _passes() - passes
    histogram = latency_histogram()
    by_kind = {}
    for value, kind in zip(samples, kinds):
        histogram.record_value(max(1, value))
        name = KINDS[kind]
        if name not in by_kind:
            by_kind[name] = latency_histogram()
        by_kind[name].record_value(max(1, value))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return BenchResult(len(commands), counted[0], seconds, histogram, peak, state_hash, by_kind,
                       passes)


def steady_tail(commands, specs, runs=3, share=0.01, gc_mode="off"):
    """The commands among the slowest `share` of every one of `runs` timed runs.

    A command slow in every run is slow by what it does, not by the scheduler: on a shared
    machine that separates the engine's own tail from its neighbours'. Returns (threshold
    ns of each run, {index: KINDS entry}, {index: events it made}).
    """
    slow, thresholds = None, []
    kinds = bytearray(len(commands))
    sizes = {}
    for _ in range(runs):
        with collector(gc_mode):
            engine = MatchingEngine(specs)
            engine.subscribe(lambda events: None)
            samples, _ = time_each(engine.apply, commands, kinds=kinds)
        threshold = sorted(samples)[int((1 - share) * len(samples))]
        thresholds.append(threshold)
        above = {index for index, value in enumerate(samples) if value >= threshold}
        slow = above if slow is None else slow & above
    engine = MatchingEngine(specs)
    for index, command in enumerate(commands):
        events = engine.apply(command)
        if index in slow:
            sizes[index] = len(events)
    return thresholds, {index: KINDS[kinds[index]] for index in sorted(slow)}, sizes


def time_each(apply, commands, progress=None, kinds=None):
    """Call `apply` on each command, timing each call; returns (ns samples, total seconds).

    The total includes the clock reads, so it is a little slower than an
    untimed run. With `kinds` (a bytearray as long as `commands`), each
    command's KINDS index is stored there, worked out outside the timed call.
    """
    clock = time.perf_counter_ns
    samples = array("q", bytes(8 * len(commands)))
    index = 0
    started = clock()
    for command in commands:
        begin = clock()
        events = apply(command)
        samples[index] = clock() - begin
        if kinds is not None:
            kinds[index] = classify(command, events)
        index += 1
        if progress is not None and not index % 50_000:
            progress(index, len(commands))
    return samples, (clock() - started) / 1e9


def instructions_per_command(commands, *, pure=False, workdir=None):
    """Instructions per `apply` under callgrind, as `run_benchmark`'s timed pass runs it.

    Two fresh processes under ``valgrind --tool=callgrind`` load the same pickled flow and
    build the same engine (collector quieted, one counting listener); one of them also
    applies the commands. Their difference, per command, is the engine's cost, start-up
    and the flow's loading left out. `pure` runs the Python source (GATEBOOK_PURE_PYTHON).
    """
    workdir = workdir or tempfile.mkdtemp(prefix="gb-callgrind-")
    flow = os.path.join(workdir, f"flow{len(commands)}.pkl")
    with open(flow, "wb") as out:
        pickle.dump(commands, out)
    env = {name: value for name, value in os.environ.items() if name != PURE_PYTHON_ENV}
    if pure:
        env[PURE_PYTHON_ENV] = "1"
    refs = {}
    for mode in ("idle", "run"):
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
             "-c", "from gatebook.host.bench import _replay; _replay()", flow, mode],
            capture_output=True, text=True, env=env)
        found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
        if done.returncode != 0 or found is None:
            raise RuntimeError(f"callgrind run failed:\n{done.stderr[-2000:]}")
        refs[mode] = int(found.group(1).replace(",", ""))
    return (refs["run"] - refs["idle"]) / len(commands)


def _replay():
    """The child of `instructions_per_command` (argv: pickled flow, "run" or "idle")."""
    from .symbols import DEFAULT_SYMBOLS
    with open(sys.argv[1], "rb") as flow:
        commands = pickle.load(flow)
    with quiet_gc():
        engine = MatchingEngine(DEFAULT_SYMBOLS)
        counted = [0]

        def count(events):
            counted[0] += len(events)
        engine.subscribe(count)
        if sys.argv[2] == "run":
            apply = engine.apply
            for command in commands:
                apply(command)


if __name__ == "__main__":
    # python -m gatebook.host.bench [COMMANDS]: instructions per command, compiled and pure.
    from .compiled import source_reason
    from .flow import generate_flow
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 30_000
    flow = generate_flow(count, seed=1)
    print(f"callgrind, {count:,} commands of the standard flow (seed 1), instructions per command")
    for pure in (False, True):
        reason = f"{PURE_PYTHON_ENV}=1" if pure else source_reason("engine", environ={})
        build = "compiled (Cython)" if reason is None else f"pure Python ({reason})"
        print(f"  {instructions_per_command(flow, pure=pure):>8,.0f}  {build}", flush=True)
