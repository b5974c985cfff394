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
client that needs it (`Hub.text`), so a thousand watchers of one symbol cost
one encoding. Everything here runs on the server's event loop thread.
"""

import asyncio

from . import ws_schema

__all__ = ["Hub", "Subscriber"]


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
    """

    def __init__(self, hub):
        self.hub = hub
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
        self.mark(name)

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
        self.dirty[name] = None
        self.wake.set()

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
