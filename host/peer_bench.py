"""Gatebook's engine beside other matching engines on one flow, in one run.

`peer_flow` makes a flow of the kind the peers publish their figures on (one symbol,
60 % passive limit orders a few ticks from a fixed mid, so the queues grow deep; 25 %
cancels of live orders; 15 % marketable limit IOC orders that cross one to four levels)
as Gatebook's stamped command tuples. Each engine gets the same records translated to its
own public API before its clock starts, and runs them on a fresh book:

- Gatebook, `MatchingEngine.apply`, whichever build is loaded (`compiled.engine_build`),
  full events to one subscribed listener;
- `matching-engine` (PyPI, pure Python: msgspec structs, sortedcontainers), its
  `MatchingEngine.process`, which returns its full event list, self-trade prevention off
  as Gatebook's is;
- liquibook (PyPI's SWIG wrapper of the C++ library), `DepthOrderBook.add`/`cancel`,
  twice: with a Python order listener that hears every fill (its trades reach Python
  only through that callback), and bare, with no listener at all.

The comparison is honest only if the engines did the same work, so every engine also
runs the flow once untimed with a listener that counts trades and traded volume, and
`run_peers` reports whether those agree (they must: all three match price-time at the
resting price, and the flow stays inside what all three mean the same way).

A peer that is not installed is reported as skipped, with the command that installs it
(the `peers` extra in pyproject.toml). matching-engine 0.1.1 declares Python >= 3.12; the
only 3.12 syntax in it is two `type X = A | B` aliases used as annotations, so on 3.11
`load_matching_engine` loads it with those two lines as plain assignments and nothing else
changed (docs/benchmarks.md, "Peers").
"""

import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import pickle
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from gatebook.wire.enums import OrderType, Side, TimeInForce
from gatebook.wire.internal import CANCEL, EXECUTED, NEW_ORDER
from gatebook.wire.positions import CODE, INTERNAL

from .clock import ManualClock
from .compiled import engine_build, load_pure
from .engine import MatchingEngine
from .runtime import quiet_gc
from .sequencer import Sequencer
from .symbols import DEFAULT_SYMBOLS

__all__ = ["PeerMix", "PEER_MIX", "PeerResult", "peer_flow", "flow_shape", "PEERS", "run_peers",
           "load_matching_engine", "INSTALL_HINT"]

_NEW = INTERNAL.NEW_ORDER
_CAN = INTERNAL.CANCEL
_EXE = INTERNAL.EXECUTED
_NEW_ORDER, _CANCEL, _EXECUTED = NEW_ORDER.code, CANCEL.code, EXECUTED.code
_BUY = int(Side.BUY)

#: How to install the peers into the project's environment.
INSTALL_HINT = ("pip install -e '.[peers]' (on Python 3.11 also: pip install --no-deps "
                "--ignore-requires-python matching-engine==0.1.1)")


@dataclass(frozen=True)
class PeerMix:
    """The peers' kind of flow: shares of each record and the shape of the book."""

    passive: float = 0.60       # limit GTC resting 1..levels ticks from the mid
    cancel: float = 0.25        # of a live order (one the flow's shadow engine holds)
    marketable: float = 0.15    # limit IOC priced 1..4 ticks through the mid
    levels: int = 10            # price levels per side the passive orders rest on
    users: int = 200
    max_lots: int = 10          # sizes are 1..max_lots lots of 100


PEER_MIX = PeerMix()


def peer_flow(count=200_000, seed=7, mix=PEER_MIX, spec=DEFAULT_SYMBOLS[0]):
    """`count` stamped Gatebook commands on one symbol; the same for the same arguments."""
    rng = random.Random(seed)
    sequencer = Sequencer(ManualClock(start=1_700_000_000_000_000_000, step=250))
    shadow = MatchingEngine([spec])
    tick = spec.tick_size
    middle = (spec.price_min + spec.price_max) // 2
    mid = middle - middle % tick
    candidates = []                 # (order_id, user) of passive orders, maybe gone since
    commands = []
    next_id = 1
    kinds, weights = ("passive", "cancel", "marketable"), (mix.passive, mix.cancel, mix.marketable)
    while len(commands) < count:
        kind = rng.choices(kinds, weights)[0]
        if kind == "cancel":
            target = _pick_live(rng, candidates, shadow.orders)
            if target is None:
                continue
            command = sequencer.cancel(*target)
        else:
            side = rng.randrange(2)
            toward = 1 if side == _BUY else -1      # a buy crosses upwards
            user = rng.randrange(1, mix.users + 1)
            qty = rng.randint(1, mix.max_lots) * 100
            if kind == "passive":
                price, tif = mid - toward * tick * rng.randint(1, mix.levels), TimeInForce.GTC
                candidates.append((next_id, user))
            else:
                price, tif = mid + toward * tick * rng.randint(1, 4), TimeInForce.IOC
            command = sequencer.new_order(spec.symbol_id, next_id, user, side,
                                          int(OrderType.LIMIT), int(tif), price, qty)
            next_id += 1
        shadow.apply(command)
        commands.append(command)
    return commands


def _pick_live(rng, candidates, live):
    for _ in range(50):
        if not candidates:
            return None
        slot = rng.randrange(len(candidates))
        target = candidates[slot]
        candidates[slot] = candidates[-1]
        candidates.pop()
        if target[0] in live:
            return target
    return None


def flow_shape(commands, spec=DEFAULT_SYMBOLS[0]):
    """What the book looks like after `commands`: (resting orders, levels, longest queue)."""
    engine = MatchingEngine([spec])
    for command in commands:
        engine.apply(command)
    levels = engine.books[spec.symbol_id].depth(0) + engine.books[spec.symbol_id].depth(1)
    return (sum(count for _, _, count in levels), len(levels),
            max((count for _, _, count in levels), default=0))


@dataclass
class PeerResult:
    """One engine's runs over the flow."""

    name: str
    commands: int
    seconds: list           # one timed run each
    trades: int             # from the untimed checking run
    volume: int
    skipped: str = ""       # why it did not run, when it did not

    @property
    def best_per_second(self):
        return self.commands / min(self.seconds)


# -- Gatebook ---------------------------------------------------------------------------

def _gatebook(commands, spec, check, engine_class=MatchingEngine):
    engine = engine_class([spec])
    if check:
        tally = [0, 0]

        def listen(events):
            for event in events:
                if event[CODE] == _EXECUTED:
                    tally[0] += 1
                    tally[1] += event[_EXE.qty]
        engine.subscribe(listen)
        for command in commands:
            engine.apply(command)
        return tally
    counted = [0]

    def count(events):
        counted[0] += len(events)
    engine.subscribe(count)
    apply = engine.apply
    start = time.perf_counter()
    for command in commands:
        apply(command)
    return time.perf_counter() - start


# -- matching-engine (PyPI) ----------------------------------------------------------------

class _AliasFinder(importlib.abc.MetaPathFinder):
    """Loads `matching_engine` modules with `type X = ...` lines read as `X = ...`."""

    def __init__(self, folder):
        self.folder = folder

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "matching_engine" and not fullname.startswith("matching_engine."):
            return None
        parts = fullname.split(".")[1:]
        package = (self.folder.joinpath(*parts) / "__init__.py")
        source = package if package.exists() else self.folder.joinpath(*parts).with_suffix(".py")
        if not source.exists():
            return None
        return importlib.util.spec_from_file_location(
            fullname, source, loader=_AliasLoader(fullname, str(source)),
            submodule_search_locations=[str(source.parent)] if source == package else None)


class _AliasLoader(importlib.machinery.SourceFileLoader):
    def source_to_code(self, data, path, *, _optimize=-1):
        text = re.sub(rb"(?m)^type (\w+) = ", rb"\1 = ", data)
        return compile(text, path, "exec", dont_inherit=True, optimize=_optimize)


def load_matching_engine():
    """The `matching_engine` package, or None when it is not installed."""
    if "matching_engine.engine" in sys.modules:
        return sys.modules["matching_engine.engine"]
    spec = importlib.util.find_spec("matching_engine")
    if spec is None or not spec.submodule_search_locations:
        return None
    if sys.version_info < (3, 12):
        from pathlib import Path
        sys.meta_path.insert(0, _AliasFinder(Path(spec.submodule_search_locations[0])))
    return importlib.import_module("matching_engine.engine")


def _matching_engine(commands, spec, check):
    module = load_matching_engine()
    domain = sys.modules["matching_engine.domain"]
    stp_off, gtc, ioc = domain.SelfTradePrevention.NONE, domain.TimeInForce.GTC, domain.TimeInForce.IOC
    sides = {_BUY: domain.Side.BUY, 1 - _BUY: domain.Side.SELL}
    records = []
    for command in commands:
        if command[CODE] == _NEW_ORDER:
            order = domain.NewOrder(command[_NEW.order_id], command[_NEW.user],
                                    sides[command[_NEW.side]], command[_NEW.price],
                                    command[_NEW.qty], domain.OrderType.LIMIT,
                                    ioc if command[_NEW.tif] == TimeInForce.IOC else gtc,
                                    stp=stp_off)
        else:
            order = domain.CancelOrder(command[_CAN.order_id], command[_CAN.user])
        records.append(domain.SequencedCommand(command[_NEW.seq], command[_NEW.ts], order))
    engine = module.MatchingEngine()
    process = engine.process
    if check:
        trade = sys.modules["matching_engine.events"].Trade
        tally = [0, 0]
        for record in records:
            for event in process(record):
                if type(event) is trade:
                    tally[0] += 1
                    tally[1] += event.qty
        return tally
    counted = 0
    start = time.perf_counter()
    for record in records:
        counted += len(process(record))
    return time.perf_counter() - start


# -- liquibook (PyPI, C++) -----------------------------------------------------------------

def _liquibook(commands, spec, check, listener=True):
    import liquibook
    ioc = liquibook.oc_immediate_or_cancel
    orders = {}
    records = []
    for command in commands:
        if command[CODE] == _NEW_ORDER:
            order = liquibook.SimpleOrder(command[_NEW.side] == _BUY, command[_NEW.price],
                                          command[_NEW.qty], 0,
                                          ioc if command[_NEW.tif] == TimeInForce.IOC else 0)
            orders[command[_NEW.order_id]] = order
            records.append((True, order))
            if command[_NEW.tif] == TimeInForce.IOC:
                # The wrapper rests an IOC's remainder (an unmatched IOC fills later), so
                # the remainder is cancelled at once, as the other engines do themselves.
                records.append((False, order))
        else:
            records.append((False, orders[command[_CAN.order_id]]))

    class Fills(liquibook.OrderListener):
        def __init__(self):
            liquibook.OrderListener.__init__(self)
            self.trades = self.volume = 0

        def on_fill(self, order, matched_order, qty, cost):
            self.trades += 1
            self.volume += qty

        # The wrapper's listener is abstract: every callback must exist in Python, so a
        # listener hears accepts and cancels too (liquibook's price for any listener).
        def on_accept(self, order):
            pass

        def on_reject(self, order, reason):
            pass

        def on_cancel(self, order):
            pass

        def on_cancel_reject(self, order, reason):
            pass

        def on_replace(self, order, size_delta, new_price):
            pass

        def on_replace_reject(self, order, reason):
            pass

    book = liquibook.DepthOrderBook()
    book.set_symbol(spec.name)
    fills = Fills()
    if listener or check:
        book.set_order_listener(fills)
    add, cancel = book.add, book.cancel
    start = time.perf_counter()
    for is_new, order in records:
        if is_new:
            add(order)
        else:
            cancel(order)
    seconds = time.perf_counter() - start
    return [fills.trades, fills.volume] if check else seconds


#: (name, runner, the module it needs or None) in the table's order.
PEERS = (
    ("gatebook, " + engine_build().split(" (")[0].split(":")[0], _gatebook, None),
    ("gatebook, pure-Python source",
     lambda c, s, check: _gatebook(c, s, check, load_pure("engine").MatchingEngine), None),
    ("matching-engine 0.1.1", _matching_engine, "matching_engine"),
    ("liquibook 2.0.1, fills to Python", _liquibook, "liquibook"),
    ("liquibook 2.0.1, no listener", lambda c, s, check: _liquibook(c, s, check, False),
     "liquibook"),
)


def run_peers(commands, repeat=3, spec=DEFAULT_SYMBOLS[0], progress=None, isolate=True):
    """Every engine of `PEERS` over `commands`: a checking run, then `repeat` timed rounds.

    The rounds alternate the engines (A B C, A B C, ...), so a slow minute of a shared
    machine falls on all of them; the collector is quieted the same way for all. With
    `isolate`, each run is a process of its own (the flow pickled once): a peer that
    crashes (a C extension can) is reported as such and the others go on, and no engine
    runs in a heap another has left behind. Returns [PeerResult] in `PEERS` order.
    """
    with tempfile.TemporaryDirectory(prefix="gb-peers-") as folder:
        flow = os.path.join(folder, "flow.pkl")
        if isolate:
            with open(flow, "wb") as out:
                pickle.dump(commands, out)
        results = []
        for index, (name, _, module) in enumerate(PEERS):
            result = PeerResult(name, len(commands), [], 0, 0)
            if module is not None and not _installed(module):
                result.skipped = f"{module} not installed: {INSTALL_HINT}"
            else:
                result.trades, result.volume = _one_run(index, commands, flow, spec, True,
                                                        isolate, result)
            results.append(result)
        for _ in range(repeat):
            for index, result in enumerate(results):
                if result.skipped:
                    continue
                seconds = _one_run(index, commands, flow, spec, False, isolate, result)
                if not result.skipped:
                    result.seconds.append(seconds)
                    if progress:
                        progress(result.name, seconds)
    return results


def _one_run(index, commands, flow, spec, check, isolate, result):
    """`PEERS[index]`'s runner once, here or in a child; a crash marks `result` skipped."""
    if not isolate:
        with quiet_gc():
            return PEERS[index][1](commands, spec, check)
    done = subprocess.run([sys.executable, "-c", "from gatebook.host.peer_bench import "
                           "_child; _child()", flow, str(index), str(spec.symbol_id),
                           "check" if check else "time"], capture_output=True, text=True)
    if done.returncode != 0:
        result.skipped = (f"crashed (exit {done.returncode}) in a "
                          f"{'checking' if check else 'timed'} run: {done.stderr[-300:]!r}")
        return (0, 0) if check else 0.0
    return json.loads(done.stdout.splitlines()[-1])


def _child():
    """One run in a child process (argv: pickled flow, PEERS index, symbol id, check|time)."""
    flow, index, symbol, mode = sys.argv[1:5]
    with open(flow, "rb") as source:
        commands = pickle.load(source)
    spec = next(s for s in DEFAULT_SYMBOLS if s.symbol_id == int(symbol))
    with quiet_gc():
        print(json.dumps(PEERS[int(index)][1](commands, spec, mode == "check")), flush=True)


def _installed(module):
    if module == "matching_engine":
        return load_matching_engine() is not None
    return importlib.util.find_spec(module) is not None
