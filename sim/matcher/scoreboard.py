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
from gatebook.host.engine import MatchingEngine

__all__ = ["Scoreboard", "ScoreboardError", "Feeder", "coverage_table"]

_NEW, _CANCEL, _REPLACE = internal.NEW_ORDER.code, internal.CANCEL.code, internal.REPLACE.code
_MASS, _ADMIN = internal.MASS_CANCEL.code, internal.ADMIN.code
_REJECTED, _EXECUTED, _TRADE = internal.REJECTED.code, internal.EXECUTED.code, internal.TRADE.code
_FLUSH, _SPILL, _PUNT = link.FLUSH.code, link.SPILL.code, link.PUNT.code
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
        code, seq, ts = command[0], command[1], command[2]
        self.in_flight.append([seq, events, snapshot, 0, (_kind(command), window)])
        if code == _NEW and events[0][0] == _REJECTED:
            return (link.HOST.code, seq, ts, command[3], 0)
        if code == _REPLACE and events[0][0] == _REJECTED and events[0][7] in _STATELESS:
            # The front end checks a replace's quantity and price against the
            # order's symbol (the lane has no divider for the lot size).
            return (link.HOST.code, seq, ts, events[0][4], 0)
        if code == _MASS:
            scope, symbol = command[3], command[5]
            symbol = ALL_SYMBOLS if scope == MassCancelScope.USER else symbol
            return (link.HOST.code, seq, ts, symbol, 1)
        if code == _ADMIN:
            return (link.HOST.code, seq, ts, command[4], 1)
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
            raise ScoreboardError(record[1], f"record with nothing in flight: {record}")
        entry = self.in_flight[0]
        seq, expected, snapshot, position, code = entry
        if record[1] != seq:
            raise ScoreboardError(seq, f"expected a record of seq {seq}, got {record}")
        kind = record[0]
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
            if record[4] != self.lane_match_id:
                raise ScoreboardError(seq, f"lane match id {record[4]}, expected "
                                           f"{self.lane_match_id}: {record}")
            got = record[:4] + (want[4],) + record[5:] if len(want) > 4 else record
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
        side, price = record[4], record[9]
        window = snapshot[0][side]
        spilled = sum(1 for r in self.spilled if r[4] == side)
        want = (self.symbol, side) + window[-1 - spilled] if spilled < len(window) else None
        if record[3:] != want:
            raise ScoreboardError(seq, f"spilled {record[3:]}, window's worst {want}")
        self.spilled.append(record)
        self.deep[side] = price
        self.evictions += 1

    def _punt(self, entry, record):
        seq, expected, snapshot, position, code = entry
        if position:
            raise ScoreboardError(seq, f"PUNT after {position} events: {record}")
        reason, handover, last_price = record[4], record[5], record[6]
        self.punts[link.PuntReason(reason)] += 1
        self.coverage[(code[0], "handover" if handover else "punt", code[1])] += 1
        if handover:
            if not self.owned:
                raise ScoreboardError(seq, "handover of a symbol the lane does not own")
            books, last = snapshot
            for side in (0, 1):
                got = [r[3:] for r in self.flushed if r[4] == side]
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
        side, price = self.spilled[0][4], self.spilled[0][9]
        level = [e for e in snapshot[0][side] if e[4] == price]
        if any(r[9] != price for r in self.spilled) or len(level) != len(self.spilled):
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
    code = command[0]
    if code == _NEW:
        order_type, tif = command[7], command[8]
        if order_type == 1:
            return "market"
        return "stop" if order_type >= 2 else _KINDS.get((0, tif), "limit")
    return {_CANCEL: "cancel", _REPLACE: "replace", _MASS: "mass cancel",
            _ADMIN: "admin"}.get(code, "other")


def _outcome(events):
    """What the golden model did with a command the lane handled."""
    kinds = [e[0] for e in events]
    if kinds[0] == _REJECTED:
        return "reject"
    fills = [e for e in events if e[0] == _EXECUTED]
    if fills:
        return "full fill" if fills[-1][10] == 0 else "partial fill"
    last = events[-1]
    if last[0] == internal.CANCELLED.code and kinds[0] == internal.ACCEPTED.code:
        return "kill" if last[7] == CancelReason.FOK_KILL else "no fill"
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
