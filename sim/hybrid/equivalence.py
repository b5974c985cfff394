"""Hybrid equivalence: host plus simulated lanes against the pure software engine.

The acceptance test of the design (issue 3, docs/hardware.md): the same
commands go to a `MatchingEngine` alone and to a `HybridExchange` whose lanes
run in a simulator; the merged event streams must be equal event for event,
and the state hashes equal every `hash_every` commands and at the end (the
hybrid takes its windows back to hash, so later commands also test reloads).
Transport-agnostic: `make_link(depth, seed, vcd)` builds each lane's link.

On a mismatch the run is repeated with waveforms (one file per lane) and
`EquivalenceError` names the first command whose events differ, its seq and
the wave files.
"""

import os

from gatebook.host.engine import MatchingEngine
from gatebook.host.hybrid import HybridExchange
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.wire.positions import INTERNAL

_SEQ = INTERNAL.NEW_ORDER.seq      # every command's seq sits here (gatebook.wire.positions)

__all__ = ["EquivalenceError", "check_equivalence", "run_hybrid"]


class EquivalenceError(AssertionError):
    def __init__(self, seq, message, waves=()):
        where = f" (waves: {', '.join(waves)})" if waves else ""
        super().__init__(f"seq {seq}: {message}{where}")
        self.seq = seq
        self.waves = list(waves)


def run_hybrid(commands, make_link, *, depths, homes, policy=None, window=16, hash_every=0,
               symbols=DEFAULT_SYMBOLS, vcd=None):
    """Run `commands` both ways; raise EquivalenceError at the first difference.

    Returns the HybridExchange (closed), with its counters, for the caller's checks.
    """
    reference = MatchingEngine(symbols)
    links = [make_link(depth, index, None if vcd is None else f"{vcd}_lane{index}.vcd")
             for index, depth in enumerate(depths)]
    hybrid = HybridExchange(symbols, links, homes, policy=policy, window=window)
    got = []
    hybrid.subscribe(got.append)
    step = hash_every or len(commands) or 1
    try:
        for start in range(0, len(commands), step):
            chunk = commands[start:start + step]
            want = [reference.apply(command) for command in chunk]
            got.clear()
            hybrid.run(chunk)
            _compare(chunk, want, got)
            if hybrid.state_hash() != reference.state_hash():
                raise EquivalenceError(chunk[-1][1], "state hash differs after this command")
    finally:
        hybrid.close()
    return hybrid


def _compare(commands, want, got):
    for command, wanted, events in zip(commands, want, got):
        if events != wanted:
            first = next((i for i, (a, b) in enumerate(zip(events, wanted)) if a != b),
                         min(len(events), len(wanted)))
            raise EquivalenceError(command[_SEQ], f"{command}: event {first} differs:\n"
                                   f"  hybrid: {events}\n  engine: {wanted}")
    if len(got) != len(want):
        seq = commands[min(len(got), len(want)) - 1][_SEQ] if commands else 0
        raise EquivalenceError(seq, f"{len(got)} commands answered, {len(want)} sent")


def check_equivalence(commands, make_link, *, wave_dir="build/sim/hybrid", name="flow", **kw):
    """`run_hybrid`, repeated with waveforms into `wave_dir` if it fails."""
    try:
        return run_hybrid(commands, make_link, **kw)
    except AssertionError as first:
        os.makedirs(wave_dir, exist_ok=True)
        stem = os.path.join(wave_dir, name)
        try:
            run_hybrid(commands, make_link, vcd=stem, **kw)
        except AssertionError as again:
            waves = [f"{stem}_lane{i}.vcd" for i in range(len(kw["depths"]))]
            seq = getattr(again, "seq", getattr(first, "seq", "?"))
            raise EquivalenceError(seq, str(again), waves) from first
        raise

