"""Waiting for a condition instead of sleeping for a guess.

A test that sleeps a fixed time and then asserts a count passes or fails with the
machine's load; one that polls the condition until a deadline asserts the property
itself and only fails when the condition never holds. Every test that waits on
another thread or process uses these.
"""

import time

__all__ = ["wait_for", "read_until"]


def wait_for(condition, what, seconds=10.0, poll=0.005):
    """Poll `condition()` until it is true; fail the test after `seconds`.

    Parameters
    ----------
    condition : callable
        Returns a truthy value once the awaited state holds.
    what : str
        What is awaited, for the failure message ("the follower to log seq 5").
    seconds : float
        The deadline: generous, since it only bounds a hang, never a measurement.
    poll : float
        Pause between two checks.

    Returns
    -------
    The first truthy value `condition()` returned.
    """
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out after {seconds} s waiting for {what}"
        time.sleep(poll)
    return value


def read_until(stream, done, what):
    """Read lines from a child's text `stream` until `done(line)`; return the lines read.

    The child's output is the condition: no deadline here, the caller's `finally`
    kills the child, which ends the stream. Fails if the stream ends first.
    """
    lines = []
    for line in stream:
        lines.append(line)
        if done(line):
            return lines
    raise AssertionError(f"the stream ended before {what}: {''.join(lines[-5:])!r}")
