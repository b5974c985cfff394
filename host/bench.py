"""In-process benchmark of the golden-model engine on a seeded flow.

Two passes over the same commands, each on a fresh engine: one timed as a
whole for throughput, one timing every `apply` call for the latency
distribution (the per-call clock reads would otherwise slow the throughput
figure). Latencies go into an HdrHistogram (1 ns .. 1 s, 3 significant digits).
"""

import resource
import time
from array import array
from contextlib import nullcontext
from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

from gatebook.wire.internal import CANCEL, EXECUTED, LEVEL, NEW_ORDER, REPLACE
from gatebook.wire.positions import CODE

from .engine import MatchingEngine
from .runtime import quiet_gc

__all__ = ["BenchResult", "run_benchmark", "latency_histogram", "time_each", "KINDS"]

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

    @property
    def orders_per_second(self):
        return self.commands / self.seconds

    @property
    def events_per_second(self):
        return self.events / self.seconds


def latency_histogram():
    return HdrHistogram(1, 1_000_000_000, 3)


def run_benchmark(commands, specs, *, self_trade_prevention=False, gc_control=True):
    """Throughput and per-command latency of `MatchingEngine.apply` over `commands`."""
    with quiet_gc() if gc_control else nullcontext():
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
    histogram = latency_histogram()
    by_kind = {}
    for value, kind in zip(samples, kinds):
        histogram.record_value(max(1, value))
        name = KINDS[kind]
        if name not in by_kind:
            by_kind[name] = latency_histogram()
        by_kind[name].record_value(max(1, value))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return BenchResult(len(commands), counted[0], seconds, histogram, peak, state_hash, by_kind)


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
