"""In-process benchmark of the golden-model engine on a seeded flow.

Two passes over the same commands, each on a fresh engine: one timed as a
whole for throughput, one timing every `apply` call for the latency
distribution (the per-call clock reads would otherwise slow the throughput
figure). Latencies go into an HdrHistogram (1 ns .. 1 s, 3 significant digits).
"""

import resource
import time
from array import array
from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

from .engine import MatchingEngine
from .runtime import quiet_gc

__all__ = ["BenchResult", "run_benchmark", "latency_histogram", "time_each"]


@dataclass
class BenchResult:
    commands: int
    events: int
    seconds: float
    histogram: HdrHistogram
    peak_rss_mib: float
    state_hash: str

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
    with quiet_gc() if gc_control else _nothing():
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
        samples, _ = time_each(engine.apply, commands)
    histogram = latency_histogram()
    for value in samples:
        histogram.record_value(max(1, value))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return BenchResult(len(commands), counted[0], seconds, histogram, peak, state_hash)


def time_each(apply, commands, progress=None):
    """Call `apply` on each command, timing each call; returns (ns samples, total seconds).

    The total includes the clock reads, so it is a little slower than an
    untimed run.
    """
    clock = time.perf_counter_ns
    samples = array("q", bytes(8 * len(commands)))
    index = 0
    started = clock()
    for command in commands:
        begin = clock()
        apply(command)
        samples[index] = clock() - begin
        index += 1
        if progress is not None and not index % 50_000:
            progress(index, len(commands))
    return samples, (clock() - started) / 1e9


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
