"""Scoreboard for the matching core: the golden model plays host and reference.

Transport-agnostic (STYLE principle 5): the Amaranth-simulator tests and the
cocotb bench both drive a `Scoreboard` with record tuples. It does the host's
three jobs around one hardware lane that owns one symbol:

- `route(command)`: the front end. The golden engine applies the command at
  once (it is the reference); a new order it rejects, and every mass-cancel
  and admin command, goes to the lane as a HOST marker, everything else as is.
- `observe(record)`: every record the lane writes, in order. Events of a
  command the lane handled must equal the golden events (match ids compared
  after restamping: the lane's own ids must count up by one). A PUNT hands
  the command to the host, whose events are the golden ones by construction;
  with a handover, the FLUSH records before it must equal the golden book's
  best orders as they stood before the command. SPILL records (an eviction)
  must be the window's worst whole level, from the worst end; the host's
  deeper price on that side becomes theirs.
- `reload()`: once nothing is in flight and the symbol is the host's, LOAD
  records for its best whole levels (at most `depth` orders a side) and OWN.

A mismatch raises `ScoreboardError` naming the command's sequence number.
"""

from collections import Counter, deque

from gatebook.wire import internal, link
from gatebook.wire.enums import ALL_SYMBOLS, CancelReason, MassCancelScope, RejectReason
from gatebook.wire.positions import INTERNAL, LINK, require_field_order
from gatebook.host.engine import MatchingEngine

__all__ = ["Scoreboard", "ScoreboardError", "Feeder", "coverage_table"]

_NEW, _CANCEL, _REPLACE = internal.NEW_ORDER.code, internal.CANCEL.code, internal.REPLACE.code
_MASS, _ADMIN = internal.MASS_CANCEL.code, internal.ADMIN.code
_REJECTED, _EXECUTED, _TRADE = internal.REJECTED.code, internal.EXECUTED.code, internal.TRADE.code
_FLUSH, _SPILL, _PUNT = link.FLUSH.code, link.SPILL.code, link.PUNT.code
# Field positions in the record tuples, from the tables (gatebook.wire.positions).
_CODE, _SEQ, _TS = INTERNAL.NEW_ORDER.code, INTERNAL.NEW_ORDER.seq, INTERNAL.NEW_ORDER.ts
assert all(at.seq == _SEQ and at.ts == _TS
           for at in (INTERNAL.CANCEL, INTERNAL.REPLACE, INTERNAL.MASS_CANCEL, INTERNAL.ADMIN,
                      INTERNAL.REJECTED, INTERNAL.EXECUTED, LINK.FLUSH, LINK.SPILL, LINK.PUNT)), \
    "seq and ts moved in a table"
_NEW_SYMBOL = INTERNAL.NEW_ORDER.symbol
_NEW_ORDER_TYPE, _NEW_TIF = INTERNAL.NEW_ORDER.order_type, INTERNAL.NEW_ORDER.tif
_MASS_SCOPE, _MASS_SYMBOL = INTERNAL.MASS_CANCEL.scope, INTERNAL.MASS_CANCEL.symbol
_ADMIN_SYMBOL = INTERNAL.ADMIN.symbol
_REJECTED_SYMBOL, _REJECTED_REASON = INTERNAL.REJECTED.symbol, INTERNAL.REJECTED.reason
_MATCH_ID = INTERNAL.EXECUTED.match_id
assert INTERNAL.TRADE.match_id == _MATCH_ID, "EXECUTED and TRADE restamped alike"
_AGGRESSOR_LEAVES = INTERNAL.EXECUTED.aggressor_leaves
_CANCELLED_REASON = INTERNAL.CANCELLED.reason
_PUNT_REASON, _PUNT_HANDOVER = LINK.PUNT.reason, LINK.PUNT.handover
_PUNT_LAST_PRICE = LINK.PUNT.last_price
# FLUSH and SPILL: the window entry starts at the symbol.
assert link.FLUSH.field_names == link.SPILL.field_names, "FLUSH and SPILL differ"
_WINDOW_SIDE, _WINDOW_PRICE = LINK.FLUSH.side, LINK.FLUSH.price
_WINDOW_ENTRY = LINK.FLUSH.symbol
# A snapshot entry is a window entry without symbol and side (`_entry(order)[1:]`).
_SNAPSHOT_PRICE = LINK.LOAD.price - LINK.LOAD.order_id
# Records built whole below, tied to their tables' order.
require_field_order(link.HOST, ("seq", "ts", "symbol", "handover"), __name__)
require_field_order(link.OWN, ("symbol", "bid_deep", "ask_deep", "last_price"), __name__)
require_field_order(link.LOAD, ("symbol", "side", "order_id", "user", "order_type", "tif",
                                "price", "stop_price", "qty", "prio_seq"), __name__)
# Reject reasons that depend only on the command and the symbol's SymbolSpec.
_STATELESS = {int(r) for r in (
    RejectReason.INVALID_QUANTITY, RejectReason.QUANTITY_TOO_LARGE,
    RejectReason.QUANTITY_NOT_LOT_MULTIPLE, RejectReason.INVALID_PRICE,
    RejectReason.PRICE_NOT_ON_TICK, RejectReason.PRICE_OUTSIDE_BAND,
    RejectReason.QUANTITY_ABOVE_LIMIT, RejectReason.NOTIONAL_ABOVE_LIMIT)}


class ScoreboardError(AssertionError):
    def __init__(self, seq, message):
        super().__init__(f"seq {seq}: {message}")
        self.seq = seq


class Scoreboard:
    """Reference, front end and host for one lane owning `symbol`.

    Parameters
    ----------
    symbols : iterable of SymbolSpec
        The listed symbols.
    symbol : int
        The symbol the lane owns (from the start, with an empty book).
    depth : int
        Window size of the lane, orders per side.
    """

    def __init__(self, symbols, symbol, depth):
        self.ref = MatchingEngine(symbols)
        self.symbol = symbol
        self.depth = depth
        self.owned = False
        self.deep = [0, 0]
        self.in_flight = deque()        # [seq, expected events, snapshot, position]
        self.flushed = []
        self.spilled = []               # SPILL records of the command in progress
        self.lane_match_id = 0
        self.commands = 0
        self.coverage = Counter()       # (command kind, outcome, window state) -> count
        self.punts = Counter()          # PuntReason -> count
        self.evictions = 0              # orders a full window side spilled to the host

    # -- the front end ---------------------------------------------------------

    def start(self):
        """The records that give the lane the symbol, empty, at the start."""
        self.owned = True
        return [(link.OWN.code, self.symbol, 0, 0, 0)]

    def route(self, command):
        """Apply `command` to the reference; return the record the lane gets."""
        snapshot, window = self._snapshot(), self._window()
        events = self.ref.apply(command)
        self.commands += 1
        code, seq, ts = command[_CODE], command[_SEQ], command[_TS]
        self.in_flight.append([seq, events, snapshot, 0, (_kind(command), window)])
        first = events[0]
        if code == _NEW and first[_CODE] == _REJECTED:
            return (link.HOST.code, seq, ts, command[_NEW_SYMBOL], 0)
        if code == _REPLACE and first[_CODE] == _REJECTED and first[_REJECTED_REASON] in _STATELESS:
            # The front end checks a replace's quantity and price against the
            # order's symbol (the lane has no divider for the lot size).
            return (link.HOST.code, seq, ts, first[_REJECTED_SYMBOL], 0)
        if code == _MASS:
            scope, symbol = command[_MASS_SCOPE], command[_MASS_SYMBOL]
            symbol = ALL_SYMBOLS if scope == MassCancelScope.USER else symbol
            return (link.HOST.code, seq, ts, symbol, 1)
        if code == _ADMIN:
            return (link.HOST.code, seq, ts, command[_ADMIN_SYMBOL], 1)
        return command

    def reload(self):
        """LOAD and OWN records that give the symbol back to the lane, or []."""
        if self.owned or self.in_flight:
            return []
        book = self.ref.books[self.symbol]
        if book.halted or book.pending_stops:
            return []
        records, deep = [], [0, 0]
        for side in (0, 1):
            taken = 0
            for price, orders in book.orders_at(side):
                if taken + len(orders) > self.depth:
                    deep[side] = price
                    break
                taken += len(orders)
                records += [(link.LOAD.code, self.symbol) + _entry(o) for o in orders]
        self.owned = True
        self.deep = deep
        return records + [(link.OWN.code, self.symbol, deep[0], deep[1],
                           book.last_trade_price)]

    # -- the lane's output -----------------------------------------------------

    def observe(self, record):
        """Check one record the lane wrote."""
        if not self.in_flight:
            raise ScoreboardError(record[_SEQ], f"record with nothing in flight: {record}")
        entry = self.in_flight[0]
        seq, expected, snapshot, position, code = entry
        if record[_SEQ] != seq:
            raise ScoreboardError(seq, f"expected a record of seq {seq}, got {record}")
        kind = record[_CODE]
        if kind == _FLUSH:
            self.flushed.append(record)
            return
        if kind == _PUNT:
            self._punt(entry, record)
            return
        if kind == _SPILL:
            self._spill(entry, record)
            return
        if position >= len(expected):
            raise ScoreboardError(seq, f"extra event {record}")
        want = expected[position]
        got = record
        if kind in (_EXECUTED, _TRADE):
            if kind == _EXECUTED:
                self.lane_match_id += 1
            if record[_MATCH_ID] != self.lane_match_id:
                raise ScoreboardError(seq, f"lane match id {record[_MATCH_ID]}, expected "
                                           f"{self.lane_match_id}: {record}")
            got = (record[:_MATCH_ID] + (want[_MATCH_ID],) + record[_MATCH_ID + 1:]
                   if len(want) > _MATCH_ID else record)
        if got != want:
            raise ScoreboardError(seq, f"event {position}: got {got}, expected {want}")
        if self.spilled:
            self._spilled_whole_level(entry)
        entry[3] = position + 1
        if position + 1 == len(expected):
            self.coverage[(code[0], _outcome(expected), code[1])] += 1
            self.in_flight.popleft()

    def _spill(self, entry, record):
        """An evicted order: the next one from the worst end of the side, as it stood."""
        seq, expected, snapshot, position, code = entry
        if position or snapshot is None:
            raise ScoreboardError(seq, f"SPILL after events or while the host owns: {record}")
        side, price = record[_WINDOW_SIDE], record[_WINDOW_PRICE]
        window = snapshot[0][side]
        spilled = sum(1 for r in self.spilled if r[_WINDOW_SIDE] == side)
        want = (self.symbol, side) + window[-1 - spilled] if spilled < len(window) else None
        if record[_WINDOW_ENTRY:] != want:
            raise ScoreboardError(seq, f"spilled {record[_WINDOW_ENTRY:]}, window's worst {want}")
        self.spilled.append(record)
        self.deep[side] = price
        self.evictions += 1

    def _punt(self, entry, record):
        seq, expected, snapshot, position, code = entry
        if position:
            raise ScoreboardError(seq, f"PUNT after {position} events: {record}")
        reason = record[_PUNT_REASON]
        handover, last_price = record[_PUNT_HANDOVER], record[_PUNT_LAST_PRICE]
        self.punts[link.PuntReason(reason)] += 1
        self.coverage[(code[0], "handover" if handover else "punt", code[1])] += 1
        if handover:
            if not self.owned:
                raise ScoreboardError(seq, "handover of a symbol the lane does not own")
            books, last = snapshot
            for side in (0, 1):
                got = [r[_WINDOW_ENTRY:] for r in self.flushed if r[_WINDOW_SIDE] == side]
                want = [(self.symbol, side) + e for e in books[side]]
                if got != want[:len(got)] or (not self.deep[side] and len(got) != len(want)):
                    raise ScoreboardError(seq, f"flushed side {side}: {got}, book {want}")
            if last_price != last:
                raise ScoreboardError(seq, f"last price {last_price}, book {last}")
            self.owned = False
        elif self.flushed:
            raise ScoreboardError(seq, "FLUSH without handover")
        self.flushed = []
        self.in_flight.popleft()

    def _spilled_whole_level(self, entry):
        """The spill before a command's first event was one whole level of the window."""
        seq, snapshot = entry[0], entry[2]
        first = self.spilled[0]
        side, price = first[_WINDOW_SIDE], first[_WINDOW_PRICE]
        level = [e for e in snapshot[0][side] if e[_SNAPSHOT_PRICE] == price]
        if any(r[_WINDOW_PRICE] != price for r in self.spilled) or len(level) != len(self.spilled):
            raise ScoreboardError(seq, f"spilled {len(self.spilled)} orders, the window's "
                                       f"level at {price} has {len(level)}")
        self.spilled = []

    def _window(self):
        """'empty', 'partial' or 'full' for the lane's window now, or 'host'."""
        if not self.owned:
            return "host"
        counts = []
        book = self.ref.books[self.symbol]
        for side in (0, 1):
            deep = self.deep[side]
            counts.append(sum(len(orders) for price, orders in book.orders_at(side)
                              if not deep or (price > deep if side == 0 else price < deep)))
        if not any(counts):
            return "empty"
        return "full" if max(counts) >= self.depth else "partial"

    def _snapshot(self):
        book = self.ref.books[self.symbol]
        if not self.owned:
            return None
        sides = []
        for side in (0, 1):
            orders = []
            for _, level in book.orders_at(side):
                orders.extend(_entry(o)[1:] for o in level)
                if len(orders) >= self.depth:
                    break
            sides.append(orders[:self.depth])
        return sides, book.last_trade_price

    def done(self):
        """True when every routed command has been resolved."""
        return not self.in_flight


def _entry(order):
    """A window entry of a golden-model Order, as the LOAD/FLUSH tables order it."""
    return (order.side, order.order_id, order.user, order.order_type, order.tif,
            order.price, order.stop_price, order.qty, order.seq)


_KINDS = {(0, 0): "limit", (0, 1): "limit", (0, 2): "IOC", (0, 3): "FOK"}


def _kind(command):
    code = command[_CODE]
    if code == _NEW:
        order_type, tif = command[_NEW_ORDER_TYPE], command[_NEW_TIF]
        if order_type == 1:
            return "market"
        return "stop" if order_type >= 2 else _KINDS.get((0, tif), "limit")
    return {_CANCEL: "cancel", _REPLACE: "replace", _MASS: "mass cancel",
            _ADMIN: "admin"}.get(code, "other")


def _outcome(events):
    """What the golden model did with a command the lane handled."""
    kinds = [e[_CODE] for e in events]
    if kinds[0] == _REJECTED:
        return "reject"
    fills = [e for e in events if e[_CODE] == _EXECUTED]
    if fills:
        return "full fill" if fills[-1][_AGGRESSOR_LEAVES] == 0 else "partial fill"
    last = events[-1]
    if last[_CODE] == internal.CANCELLED.code and kinds[0] == internal.ACCEPTED.code:
        return "kill" if last[_CANCELLED_REASON] == CancelReason.FOK_KILL else "no fill"
    return "rest" if kinds[0] == internal.ACCEPTED.code else "done"


def coverage_table(coverage):
    """Text table: one row per command kind and outcome, counts per window state."""
    states = ("empty", "partial", "full", "host")
    rows = sorted({(kind, outcome) for kind, outcome, _ in coverage})
    lines = [f"{'command':<12} {'outcome':<13}" + "".join(f"{s:>9}" for s in states)]
    for kind, outcome in rows:
        lines.append(f"{kind:<12} {outcome:<13}" +
                     "".join(f"{coverage.get((kind, outcome, s), 0):>9}" for s in states))
    return "\n".join(lines)


class Feeder:
    """What a lane's input driver sends next: the flow, routed, with reloads between.

    The driver calls `peek()` for the record to present (None: nothing yet),
    `sent()` once the lane accepted it, and stops when `finished()`. While
    the symbol is the host's, the feeder waits for the lane to drain and then
    reloads it, so a flow exercises the fast path again after every handover.
    """

    def __init__(self, scoreboard, commands):
        self.scoreboard = scoreboard
        self.commands = iter(commands)
        self.queue = deque(scoreboard.start())
        self.exhausted = False

    def peek(self):
        sb = self.scoreboard
        if not self.queue and not sb.owned:
            if sb.in_flight:
                return None
            self.queue.extend(sb.reload())
        if not self.queue and not self.exhausted:
            command = next(self.commands, None)
            if command is None:
                self.exhausted = True
            else:
                self.queue.append(sb.route(command))
        return self.queue[0] if self.queue else None

    def sent(self):
        self.queue.popleft()

    def finished(self):
        return self.exhausted and not self.queue and self.scoreboard.done()
