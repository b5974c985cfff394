"""Who watches which symbol, and conflation: a slow client gets the latest, not a queue.

A `Subscriber` holds, per symbol it watches, only the version it was last
sent and a dirty mark. A change marks the symbol dirty at each watcher and
wakes its sender; the sender sends each dirty symbol's *current* state. A
client that reads slowly therefore skips states it never had time for, and
what is waiting for it is at most one message per channel per symbol,
however fast the book moves. Trades are the exception that is not a state:
a sender sends the ones after the last it sent, from the last `TRADES_KEPT`,
and says how many it had to skip (`missed`).

The JSON text of a state is made once per version and shared by every
client that needs it (`Hub.text`), and so is its WebSocket frame
(`Hub.frame`: a server's frames are not masked, so every client gets the
same bytes). A subscriber with a `writer` (the server's) is sent a change at
once, from the change itself, when nothing of it is waiting: the frames go
to its connection without waking any task, so a thousand watchers of one
symbol cost one encoding and a thousand buffer writes. A subscriber whose
connection is backed up (or that the writer refuses) is marked dirty instead
and served by its sender task as above. Everything here runs on the server's
event loop thread.
"""

import asyncio
import struct

from . import ws_schema

__all__ = ["Hub", "Subscriber", "text_frame"]

_TEXT_FINAL = 0x81                # FIN + opcode 1 (text): RFC 6455 section 5.2


def text_frame(text):
    """`text` as one unmasked RFC 6455 text frame (what a server sends), bytes."""
    payload = text.encode()
    length = len(payload)
    if length < 126:
        header = bytes((_TEXT_FINAL, length))
    elif length < 1 << 16:
        header = struct.pack("!BBH", _TEXT_FINAL, 126, length)
    else:
        header = struct.pack("!BBQ", _TEXT_FINAL, 127, length)
    return header + payload


class Hub:
    """The symbols' states and their watchers.

    Parameters
    ----------
    symbols : dict
        Symbol name -> SymbolDepth (depth.py); the source keeps them current
        and calls `changed`.
    """

    def __init__(self, symbols):
        self.symbols = symbols
        self.watchers = {}            # name -> set of Subscriber
        self._texts = {}              # name -> (version, {(kind, argument): text})
        self._frames = {}             # name -> (version, {(kind, argument): frame bytes})

    def changed(self, names):
        """Mark `names` dirty at every watcher (the source calls this after a change)."""
        for name in names:
            for subscriber in self.watchers.get(name, ()):
                subscriber.mark(name)

    def text(self, name, kind, argument):
        """The JSON text of `kind` ("l1", "l2" levels, "trades" since) for `name` now."""
        depth = self.symbols[name]
        version, texts = self._texts.get(name, (None, None))
        if version != depth.version:
            texts = {}
            self._texts[name] = (depth.version, texts)
        key = (kind, argument)
        text = texts.get(key)
        if text is None:
            if kind == "l1":
                text = ws_schema.l1(depth)
            elif kind == "l2":
                text = ws_schema.l2(depth, argument)
            else:
                text = ws_schema.trades(depth, argument)
            if len(texts) < 256:          # trades "since" differ per client: bound the cache
                texts[key] = text
        return text

    def frame(self, name, kind, argument):
        """`text(name, kind, argument)` as a WebSocket frame, made once per version."""
        version = self.symbols[name].version
        cached_version, frames = self._frames.get(name, (None, None))
        if cached_version != version:
            frames = {}
            self._frames[name] = (version, frames)
        key = (kind, argument)
        frame = frames.get(key)
        if frame is None:
            frame = text_frame(self.text(name, kind, argument))
            if len(frames) < 256:
                frames[key] = frame
        return frame

    def watch(self, name, subscriber):
        self.watchers.setdefault(name, set()).add(subscriber)

    def unwatch(self, name, subscriber):
        watchers = self.watchers.get(name)
        if watchers is not None:
            watchers.discard(subscriber)
            if not watchers:
                del self.watchers[name]


class _Subscription:
    __slots__ = ("channels", "levels", "sent_version", "trades_sent")

    def __init__(self, channels, levels, trades_sent):
        self.channels, self.levels = channels, levels
        self.sent_version, self.trades_sent = -1, trades_sent


class Subscriber:
    """One client's subscriptions and what it has been sent.

    Parameters
    ----------
    hub : Hub
    writer : callable(list of bytes) -> bool, optional
        Writes frames to the client's connection at once, or returns False
        (its connection is backed up, or a send is in progress) and the
        change waits for the sender task.
    """

    def __init__(self, hub, writer=None):
        self.hub = hub
        self.writer = writer
        self.subscriptions = {}       # name -> _Subscription
        self.dirty = {}               # name -> None: a set that keeps arrival order
        self.wake = asyncio.Event()

    def subscribe(self, name, channels, levels):
        """Watch `name` (again, with these channels); its state is sent at once.

        A new subscription to trades first gets the trades still kept."""
        depth = self.hub.symbols[name]
        old = self.subscriptions.get(name)
        trades_sent = old.trades_sent if old is not None else \
            depth.trade_count - len(depth.trades)
        self.subscriptions[name] = _Subscription(channels, levels, trades_sent)
        self.hub.watch(name, self)
        # By the sender task: the answer to the request goes first.
        self.dirty[name] = None
        self.wake.set()

    def unsubscribe(self, name):
        """Stop watching `name`; False if it was not watched."""
        if self.subscriptions.pop(name, None) is None:
            return False
        self.dirty.pop(name, None)
        self.hub.unwatch(name, self)
        return True

    def close(self):
        """Stop watching everything."""
        for name in list(self.subscriptions):
            self.unsubscribe(name)

    def mark(self, name):
        """`name` changed: send it now through the writer, or leave it for the sender."""
        if self.writer is not None and not self.dirty and self._write_now(name):
            return
        self.dirty[name] = None
        self.wake.set()

    def _write_now(self, name):
        """Write `name`'s frames through the writer; False if it refused them."""
        subscription = self.subscriptions.get(name)
        if subscription is None:
            return True
        hub, depth = self.hub, self.hub.symbols[name]
        if subscription.sent_version == depth.version:
            return True
        channels, frames = subscription.channels, []
        if "l1" in channels:
            frames.append(hub.frame(name, "l1", None))
        if "l2" in channels:
            frames.append(hub.frame(name, "l2", subscription.levels))
        trades = "trades" in channels and depth.trade_count > subscription.trades_sent
        if trades:
            frames.append(hub.frame(name, "trades", subscription.trades_sent))
        if frames and not self.writer(frames):
            return False
        subscription.sent_version = depth.version
        if trades:
            subscription.trades_sent = depth.trade_count
        return True

    def take(self):
        """The texts to send now: the current state of each dirty symbol, per channel."""
        out, hub = [], self.hub
        while self.dirty:
            name = next(iter(self.dirty))
            del self.dirty[name]
            subscription = self.subscriptions.get(name)
            if subscription is None:
                continue
            depth = hub.symbols[name]
            if subscription.sent_version == depth.version:
                continue
            subscription.sent_version = depth.version
            channels = subscription.channels
            if "l1" in channels:
                out.append(hub.text(name, "l1", None))
            if "l2" in channels:
                out.append(hub.text(name, "l2", subscription.levels))
            if "trades" in channels and depth.trade_count > subscription.trades_sent:
                out.append(hub.text(name, "trades", subscription.trades_sent))
                subscription.trades_sent = depth.trade_count
        return out
