"""The WebSocket feed's JSON messages: what a client may send, what it is sent.

Every message is one JSON object with a `type` (server to client) or an `op`
(client to server); docs/marketdata.md ("WebSocket") is the reference for
users, and this module is the one place that writes or reads them. Prices are
integers in 1/10000 currency units, as on every other Gatebook wire; `ts` is
the ITCH timestamp of the engine event (nanoseconds since midnight UTC) and
`seq` its MoldUDP64 sequence number, so a client can match the two feeds.
"""

import json

from .depth import MAX_LEVELS

__all__ = ["CHANNELS", "DEFAULT_LEVELS", "RequestError", "parse_request", "hello",
           "subscribed", "error", "l1", "l2", "trades"]

CHANNELS = ("l1", "l2", "trades")
DEFAULT_LEVELS = 10

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode


class RequestError(ValueError):
    """A client message that cannot be acted on; `kind` is what it is counted as."""

    def __init__(self, kind, detail):
        super().__init__(detail)
        self.kind = kind


def parse_request(text, symbols):
    """(op, symbol, channels, levels) from a client's text frame.

    Parameters
    ----------
    text : str
        The frame, already bounded in size by the server.
    symbols : container of str
        The names a client may subscribe to.

    Raises
    ------
    RequestError
        kind "bad_json" (not JSON, not an object), "bad_request" (unknown op,
        wrong field types, unknown channel, levels out of range) or
        "unknown_symbol".
    """
    try:
        request = json.loads(text)
    except (ValueError, RecursionError) as failure:      # JSONDecodeError is a ValueError
        raise RequestError("bad_json", f"not JSON: {str(failure)[:80]}") from None
    if not isinstance(request, dict):
        raise RequestError("bad_json", "a request is a JSON object")
    op = request.get("op")
    if op not in ("subscribe", "unsubscribe"):
        raise RequestError("bad_request", "op must be \"subscribe\" or \"unsubscribe\"")
    symbol = request.get("symbol")
    if not isinstance(symbol, str):
        raise RequestError("bad_request", "symbol must be a string")
    if symbol not in symbols:
        raise RequestError("unknown_symbol", f"no symbol {symbol[:16]!r}")
    channels = request.get("channels", list(CHANNELS))
    if not isinstance(channels, list) or not channels \
            or not all(isinstance(channel, str) and channel in CHANNELS for channel in channels):
        raise RequestError("bad_request", f"channels must be a list of {', '.join(CHANNELS)}")
    levels = request.get("depth", DEFAULT_LEVELS)
    if type(levels) is not int or not 1 <= levels <= MAX_LEVELS:
        raise RequestError("bad_request", f"depth must be an integer 1..{MAX_LEVELS}")
    return op, symbol, frozenset(channels), levels


def hello(symbols, max_subscriptions):
    """The first message of every connection: what may be subscribed to."""
    return _dumps({"type": "hello", "symbols": list(symbols), "channels": list(CHANNELS),
                   "max_depth": MAX_LEVELS, "max_subscriptions": max_subscriptions})


def subscribed(op, symbol, channels=(), levels=0):
    """The answer to a subscribe or unsubscribe that was done."""
    return _dumps({"type": op + "d", "symbol": symbol,
                   "channels": [channel for channel in CHANNELS if channel in channels],
                   "depth": levels})


def error(kind, detail):
    """The answer to a request that was refused (the connection goes on)."""
    return _dumps({"type": "error", "error": kind, "detail": detail})


def _top(depth, side):
    best = depth.levels(side, 1)
    return best[0] if best else None


def l1(depth):
    """Best bid and offer of a `SymbolDepth`: [price, shares, orders] or null each."""
    return _dumps({"type": "l1", "symbol": depth.name, "seq": depth.sequence,
                   "ts": depth.timestamp, "state": depth.state,
                   "bid": _top(depth, "B"), "ask": _top(depth, "S")})


def l2(depth, levels):
    """`levels` price levels per side, best first."""
    return _dumps({"type": "l2", "symbol": depth.name, "seq": depth.sequence,
                   "ts": depth.timestamp, "state": depth.state, "depth": levels,
                   "bids": depth.levels("B", levels), "asks": depth.levels("S", levels)})


def trades(depth, since):
    """The trades after the first `since` of the session that are still kept.

    `count` is the session's trades so far (send it back as `since` next
    time); `missed` how many after `since` are no longer kept (a client that
    fell that far behind gets the latest instead)."""
    new = depth.trade_count - since
    kept = list(depth.trades)[-new:] if new > 0 else []
    return _dumps({"type": "trades", "symbol": depth.name, "seq": depth.sequence,
                   "ts": depth.timestamp, "count": depth.trade_count,
                   "missed": max(0, new - len(kept)),
                   "trades": [{"match": match, "price": price, "qty": qty, "aggressor": side,
                               "ts": ts} for match, price, qty, side, ts in kept]})
