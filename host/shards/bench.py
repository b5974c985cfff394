"""One shard against N on the same flow, split by symbol: the engine-only shard benchmark.

Each shard is a real process (`python -m gatebook.host.shards.bench FLOW`) that
loads its part of the flow, builds its engine (one counting listener, the
collector quieted as `gatebook bench` does), says it is ready and waits; once
every shard of a run is ready they are told to go together, and each reports
its commands, events, start and end on the system's monotonic clock, CPU
seconds and state hash. A run's throughput is all its commands over the time
from the first start to the last end.

`split_flow` gives each shard the commands of its symbols, stamps unchanged: a
cancel or replace goes where its order went, a mass cancel or admin command for
every symbol to every shard.
"""

import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from gatebook.wire.enums import ALL_SYMBOLS, MassCancelScope
from gatebook.wire.internal import ADMIN, CANCEL, MASS_CANCEL, NEW_ORDER, REPLACE
from gatebook.wire.positions import CODE, INTERNAL

from ..engine import MatchingEngine
from ..runtime import quiet_gc

__all__ = ["split_flow", "assign_round_robin", "ShardResult", "RunResult", "run_shards"]

_NEW, _CANCEL, _REPLACE = NEW_ORDER.code, CANCEL.code, REPLACE.code
_MASS_CANCEL, _ADMIN = MASS_CANCEL.code, ADMIN.code
_USER_SCOPE = int(MassCancelScope.USER)


def assign_round_robin(specs, shards):
    """`shards` lists of symbol ids: the n-th symbol of `specs` to shard n mod `shards`."""
    out = [[] for _ in range(shards)]
    for index, spec in enumerate(specs):
        out[index % shards].append(spec.symbol_id)
    return out


def split_flow(commands, shard_symbols):
    """One list of commands per shard; `shard_symbols` is each shard's symbol ids.

    A cancel or replace of an order no shard has seen goes to the first shard
    (as a router with no owner for it would refuse it, any one shard's answer
    is the same UNKNOWN_ORDER).
    """
    owner = {symbol: index for index, symbols in enumerate(shard_symbols) for symbol in symbols}
    parts = [[] for _ in shard_symbols]
    order_shard = {}
    for command in commands:
        code = command[CODE]
        if code == _NEW:
            shard = owner[command[INTERNAL.NEW_ORDER.symbol]]
            order_shard.setdefault(command[INTERNAL.NEW_ORDER.order_id], shard)
        elif code == _CANCEL:
            shard = order_shard.get(command[INTERNAL.CANCEL.order_id], 0)
        elif code == _REPLACE:
            shard = order_shard.get(command[INTERNAL.REPLACE.order_id], 0)
        else:
            # a mass cancel of a user's every order, an admin command for every
            # symbol, or any other command: every shard
            symbol = ALL_SYMBOLS
            if code == _MASS_CANCEL and command[INTERNAL.MASS_CANCEL.scope] != _USER_SCOPE:
                symbol = command[INTERNAL.MASS_CANCEL.symbol]
            elif code == _ADMIN:
                symbol = command[INTERNAL.ADMIN.symbol]
            if symbol not in owner:
                for part in parts:
                    part.append(command)
                continue
            shard = owner[symbol]
        parts[shard].append(command)
    return parts


@dataclass
class ShardResult:
    """What one shard's process reports."""

    commands: int
    events: int
    start_ns: int           # time.monotonic_ns() as it began (the same clock in every process)
    end_ns: int
    cpu_seconds: float
    state_hash: str

    @property
    def seconds(self):
        return (self.end_ns - self.start_ns) / 1e9

    @property
    def per_second(self):
        return self.commands / self.seconds


@dataclass
class RunResult:
    """One run: its shards' results, throughput over the run's whole span."""

    shards: list

    @property
    def commands(self):
        return sum(shard.commands for shard in self.shards)

    @property
    def seconds(self):
        return (max(s.end_ns for s in self.shards) - min(s.start_ns for s in self.shards)) / 1e9

    @property
    def per_second(self):
        return self.commands / self.seconds


def run_shards(parts, specs, workdir=None, timeout=600):
    """Run each of `parts` (lists of commands) in its own process at once; a RunResult."""
    workdir = workdir or tempfile.mkdtemp(prefix="gb-shards-")
    children = []
    try:
        for index, part in enumerate(parts):
            path = os.path.join(workdir, f"shard{index}.pkl")
            with open(path, "wb") as out:
                pickle.dump((tuple(specs), part), out, protocol=pickle.HIGHEST_PROTOCOL)
            children.append(subprocess.Popen(
                [sys.executable, "-m", "gatebook.host.shards.bench", path],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                # its own session, as a shard service has: Linux's autogroup scheduler
                # shares the CPUs between sessions, so shards in one session would
                # share one session's slice of a busy machine
                start_new_session=True))
        for child in children:          # each has loaded its flow and built its engine
            line = child.stdout.readline()
            if line.strip() != "ready":
                raise RuntimeError(f"a shard process did not start: {line!r}")
        for child in children:
            child.stdin.write("go\n")
            child.stdin.flush()
        results = []
        for child in children:
            out, _ = child.communicate(timeout=timeout)
            if child.returncode != 0:
                raise RuntimeError(f"a shard process failed with status {child.returncode}")
            results.append(ShardResult(**json.loads(out)))
        return RunResult(results)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()


def _worker(path):
    """One shard's process: load, build, say ready, wait for go, run, report as JSON."""
    with open(path, "rb") as file:
        specs, commands = pickle.load(file)
    with quiet_gc():
        engine = MatchingEngine(specs)
        counted = [0]

        def count(events):
            counted[0] += len(events)
        engine.subscribe(count)
        apply = engine.apply
        print("ready", flush=True)
        sys.stdin.readline()
        cpu = time.process_time()
        start = time.monotonic_ns()
        for command in commands:
            apply(command)
        end = time.monotonic_ns()
        cpu = time.process_time() - cpu
    print(json.dumps({"commands": len(commands), "events": counted[0], "start_ns": start,
                      "end_ns": end, "cpu_seconds": cpu, "state_hash": engine.state_hash()}))


if __name__ == "__main__":
    _worker(sys.argv[1])
