"""Process settings for running the engine hot: the garbage collector.

Matching allocates many short-lived tuples but builds no reference cycles, so
the cyclic collector finds nothing to free on the hot path; what it costs is
pauses. Freezing what exists at start-up and raising the gen-0 threshold
keeps those pauses off the latency tail (docs/benchmarks.md shows the effect).
"""

import gc
from contextlib import contextmanager

__all__ = ["quiet_gc"]


@contextmanager
def quiet_gc(threshold=200_000):
    """Within the block: existing objects frozen, collections rare."""
    old = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(threshold, 50, 1000)
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()
