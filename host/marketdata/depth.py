"""Per-symbol price levels and last trades, rebuilt from the ITCH 5.0 feed as published.

# Ref: NASDAQ TotalView-ITCH 5.0 sections 4.2-4.5; MoldUDP64 1.00 (downstream packets).

`DepthBook` is what the WebSocket feed (websocket.py) and the NATS fanout
(nats.py) serve: for each listed symbol, its L2 levels (price -> shares,
orders), its trading state and its last trades. It is built from the same
MoldUDP64 packets the feed sends, so it can never show a book the feed did
not: an Order Executed is a trade at the resting order's price, the
aggressor on the other side.

It knows which sequence number it expects next. A packet that skips ahead
(the bounded handoff dropped some) makes `apply_packet` answer False; the
owner then reloads it from the publisher's snapshot (`load`), which comes
with the sequence number to go on from.
"""

import heapq
from collections import deque

from gatebook.wire import itch50, mold
from gatebook.wire.codec import ProtocolCodec, WireError
from gatebook.wire.positions import CODE, ITCH

__all__ = ["DepthBook", "SymbolDepth", "TRADES_KEPT", "MAX_LEVELS"]

# Trades kept per symbol for a subscriber that joins or falls behind.
TRADES_KEPT = 50
# Levels per side a subscriber may ask for.
MAX_LEVELS = 50

_ITCH = ProtocolCodec(itch50.ITCH50)
_ADD, _ADD_MPID = itch50.ADD_ORDER.code, itch50.ADD_ORDER_MPID.code
_EXECUTED, _EXECUTED_PRICE = itch50.ORDER_EXECUTED.code, itch50.ORDER_EXECUTED_WITH_PRICE.code
_CANCEL, _DELETE, _REPLACE = (itch50.ORDER_CANCEL.code, itch50.ORDER_DELETE.code,
                              itch50.ORDER_REPLACE.code)
_DIRECTORY, _ACTION = itch50.STOCK_DIRECTORY.code, itch50.STOCK_TRADING_ACTION.code

_LOCATE = ITCH.ADD_ORDER.stock_locate
_STAMP = ITCH.ADD_ORDER.timestamp
assert _LOCATE == ITCH.ORDER_EXECUTED.stock_locate == ITCH.ORDER_DELETE.stock_locate
assert _STAMP == ITCH.ORDER_EXECUTED.timestamp == ITCH.STOCK_TRADING_ACTION.timestamp
_ADD_REF, _ADD_SIDE = ITCH.ADD_ORDER.order_ref, ITCH.ADD_ORDER.side
_ADD_PRICE, _ADD_SHARES = ITCH.ADD_ORDER.price, ITCH.ADD_ORDER.shares
assert (_ADD_REF, _ADD_SIDE, _ADD_PRICE, _ADD_SHARES) == (
    ITCH.ADD_ORDER_MPID.order_ref, ITCH.ADD_ORDER_MPID.side, ITCH.ADD_ORDER_MPID.price,
    ITCH.ADD_ORDER_MPID.shares)
_EXE_REF, _EXE_SHARES = ITCH.ORDER_EXECUTED.order_ref, ITCH.ORDER_EXECUTED.executed_shares
_EXE_MATCH = ITCH.ORDER_EXECUTED.match_number
_EXP = ITCH.ORDER_EXECUTED_WITH_PRICE
_CAN_REF, _CAN_SHARES = ITCH.ORDER_CANCEL.order_ref, ITCH.ORDER_CANCEL.cancelled_shares
_DEL_REF = ITCH.ORDER_DELETE.order_ref
_REP = ITCH.ORDER_REPLACE
_DIR_STOCK = ITCH.STOCK_DIRECTORY.stock
_ACT_STATE = ITCH.STOCK_TRADING_ACTION.trading_state

# An order here: [locate, side ("B"/"S"), price, shares].
_O_LOCATE, _O_SIDE, _O_PRICE, _O_SHARES = range(4)


class SymbolDepth:
    """One symbol's levels, state and trades.

    Attributes
    ----------
    name : str
    bids, asks : dict
        Price -> [shares, orders].
    trades : deque of tuple
        The last `TRADES_KEPT` trades: (match number, price, shares,
        aggressor side "B"/"S", ITCH timestamp).
    trade_count : int
        Trades since the session began (what a subscriber counts missed ones by).
    state : str
        ITCH trading state: "T" trading, "H" halted.
    sequence, timestamp : int
        The MoldUDP64 sequence number and ITCH timestamp (ns since midnight)
        of the last message that changed this symbol.
    version : int
        Grows by one per change; a subscriber holding it is up to date.
    """

    __slots__ = ("locate", "name", "bids", "asks", "trades", "trade_count", "state",
                 "sequence", "timestamp", "version")

    def __init__(self, locate, name):
        self.locate, self.name = locate, name
        self.bids, self.asks = {}, {}
        self.trades = deque(maxlen=TRADES_KEPT)
        self.trade_count = 0
        self.state = "T"
        self.sequence = self.timestamp = self.version = 0

    def levels(self, side, count):
        """[[price, shares, orders], ...] of `side` ("B"/"S"), best first, at most `count`."""
        book = self.bids if side == itch50.BUY else self.asks
        best = heapq.nlargest(count, book) if side == itch50.BUY else heapq.nsmallest(count, book)
        return [[price, *book[price]] for price in best]

    def _level_add(self, side, price, shares, orders):
        book = self.bids if side == itch50.BUY else self.asks
        level = book.get(price)
        if level is None:
            book[price] = [shares, orders]
            return
        level[0] += shares
        level[1] += orders
        if level[0] <= 0:
            del book[price]


class DepthBook:
    """Levels, states and trades of every symbol of one feed.

    Attributes
    ----------
    symbols : dict
        Stock locate -> SymbolDepth (from the stock directory).
    by_name : dict
        Symbol name -> SymbolDepth.
    next_sequence : int
        The MoldUDP64 sequence number expected next.
    changed : set
        Locates changed since the owner last emptied it.
    refused : int
        Messages that contradicted the book (an unknown order reference).
    on_trade : callable(SymbolDepth, trade) or None
        Called with each trade as it is applied (the execution stream).
    """

    def __init__(self, on_trade=None):
        self.on_trade = on_trade
        self.symbols, self.by_name = {}, {}
        self.orders = {}
        self.next_sequence = 1
        self.changed = set()
        self.refused = 0

    def load(self, records, next_sequence):
        """Start over from a snapshot: ITCH records of the book, and where it goes on."""
        self.orders.clear()
        for depth in self.symbols.values():
            depth.bids.clear()
            depth.asks.clear()
            self.changed.add(depth.locate)
        for record in records:
            self.apply(record, next_sequence - 1)
        self.next_sequence = next_sequence

    def apply_packet(self, packet):
        """Apply a downstream packet's messages; False when it skips messages (resync).

        Messages already applied (a packet from before a `load`) are skipped.
        Raises `WireError` for bytes that are not a downstream packet.
        """
        parsed = mold.parse(packet)
        sequence = parsed.sequence_number
        if sequence > self.next_sequence and parsed.messages:
            return False
        for message in parsed.messages:
            if sequence >= self.next_sequence:
                try:
                    record = _ITCH.decode(message)
                except WireError:
                    self.refused += 1
                else:
                    self.apply(record, sequence)
                self.next_sequence = sequence + 1
            sequence += 1
        return True

    def apply(self, record, sequence):
        """Take one ITCH record tuple numbered `sequence` (others than the book's are ignored)."""
        code = record[CODE]
        if code == _DIRECTORY:
            self._directory(record)
            return
        depth = self.symbols.get(record[_LOCATE])
        if depth is None:
            return
        if code in (_ADD, _ADD_MPID):
            order = [depth.locate, record[_ADD_SIDE], record[_ADD_PRICE], record[_ADD_SHARES]]
            self.orders[record[_ADD_REF]] = order
            depth._level_add(order[_O_SIDE], order[_O_PRICE], order[_O_SHARES], 1)
        elif code in (_EXECUTED, _EXECUTED_PRICE):
            ref, shares = ((record[_EXE_REF], record[_EXE_SHARES]) if code == _EXECUTED
                           else (record[_EXP.order_ref], record[_EXP.executed_shares]))
            order = self._reduce(depth, ref, shares)
            if order is None:
                return
            price = order[_O_PRICE] if code == _EXECUTED else record[_EXP.execution_price]
            aggressor = itch50.SELL if order[_O_SIDE] == itch50.BUY else itch50.BUY
            trade = (record[_EXE_MATCH], price, shares, aggressor, record[_STAMP])
            depth.trades.append(trade)
            depth.trade_count += 1
            if self.on_trade is not None:
                self.on_trade(depth, trade)
        elif code == _CANCEL:
            if self._reduce(depth, record[_CAN_REF], record[_CAN_SHARES]) is None:
                return
        elif code == _DELETE:
            if self._reduce(depth, record[_DEL_REF], None) is None:
                return
        elif code == _REPLACE:
            old = self._reduce(depth, record[_REP.original_order_ref], None)
            if old is None:
                return
            order = [depth.locate, old[_O_SIDE], record[_REP.price], record[_REP.shares]]
            self.orders[record[_REP.new_order_ref]] = order
            depth._level_add(order[_O_SIDE], order[_O_PRICE], order[_O_SHARES], 1)
        elif code == _ACTION:
            depth.state = record[_ACT_STATE]
        else:
            return
        depth.sequence, depth.timestamp = sequence, record[_STAMP]
        depth.version += 1
        self.changed.add(depth.locate)

    def _directory(self, record):
        locate, name = record[_LOCATE], record[_DIR_STOCK].strip()
        if locate not in self.symbols:
            depth = SymbolDepth(locate, name)
            self.symbols[locate] = self.by_name[name] = depth

    def _reduce(self, depth, ref, shares):
        """Take `shares` (None: all) from order `ref`; the order, or None if unknown."""
        order = self.orders.get(ref)
        if order is None or order[_O_LOCATE] != depth.locate:
            self.refused += 1
            return None
        taken = order[_O_SHARES] if shares is None else min(shares, order[_O_SHARES])
        order[_O_SHARES] -= taken
        gone = not order[_O_SHARES]
        if gone:
            del self.orders[ref]
        depth._level_add(order[_O_SIDE], order[_O_PRICE], -taken, -1 if gone else 0)
        return order
