"""The WebSocket market-data feed (JSON) and the live page, on a thread of their own.

# Ref: RFC 6455 (The WebSocket Protocol), through the `websockets` library.

`MarketDataServer` runs an asyncio loop on its own thread. Its source (an
in-process `feed_tap.LocalSource`, or an edge's NATS source) keeps symbol
states and says which changed; `ws_hub` conflates them per client. The same
port serves the page (`/`, `/page.js`: a symbol's ladder, trades and chart)
and the feed (`/ws`). Message schema: ws_schema.py and docs/marketdata.md.

Every client is hostile until it has behaved. What it can cost is bounded,
and each way of misbehaving is counted in `cut` (the connection is closed)
or `refused` (the request is answered with an error and the client stays):

- a frame over `max_message` bytes: cut, "too_large" (close 1009);
- not JSON, unknown op or symbol, bad fields: refused by kind; more than
  `max_errors` of them: cut, "errors"; a binary frame: refused, "binary";
- more than `max_subscriptions` symbols: refused, "too_many_subscriptions";
- more than `rate` requests a second (beyond a burst of as many): cut, "flood";
- a client that does not take what it is sent within `send_timeout`
  (never reads; its TCP window is full): cut, "slow";
- no pong within `ping_timeout` (a half-open connection): cut, "ping_timeout";
- a connection that sends no complete request within `open_timeout`: cut,
  "handshake_timeout";
- more than `max_clients` connections: refused before the handshake (HTTP
  503), "too_many_clients".
"""

import asyncio
import http
import logging
import socket
import threading
import time
from collections import Counter
from importlib import resources

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response
from websockets.protocol import State

from . import ws_schema
from .ws_hub import Hub, Subscriber

__all__ = ["MarketDataServer", "PAGE_FILES"]

_log = logging.getLogger("gatebook.marketdata")

# URL path -> (file in page/, content type): the live page, no build step.
PAGE_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/page.js": ("page.js", "text/javascript; charset=utf-8"),
}
FEED_PATH = "/ws"


class MarketDataServer:
    """The WebSocket feed and the page, served from a thread of its own.

    Parameters
    ----------
    source : LocalSource or NatsSource
        Has `symbols` (name -> SymbolDepth), `start(loop, changed)`, `close()`
        (which may return a coroutine), and may have a coroutine `prepare()`,
        awaited before the first client is accepted.
    host, port : str, int
        Where to listen (port 0: any free port; see `address`).
    max_clients : int
    max_message : int
        Bytes of one client frame at most.
    max_subscriptions, max_errors, rate : int
    send_timeout, ping_interval, ping_timeout, open_timeout : float
        Seconds; `open_timeout` bounds the HTTP request and WebSocket handshake.
    write_limit : int
        Bytes queued for one client before its sender waits (and, after
        `send_timeout`, cuts it).
    send_buffer : int
        The kernel's send buffer per client (SO_SNDBUF, inherited from the
        listening socket): what one client that stopped reading can hold down,
        so a thousand of them cannot take gigabytes. Small, so that a client
        that reads slowly gets recent states rather than old ones in buffers.
    reuse_port : bool
        SO_REUSEPORT: several servers (edge processes) listen on one port and
        the kernel spreads the connections over them.

    Attributes
    ----------
    address : (str, int)
    clients : int
        Connected now.
    served, refused, cut : Counter
        Connections and messages sent; requests refused and connections cut, by kind.
    """

    def __init__(self, source, host="127.0.0.1", port=0, max_clients=2000, max_message=4096,
                 max_subscriptions=64, max_errors=20, rate=50, send_timeout=5.0,
                 ping_interval=5.0, ping_timeout=5.0, write_limit=1 << 14,
                 send_buffer=1 << 16, open_timeout=10.0, reuse_port=False):
        self.source = source
        self.hub = Hub(source.symbols)
        self.max_clients, self.max_subscriptions = max_clients, max_subscriptions
        self.max_errors, self.rate, self.send_timeout = max_errors, rate, send_timeout
        self.clients = 0
        self.served, self.refused, self.cut = Counter(), Counter(), Counter()
        self._options = dict(max_size=max_message, ping_interval=ping_interval,
                             ping_timeout=ping_timeout, write_limit=write_limit,
                             open_timeout=open_timeout, close_timeout=2, max_queue=4,
                             create_connection=self._connection_class(),
                             # Compressing is per client (each has its own context):
                             # a thousand clients would each pay for it.
                             compression=None,
                             process_request=self._http, server_header=None)
        self._page = {path: (name, kind, resources.files(__package__).joinpath(
            "page", name).read_bytes()) for path, (name, kind) in PAGE_FILES.items()}
        self._loop = None
        self._stopped = None
        self._sending = {}                # connection -> loop time its current send began
        self._too_slow = set()            # connections the watchdog cut
        self._ready = threading.Event()
        self._failure = None
        listener = socket.create_server((host, port), backlog=1024, reuse_port=reuse_port)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
        self._thread = threading.Thread(target=self._run, args=(listener,),
                                        name="gatebook-md-websocket", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            self._thread.join()
            raise self._failure

    # -- the thread -------------------------------------------------------

    def _run(self, listener):
        try:
            asyncio.run(self._main(listener))
        except BaseException as failure:        # reported to the constructor or logged
            if not self._ready.is_set():
                self._failure = failure
                self._ready.set()
            else:
                _log.exception("WebSocket market-data server")

    async def _main(self, listener):
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        prepare = getattr(self.source, "prepare", None)
        if prepare is not None:                 # a remote source: its state first
            await prepare()
        async with serve(self._client, sock=listener, **self._options) as server:
            self.address = server.sockets[0].getsockname()[:2]
            self.source.start(self._loop, self.hub.changed)
            watchdog = asyncio.create_task(self._watchdog())
            self._ready.set()
            await self._stopped.wait()
            watchdog.cancel()
        closing = self.source.close()
        if asyncio.iscoroutine(closing):        # a source with a connection of its own
            await closing

    def close(self):
        """Close every connection and stop the thread."""
        if self._loop is not None and self._thread.is_alive():
            try:
                self._loop.call_soon_threadsafe(self._stopped.set)
            except RuntimeError:
                pass
        self._thread.join()

    # -- HTTP: the page, and who may open a WebSocket -----------------------

    def _connection_class(self):
        """`websockets`' connection, counting the ones that never finish their handshake."""
        cut = self.cut

        class CountedConnection(ServerConnection):
            async def handshake(self, *args, **kwargs):
                try:
                    return await super().handshake(*args, **kwargs)
                except asyncio.CancelledError:      # open_timeout: a half-open connection
                    cut["handshake_timeout"] += 1
                    raise
        return CountedConnection

    def _http(self, connection, request):
        path = request.path.partition("?")[0]
        if path == FEED_PATH:
            if self.clients >= self.max_clients:
                self.cut["too_many_clients"] += 1
                return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE,
                                          "too many clients\n")
            return None                 # go on with the WebSocket handshake
        page = self._page.get(path)
        if page is None:
            return connection.respond(http.HTTPStatus.NOT_FOUND, "not found\n")
        name, kind, body = page
        self.served["page_" + name] += 1
        headers = Headers([("Content-Type", kind), ("Content-Length", str(len(body))),
                           ("Cache-Control", "no-store"), ("Connection", "close")])
        return Response(200, "OK", headers, body)

    # -- one client ---------------------------------------------------------

    async def _client(self, ws):
        self.clients += 1
        self.served["connections"] += 1
        subscriber = Subscriber(self.hub, self._writer(ws))
        sender = asyncio.create_task(self._send_loop(ws, subscriber))
        try:
            await ws.send(ws_schema.hello(sorted(self.hub.symbols), self.max_subscriptions))
            why = await self._read_loop(ws, subscriber)
            if why is not None:
                self.cut[why] += 1
                await ws.close(1008, why)
        except ConnectionClosed:
            pass
        finally:
            self.clients -= 1
            subscriber.close()
            sender.cancel()
            why = None
            try:
                why = await sender
            except (asyncio.CancelledError, ConnectionClosed):
                pass
            close = ws.protocol.close_sent
            if why is None and close is not None and close.code in (1009, 1011):
                why = "too_large" if close.code == 1009 else "ping_timeout"
            if ws in self._too_slow:            # however the closing reached us first
                self._too_slow.discard(ws)
                why = "slow"
            if why is not None:
                self.cut[why] += 1

    def _writer(self, ws):
        """Frames written to `ws` at once while its connection keeps up (ws_hub.py).

        Refused (the sender task takes over, waiting for the client) while a
        send of the sender's is in progress, the connection is not open, or
        more than `write_limit` bytes wait in its buffer: a slow client is
        conflated, never queued."""
        transport, protocol, sending, served = ws.transport, ws.protocol, self._sending, \
            self.served
        limit, open_state = self._options["write_limit"], State.OPEN

        def write(frames):
            if ws in sending or protocol.state is not open_state \
                    or transport.get_write_buffer_size() > limit:
                return False
            transport.write(b"".join(frames))
            served["messages"] += len(frames)
            return True
        return write

    async def _read_loop(self, ws, subscriber):
        """Act on the client's requests; why it must be cut, or None once it left."""
        errors, tokens, last = 0, float(self.rate), time.monotonic()
        async for frame in ws:
            now = time.monotonic()
            tokens = min(float(self.rate), tokens + (now - last) * self.rate) - 1
            last = now
            if tokens < 0:               # a burst of `rate`, then `rate` a second
                return "flood"
            try:
                if not isinstance(frame, str):
                    raise ws_schema.RequestError("binary", "requests are JSON text frames")
                op, symbol, channels, levels = ws_schema.parse_request(frame, self.hub.symbols)
                if op == "unsubscribe":
                    subscriber.unsubscribe(symbol)
                elif symbol not in subscriber.subscriptions \
                        and len(subscriber.subscriptions) >= self.max_subscriptions:
                    raise ws_schema.RequestError(
                        "too_many_subscriptions",
                        f"at most {self.max_subscriptions} symbols per connection")
                else:
                    subscriber.subscribe(symbol, channels, levels)
                await ws.send(ws_schema.subscribed(op, symbol, channels, levels))
            except ws_schema.RequestError as refusal:
                self.refused[refusal.kind] += 1
                errors += 1
                if errors > self.max_errors:
                    return "errors"
                await ws.send(ws_schema.error(refusal.kind, str(refusal)))
        return None

    async def _send_loop(self, ws, subscriber):
        """Send each dirty symbol's current state; why the client was cut, or None."""
        sending = self._sending
        while True:
            await subscriber.wake.wait()
            subscriber.wake.clear()
            texts = subscriber.take()
            if not texts:
                continue
            # No timer per send (a thousand clients would each cost one): the watchdog
            # cuts a client whose send has waited longer than `send_timeout`.
            sending[ws] = self._loop.time()
            try:
                for text in texts:
                    await ws.send(text)
            except ConnectionClosed:
                return "slow" if ws in self._too_slow else None
            finally:
                del sending[ws]
            self.served["messages"] += len(texts)

    async def _watchdog(self):
        """Cut every client that has not taken what it is sent within `send_timeout`."""
        while True:
            await asyncio.sleep(min(1.0, self.send_timeout / 4))
            now = self._loop.time()
            for ws, since in list(self._sending.items()):
                if now - since > self.send_timeout and ws not in self._too_slow:
                    self._too_slow.add(ws)
                    ws.transport.abort()        # a closing handshake would wait on it too
