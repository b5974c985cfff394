"""Market data on NATS JetStream: one subject per symbol, for WebSocket edges to fan out.

# Ref: NATS JetStream (streams, max messages per subject, "last per subject"
#      delivery), through the `nats-py` client.

The exchange side (`NatsFanout`) keeps the books from the feed as the
WebSocket server does (`feed_tap.LocalSource`) and, whenever a symbol
changes, publishes its whole state, levels, trading state and last trades,
to `gatebook.md.<SYMBOL>`; and every execution, in order, to
`gatebook.exec.<SYMBOL>` (a stream keeping the last million: match numbers
run exchange-wide without a gap, so a consumer sees one if the fanout ever
fell behind and reloaded its books). The stream keeps one message per subject (the
latest state), so an edge that starts, restarts or moves to another server
of a cluster has every symbol's current state at once, then follows; a
killed edge costs its clients a reconnect and a resubscribe, nothing more.
With `replicas=3` on a 3-node cluster the states survive a node's loss.

The edge side (`NatsSource`) is a source for `websocket.MarketDataServer`:
it turns those states back into `SymbolDepth`s. What arrives from NATS is
input like any other: a state that is not JSON, is too large or holds
values of the wrong kind is counted in `refused` and ignored.
"""

import asyncio
import json
import logging
import threading
from collections import Counter

from .depth import MAX_LEVELS, TRADES_KEPT, SymbolDepth

__all__ = ["NatsFanout", "NatsSource", "SUBJECT_PREFIX", "STREAM", "EXEC_PREFIX",
           "EXEC_STREAM", "encode_state", "decode_state"]

_log = logging.getLogger("gatebook.marketdata")

SUBJECT_PREFIX = "gatebook.md"
STREAM = "GATEBOOK_MD"
# Every execution, in order, one subject per symbol; kept up to EXEC_KEPT messages.
EXEC_PREFIX = "gatebook.exec"
EXEC_STREAM = "GATEBOOK_EXEC"
EXEC_KEPT = 1_000_000
# A state is at most 50 levels a side and 50 trades: well under this.
MAX_STATE_BYTES = 64 * 1024
# Symbols an edge follows at most (an exchange lists a few thousand at most).
MAX_SYMBOLS = 16_384

_dumps = json.JSONEncoder(separators=(",", ":")).encode


def subject_of(name):
    """The NATS subject of symbol `name` (ITCH stock names are letters and digits)."""
    return f"{SUBJECT_PREFIX}.{name}"


def encode_state(depth):
    """A `SymbolDepth` as the bytes published for it."""
    return _dumps({"symbol": depth.name, "locate": depth.locate, "seq": depth.sequence,
                   "ts": depth.timestamp, "state": depth.state,
                   "bids": depth.levels("B", MAX_LEVELS), "asks": depth.levels("S", MAX_LEVELS),
                   "trade_count": depth.trade_count,
                   "trades": [list(trade) for trade in depth.trades]}).encode()


def _integer(value):
    if type(value) is not int or not 0 <= value < 1 << 64:
        raise ValueError(f"not an unsigned integer: {value!r:.20}")
    return value


def decode_state(data, depth=None):
    """The `SymbolDepth` a published state describes (updating `depth` if given).

    Raises ValueError (with the reason) for anything that is not such a state.
    """
    if len(data) > MAX_STATE_BYTES:
        raise ValueError(f"{len(data)} bytes: larger than any state")
    state = json.loads(data)
    if not isinstance(state, dict):
        raise ValueError("a state is a JSON object")
    name = state.get("symbol")
    if not isinstance(name, str) or not name.isalnum() or len(name) > 8:
        raise ValueError("symbol must be 1..8 letters or digits")
    if depth is None:
        depth = SymbolDepth(_integer(state.get("locate")), name)
    elif depth.name != name:
        raise ValueError(f"a state of {name} on {depth.name}'s subject")
    sides = []
    for side in ("bids", "asks"):
        levels = state.get(side)
        if not isinstance(levels, list) or len(levels) > MAX_LEVELS:
            raise ValueError(f"{side} must be a list of at most {MAX_LEVELS} levels")
        book = {}
        for level in levels:
            if not isinstance(level, list) or len(level) != 3:
                raise ValueError("a level is [price, shares, orders]")
            price, shares, orders = map(_integer, level)
            book[price] = [shares, orders]
        sides.append(book)
    trades = state.get("trades")
    if not isinstance(trades, list) or len(trades) > TRADES_KEPT:
        raise ValueError(f"trades must be a list of at most {TRADES_KEPT}")
    kept = []
    for trade in trades:
        if not isinstance(trade, list) or len(trade) != 5 or trade[3] not in ("B", "S"):
            raise ValueError("a trade is [match, price, shares, side, ts]")
        kept.append((_integer(trade[0]), _integer(trade[1]), _integer(trade[2]), trade[3],
                     _integer(trade[4])))
    if state.get("state") not in ("T", "H", "P", "Q"):
        raise ValueError("state must be an ITCH trading state")
    trade_count = _integer(state.get("trade_count"))
    sequence, timestamp = _integer(state.get("seq")), _integer(state.get("ts"))
    depth.bids, depth.asks = sides
    depth.trades.clear()
    depth.trades.extend(kept)
    depth.trade_count, depth.state = trade_count, state["state"]
    depth.sequence, depth.timestamp = sequence, timestamp
    depth.version += 1
    return depth


async def _ensure_streams(jetstream, replicas):
    from nats.js.api import StreamConfig
    for config in (StreamConfig(name=STREAM, subjects=[f"{SUBJECT_PREFIX}.*"],
                                max_msgs_per_subject=1, num_replicas=replicas),
                   StreamConfig(name=EXEC_STREAM, subjects=[f"{EXEC_PREFIX}.*"],
                                max_msgs=EXEC_KEPT, num_replicas=replicas)):
        try:
            await jetstream.add_stream(config)
        except Exception as failure:    # exists with another config: bring it to ours
            if "already in use" not in str(failure):
                raise
            await jetstream.update_stream(config)


def encode_execution(depth, trade):
    """One execution as published on `gatebook.exec.<SYMBOL>`."""
    match, price, qty, aggressor, ts = trade
    return _dumps({"symbol": depth.name, "match": match, "price": price, "qty": qty,
                   "aggressor": aggressor, "ts": ts}).encode()


class NatsFanout:
    """Publishes every symbol's state to NATS JetStream, from the exchange's feed.

    Runs on a thread and asyncio loop of its own; the exchange loop only feeds
    the `FeedTap` of `source`.

    Parameters
    ----------
    source : feed_tap.LocalSource
    url : str
        The NATS server (or a comma-separated list of a cluster's servers).
    replicas : int
        JetStream replicas of the stream (3 on a 3-node cluster).

    Attributes
    ----------
    published : int
        States JetStream acknowledged.
    retries : int
        States sent again after JetStream did not acknowledge them.
    """

    def __init__(self, source, url, replicas=1):
        self.source, self.servers, self.replicas = source, url.split(","), replicas
        self.published = self.executions = self.retries = 0
        self._in_flight, self._dirty = set(), set()
        source.book.on_trade = self._execution
        self._ready = threading.Event()
        self._failure = None
        self._thread = threading.Thread(target=self._run, name="gatebook-md-nats", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            self._thread.join()
            raise self._failure

    def _run(self):
        try:
            asyncio.run(self._main())
        except BaseException as failure:
            if not self._ready.is_set():
                self._failure = failure
                self._ready.set()
            else:
                _log.exception("NATS market-data fanout")

    async def _main(self):
        import nats
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        self._nc = await nats.connect(servers=self.servers, max_reconnect_attempts=-1,
                                      reconnect_time_wait=0.2, connect_timeout=5)
        self._js = self._nc.jetstream()
        try:
            await _ensure_streams(self._js, self.replicas)
            for name in self.source.symbols:        # every symbol's state, from the start
                self._changed([name])
            self.source.start(self._loop, self._changed)
            self._ready.set()
            await self._stopped.wait()
            self.source.close()
            deadline = self._loop.time() + 5
            while self._in_flight and self._loop.time() < deadline:   # the last states
                await asyncio.sleep(0.01)
            await self._nc.flush(timeout=5)
        finally:
            await self._nc.close()

    def _execution(self, depth, trade):
        self._loop.create_task(self._nc.publish(f"{EXEC_PREFIX}.{depth.name}",
                                                encode_execution(depth, trade)))
        self.executions += 1

    def _changed(self, names):
        """Publish each symbol's state: one publish in flight per symbol, the latest next."""
        for name in names:
            if name in self._in_flight:
                self._dirty.add(name)             # sent when the one in flight is stored
            else:
                self._in_flight.add(name)
                self._loop.create_task(self._publish(name))

    async def _publish(self, name):
        """Publish `name`'s state until JetStream acknowledges storing one as new as now.

        Acknowledged, so a state sent while a cluster elects a leader (after a
        server died) is sent again, not lost; one at a time per symbol, so an
        older state can never be stored after a newer one."""
        try:
            while True:
                self._dirty.discard(name)
                try:
                    await self._js.publish(subject_of(name),
                                           encode_state(self.source.symbols[name]), timeout=2)
                except Exception as failure:      # nats-py's timeouts, no responders, ...
                    self.retries += 1
                    _log.info("NATS state of %s not stored (%s): again", name, failure)
                    self._dirty.add(name)
                    await asyncio.sleep(0.2)
                else:
                    self.published += 1
                if name not in self._dirty:
                    return
        finally:
            self._in_flight.discard(name)

    def close(self):
        """Publish what is pending and disconnect."""
        if self._thread.is_alive():
            try:
                self._loop.call_soon_threadsafe(self._stopped.set)
            except RuntimeError:
                pass
        self._thread.join()


class NatsSource:
    """An edge's source of symbol states: JetStream's latest per symbol, then each change.

    Parameters
    ----------
    url : str
        A NATS server, or a comma-separated list of a cluster's servers.
    max_symbols : int
        Symbols followed at most: states of more (forged subjects) are refused.

    Attributes
    ----------
    symbols : dict
        Name -> SymbolDepth, as states arrive.
    received : int
    refused : Counter
        States ignored, by reason.
    """

    def __init__(self, url, max_symbols=MAX_SYMBOLS):
        self.servers, self.max_symbols = url.split(","), max_symbols
        self.symbols = {}
        self.received = 0
        self.refused = Counter()
        self._changed = None
        self._waiting = None            # the task waiting for the stream to exist
        self._nc = None

    async def prepare(self, seconds=5.0):
        """Connect, follow, and wait (up to `seconds`) for every symbol's latest state, so
        the edge's first clients find every symbol (the server awaits this before serving)."""
        import nats
        from nats.js.api import DeliverPolicy
        from nats.js.errors import NotFoundError, ServiceUnavailableError
        if self._nc is None:
            self._nc = await nats.connect(servers=self.servers, max_reconnect_attempts=-1,
                                          reconnect_time_wait=0.2, connect_timeout=5)
        jetstream = self._nc.jetstream()
        loop = asyncio.get_running_loop()
        patience = loop.time() + 30
        while True:
            try:
                self._sub = await jetstream.subscribe(
                    f"{SUBJECT_PREFIX}.*", deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
                    ordered_consumer=True, cb=self._state)
                # One message per subject is kept: as many messages as symbols.
                subjects = (await jetstream.stream_info(STREAM)).state.messages or 0
                break
            except NotFoundError:      # no exchange has made the stream yet: wait for one
                if self._waiting is None:
                    self._waiting = loop.create_task(self.prepare())
                    return
            except (nats.errors.TimeoutError, ServiceUnavailableError):
                # A cluster electing a new leader (a server died) does not answer at once.
                if loop.time() > patience:
                    raise
            await asyncio.sleep(0.5)
        deadline = loop.time() + seconds
        while len(self.symbols) + sum(self.refused.values()) < subjects \
                and loop.time() < deadline:
            await asyncio.sleep(0.01)

    def start(self, loop, changed):
        self._changed = changed

    async def _state(self, message):
        self.received += 1
        name = message.subject.rpartition(".")[2]
        if name not in self.symbols and len(self.symbols) >= self.max_symbols:
            self.refused["too_many_symbols"] += 1
            return
        try:
            depth = decode_state(message.data, self.symbols.get(name))
            if depth.name != name:
                raise ValueError(f"a state of {depth.name} on {name}'s subject")
        except (ValueError, RecursionError) as refusal:
            self.refused["bad_state"] += 1
            _log.warning("NATS state on %s refused: %s", message.subject[:64], refusal)
            return
        self.symbols[name] = depth
        if self._changed is not None:
            self._changed([name])

    async def close(self):
        """Stop following and disconnect (a coroutine: the server awaits it on its loop)."""
        if self._waiting is not None:
            self._waiting.cancel()
        nc = self._nc
        if nc is not None and not nc.is_closed:
            await nc.close()
