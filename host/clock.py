"""Clocks for the sequencer. The engine never reads one; only the sequencer does."""

import time

__all__ = ["WallClock", "ManualClock"]


class WallClock:
    """Nanoseconds since the Unix epoch."""

    def __call__(self):
        return time.time_ns()


class ManualClock:
    """A deterministic clock: starts at `start` and advances `step` ns per reading.

    Tests and the seeded demo use it so runs are byte-for-byte repeatable.
    """

    def __init__(self, start=0, step=1):
        self.now = start
        self.step = step

    def __call__(self):
        now = self.now
        self.now += self.step
        return now

    def advance(self, nanoseconds):
        self.now += nanoseconds
