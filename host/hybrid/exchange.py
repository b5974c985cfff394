"""The hybrid exchange: the golden engine on the host, hot symbols in hardware lanes.

`HybridExchange` owns a `MatchingEngine` for every symbol the host owns and
for the orders deeper than a lane's window, and one or more lanes behind
`LaneLink`s, each with a home symbol. For every stamped command, in sequence
order (docs/hardware.md, "Ownership, punts and order"):

- the front end (`FrontEnd`) predicts validation and finds a cancel's or
  replace's symbol; a command whose symbol a lane owns goes to that lane (a
  failing replace, a mass cancel or an admin command as a HOST marker), anything
  else is the host's; so is, with the policy's `host_keeps`, what the lane could
  only punt: a rejected order, a cancel or replace of an order the host holds,
  and a limit order resting at or behind the host's deeper orders (which the
  lane would answer by handing the whole window back);
- each command waits in one in-flight queue, in sequence order, until every
  lane it went to has answered: with its events, or with a PUNT (after the
  window's FLUSH records when the symbol's ownership comes back with it);
- the merger takes commands off the head of that queue: it rebuilds a
  handed-over symbol's book from the FLUSH records, processes punted and
  host-owned commands on the engine exactly there, restamps a lane's local
  match ids exchange-wide (the engine's counter is the exchange's), and
  hands every command's events to the subscribers in sequence order;
- before a command touches a lane's home symbol while the host owns it, the
  policy may load it back: the host waits until nothing touching the symbol is
  in flight, moves its best whole levels out of the engine's book into LOAD
  records and sends OWN.

So the merged event stream, and `state_hash()` (which takes every window
back first), are exactly the pure software engine's on the same commands;
tests/test_hybrid_equivalence.py checks that.
"""

from collections import Counter, deque
from operator import itemgetter

from gatebook.wire import internal, link
from gatebook.wire.enums import (ALL_SYMBOLS, AdminAction, MassCancelScope, OrderType, RejectReason,
                                 Side, TimeInForce)
from gatebook.wire.link import PuntReason
from gatebook.wire.positions import INTERNAL, LINK, require_field_order
from gatebook.host.book import ORDER_FIELDS, RestingOrder
from gatebook.host.engine import MatchingEngine, plain_command, stamp_reject_reason

from .frontend import FrontEnd
from .link import LinkError
from .policy import FitsWindow

__all__ = ["HybridExchange"]

_NEW, _CANCEL, _REPLACE = internal.NEW_ORDER.code, internal.CANCEL.code, internal.REPLACE.code
_MASS, _ADMIN = internal.MASS_CANCEL.code, internal.ADMIN.code
_ACCEPTED, _EXECUTED, _TRADE = internal.ACCEPTED.code, internal.EXECUTED.code, internal.TRADE.code
_LEVEL, _CANCELLED, _REJECTED = internal.LEVEL.code, internal.CANCELLED.code, internal.REJECTED.code
_LOAD, _OWN, _HOST = link.LOAD.code, link.OWN.code, link.HOST.code
_FLUSH, _SPILL, _PUNT = link.FLUSH.code, link.SPILL.code, link.PUNT.code
# Field positions in the record tuples, from the tables (gatebook.wire.positions).
_CODE, _SEQ, _TS = INTERNAL.NEW_ORDER.code, INTERNAL.NEW_ORDER.seq, INTERNAL.NEW_ORDER.ts
_NEW_SYMBOL, _NEW_SIDE = INTERNAL.NEW_ORDER.symbol, INTERNAL.NEW_ORDER.side
_NEW_ORDER_ID = INTERNAL.NEW_ORDER.order_id
# A cancel's or replace's order id and user, by its type byte.
_ORDER_ID_AT = {internal.CANCEL.code: INTERNAL.CANCEL.order_id,
                internal.REPLACE.code: INTERNAL.REPLACE.order_id}
_USER_AT = {internal.CANCEL.code: INTERNAL.CANCEL.user, internal.REPLACE.code: INTERNAL.REPLACE.user}
_MASS_SCOPE, _MASS_SYMBOL = INTERNAL.MASS_CANCEL.scope, INTERNAL.MASS_CANCEL.symbol
_ADMIN_ACTION, _ADMIN_SYMBOL = INTERNAL.ADMIN.action, INTERNAL.ADMIN.symbol
_EXECUTED_MATCH_ID = INTERNAL.EXECUTED.match_id
_EXECUTED_AGGRESSOR_LEAVES = INTERNAL.EXECUTED.aggressor_leaves
_TRADE_MATCH_ID = INTERNAL.TRADE.match_id
_ACCEPTED_ORDER_ID = INTERNAL.ACCEPTED.order_id
_LEVEL_SIDE = INTERNAL.LEVEL.side
_NEW_TYPE, _NEW_TIF, _NEW_PRICE = (INTERNAL.NEW_ORDER.order_type, INTERNAL.NEW_ORDER.tif,
                                   INTERNAL.NEW_ORDER.price)
_REPLACE_PRICE = INTERNAL.REPLACE.price
_CANCEL_ORDER_ID, _REPLACE_ORDER_ID = INTERNAL.CANCEL.order_id, INTERNAL.REPLACE.order_id
_ORDER_SIDE = ORDER_FIELDS.index("side")        # in the engine's order lists
_BUY, _LIMIT, _MARKET = int(Side.BUY), int(OrderType.LIMIT), int(OrderType.MARKET)
_RESTS = (int(TimeInForce.DAY), int(TimeInForce.GTC))
_LINK_SEQ = LINK.PUNT.seq
_PUNT_SYMBOL, _PUNT_REASON = LINK.PUNT.symbol, LINK.PUNT.reason
_PUNT_HANDOVER, _PUNT_LAST_PRICE = LINK.PUNT.handover, LINK.PUNT.last_price
# A FLUSH or SPILL record's fields in RestingOrder's order (FLUSH and SPILL carry the same).
_window_order_fields = itemgetter(*(getattr(LINK.FLUSH, "prio_seq" if name == "seq" else name)
                                    for name in RestingOrder._fields))
# Every record's seq and ts sit at the same index; the records built whole below
# are tied to their tables' order, so a table change stops the import.
assert all(positions.seq == _SEQ and positions.ts == _TS
           for positions in (INTERNAL.CANCEL, INTERNAL.REPLACE, INTERNAL.MASS_CANCEL, INTERNAL.ADMIN,
                             LINK.FLUSH, LINK.SPILL, LINK.PUNT)), "seq and ts moved in a table"
assert link.FLUSH.field_names == link.SPILL.field_names, "FLUSH and SPILL differ"
require_field_order(internal.REJECTED, ("seq", "ts", "command", "symbol", "order_id", "user",
                                        "reason"), __name__)
require_field_order(link.HOST, ("seq", "ts", "symbol", "handover"), __name__)
require_field_order(link.LOAD, ("symbol", "side", "order_id", "user", "order_type", "tif",
                                "price", "stop_price", "qty", "prio_seq"), __name__)
require_field_order(link.OWN, ("symbol", "bid_deep", "ask_deep", "last_price"), __name__)
_NOT_OWNER = int(PuntReason.NOT_OWNER)
_NOT_OWNER_REJECT = int(RejectReason.NOT_OWNER)
_SYMBOL_SCOPES = (int(MassCancelScope.SYMBOL), int(MassCancelScope.USER_SYMBOL))
_USER_SCOPE = int(MassCancelScope.USER)
_ADMIN_ACTIONS = {int(a) for a in AdminAction}
RECLAIM_SEQ = 0     # a HOST marker with this seq takes a window back without a command
# Commands before which the host may load their symbol (a mass cancel or an admin
# command would only hand it straight back).
_LOADS_BEFORE = (_NEW, _CANCEL, _REPLACE)
_U64 = (1 << 64) - 1
_LANE_WRITES_LINK = frozenset((_FLUSH, _SPILL, _PUNT))
_ARITY = {message.code: len(message.fields) + 1 for message in internal.COMMANDS.messages}
# The largest value each command field holds on the wire, from the tables.
_FIELD_MAX = {message.code: tuple((1 << field.bits) - 1 for field in message.fields)
              for message in internal.COMMANDS.messages}


class _Lane:
    __slots__ = ("index", "link", "send", "home", "symbol", "pending", "flushed", "match_next",
                 "idle", "loads", "handovers")

    def __init__(self, index, lane_link, home):
        self.index = index
        self.link = lane_link
        self.send = lane_link.send  # bound once: a record or two goes to it per command
        self.home = home
        self.symbol = None          # the symbol the host last gave it, until it comes back
        self.pending = deque()      # entries sent to the lane, in order, not yet answered
        self.flushed = []           # FLUSH records before the next PUNT
        self.match_next = 1         # the lane's next local match id
        self.idle = 0               # commands for `home` since it came back
        self.loads = 0
        self.handovers = 0


class _Entry:
    # A lane answers an entry once (its pending queue moves on), and an entry goes to a
    # lane at most once, so a count of the lanes still to answer stands for their set.
    __slots__ = ("command", "seq", "waiting", "events", "punts", "spills", "touched",
                 "reclaim", "kept")

    def __init__(self, command, seq, touched, reclaim=False):
        self.command = command
        self.seq = seq
        self.waiting = 0            # lanes that have not answered yet
        self.events = None          # events a lane wrote for it (a list, from the first)
        self.punts = None           # [(lane, PUNT record, FLUSH records before it)]
        self.spills = None          # [SPILL records before its events] (an eviction)
        self.touched = touched      # symbols whose book this command may read or change
        self.reclaim = reclaim
        self.kept = None            # the id of a new order the host keeps, until it is merged


class HybridExchange:
    """Host plus lanes, with the golden engine's interface: commands in, events out.

    Parameters
    ----------
    symbols : iterable of SymbolSpec
        The listed symbols.
    links : sequence of LaneLink
        The lanes.
    homes : sequence of int
        The symbol each lane (same index) matches when the host loads it.
    policy : object with ``should_load(book, depth, idle_commands)``
        When to load a home symbol back (default `FitsWindow()`).
    window : int
        Commands in flight before `submit` waits for the lanes.
    engine : MatchingEngine, optional
        Continue from this engine's state (a recovered one; the write-ahead
        log's) instead of an empty one. The lanes start empty: the host owns
        every book until its policy loads one.
    """

    def __init__(self, symbols, links, homes, *, policy=None, window=256, engine=None):
        symbols = tuple(symbols)
        if len(links) != len(homes) or len(set(homes)) != len(homes):
            raise ValueError("one distinct home symbol per lane")
        if engine is not None and engine.self_trade_prevention and links:
            # The lanes trade same-user orders; the golden engine with STP cancels
            # the newest. Equal event for event or not at all: refuse.
            raise ValueError("self-trade prevention is not in the matching lanes: with it on, "
                             "a lane would trade what the engine cancels; run the hybrid host "
                             "without it, or with no lanes")
        self.engine = engine if engine is not None else MatchingEngine(symbols)
        self.front = FrontEnd(symbols)
        if engine is not None:
            self.front.catch_up(engine)
        self.lanes = [_Lane(i, lane_link, home) for i, (lane_link, home)
                      in enumerate(zip(links, homes))]
        self.home_lane = {lane.home: lane for lane in self.lanes}
        self.owner = {}             # symbol -> lane, as the router sees it
        self.policy = policy or FitsWindow()
        self.window = window
        self.queue = deque()        # entries in sequence order
        self.touching = {}          # symbol -> entries in the queue that touch it (if any)
        # Each listed symbol's id as the one-symbol tuple routing returns (made once).
        self._symbol_ids = {symbol: (symbol,) for symbol in self.front.specs}
        self._all_symbols = tuple(self.front.specs)
        self.punts = Counter()      # PuntReason -> count
        self.lane_commands = 0      # commands a lane processed itself
        self.host_kept = 0          # commands of an owned symbol the host answered without the lane
        self.kept_sides = {}        # order id -> side: orders the host keeps, not merged yet
        self.evictions = 0          # orders lanes spilled to make room
        self._listeners = []

    # -- the seam ---------------------------------------------------------

    def subscribe(self, listener):
        """Call `listener(events)` with each command's events, in sequence order."""
        self._listeners.append(listener)

    def submit(self, command):
        """Route one sequenced command; its events reach the subscribers in order."""
        if type(command) is tuple or isinstance(command, (tuple, list)):
            if not _all_plain_ints(command):
                command = plain_command(command)    # IntEnum members as plain ints, as the engine
            elif type(command) is not tuple:
                command = tuple(command)
        symbols = self._symbols_of(command)
        home_lane = self.home_lane
        if symbols and home_lane and command[_CODE] in _LOADS_BEFORE:
            for symbol in symbols:
                lane = home_lane.get(symbol)
                if lane is not None and lane.symbol is None:
                    self._maybe_load(lane)
        owner = self.owner
        queue = self.queue
        if not queue and (not owner or _none_owned(owner, symbols)):
            self._apply_on_host(command, symbols)   # nothing in flight, no lane's symbol
            return
        entry = _Entry(command, command[_SEQ] if len(command) > _SEQ else 0, symbols)
        self._route(entry)
        queue.append(entry)
        touching = self.touching
        for symbol in symbols:
            touching[symbol] = touching.get(symbol, 0) + 1
        self._merge()
        if len(queue) >= self.window:
            self._pump()

    def _apply_on_host(self, command, symbols):
        """What routing and merging do for a host command with nothing in flight, directly."""
        self.front.advance(command)
        if len(symbols) == 1 and command[_CODE] != _MASS and command[_CODE] != _ADMIN:
            home = self.home_lane.get(symbols[0])
            if home is not None:
                home.idle += 1
        events = self.engine.apply(command)
        for listener in self._listeners:
            listener(events)

    def run(self, commands):
        """Submit every command, then wait for the last event."""
        for command in commands:
            self.submit(command)
        self.drain()

    def apply(self, command):
        """Process one command to the end; return its events (`MatchingEngine.apply`).

        Waits for the lanes before it returns, so a caller that decides
        something from each command's events (a gateway's replies) sees them
        as the golden engine would give them, at a round trip per command.
        `submit` and `subscribe` pipeline instead.
        """
        self.drain()
        caught = []
        self._listeners.append(caught.extend)
        try:
            self.submit(command)
            self.drain()
        finally:
            self._listeners.pop()
        return caught

    def drain(self):
        """Wait until every submitted command's events have been delivered."""
        while self.queue:
            self._pump()

    def state_hash(self):
        """The engine's state hash after taking every window back (no events)."""
        self.reclaim()
        return self.engine.state_hash()

    def reclaim(self):
        """Take every window back into the engine's books, then wait for it."""
        for lane in self.lanes:
            symbol = lane.symbol
            if symbol is None:
                continue
            entry = _Entry(None, RECLAIM_SEQ, (symbol,), True)
            self._send(lane, entry, (_HOST, RECLAIM_SEQ, 0, symbol, 1), symbol)
            self.queue.append(entry)
            self.touching[symbol] = self.touching.get(symbol, 0) + 1
        self.drain()

    def close(self):
        for lane in self.lanes:
            lane.link.close()

    # -- routing ----------------------------------------------------------

    def _symbols_of(self, command):
        """The symbols whose books `command` may touch (as the front end knows them).

        A malformed command touches none: the engine rejects it. Nor does one
        whose seq or ts does not fit 64 bits: the engine checks them first, so it
        rejects that command whatever else it says.
        """
        code = command[_CODE] if command else None
        try:
            if len(command) != _ARITY.get(code, -1):
                return ()
        except TypeError:                       # an unhashable type code: the engine's
            return ()
        if type(command) is tuple:              # its ints are plain ones already (`submit`)
            seq, ts = command[_SEQ], command[_TS]
            if type(seq) is not int or type(ts) is not int or not 0 <= seq <= _U64 \
                    or not 0 <= ts <= _U64:
                return ()
        elif stamp_reject_reason(command[_SEQ], command[_TS]):
            return ()
        try:
            return self._named_symbols(code, command)
        except TypeError:                       # an unhashable field: no symbol's
            return ()

    def _named_symbols(self, code, command):
        # A listed symbol by its spec's own id: a command's 1.0 or True finds symbol 1
        # in a dict, but only a plain int may go to a lane.
        symbol_ids = self._symbol_ids
        if code == _NEW:
            return symbol_ids.get(command[_NEW_SYMBOL], ())
        if code == _CANCEL:
            symbol = self.front.order_symbol.get(command[_CANCEL_ORDER_ID])
            return () if symbol is None else (symbol,)
        if code == _REPLACE:
            symbol = self.front.order_symbol.get(command[_REPLACE_ORDER_ID])
            return () if symbol is None else (symbol,)
        if code == _MASS:
            scope, symbol = command[_MASS_SCOPE], command[_MASS_SYMBOL]
            if scope == _USER_SCOPE:
                return self._all_symbols
            if scope in _SYMBOL_SCOPES:
                return symbol_ids.get(symbol, ())
            return ()
        if code == _ADMIN and command[_ADMIN_ACTION] in _ADMIN_ACTIONS:
            symbol = command[_ADMIN_SYMBOL]
            if symbol == ALL_SYMBOLS:
                return self._all_symbols
            return symbol_ids.get(symbol, ())
        return ()

    def _route(self, entry):
        command = entry.command
        accepted = self.front.advance(command)
        touched = entry.touched
        if not touched:
            return                              # the host's, malformed ones included
        code, seq, ts = command[_CODE], command[_SEQ], command[_TS]
        if code == _MASS or code == _ADMIN:
            target = ALL_SYMBOLS if len(touched) > 1 else None
            for symbol in touched:
                lane = self.owner.get(symbol)
                if lane is not None:
                    marker = (_HOST, seq, ts, target or symbol, 1)
                    self._send(lane, entry, marker, symbol)
            return
        symbol = touched[0]
        lane = self.owner.get(symbol)
        if lane is None:
            home = self.home_lane.get(symbol)
            if home is not None:
                home.idle += 1
            return
        lane.idle += 1
        new = code == _NEW
        if self.policy.host_keeps and self._lane_would_punt(code, command, accepted, symbol):
            self.host_kept += 1                 # the engine applies it at its place in the merge
            if new and accepted:
                entry.kept = command[_NEW_ORDER_ID]
                self.kept_sides[entry.kept] = command[_NEW_SIDE]
        elif new and not accepted:
            self._send(lane, entry, (_HOST, seq, ts, symbol, 0), None)
        elif new and command[_NEW_TYPE] == _MARKET and self.engine.books[symbol].protected:
            # The lane has no protection limit (docs/matching.md): the whole book answers.
            self._send(lane, entry, (_HOST, seq, ts, symbol, 1), symbol)
        elif not new and not _fits_wire(command) or \
                code == _REPLACE and self.front.replace_checks_fail(command):
            # A field the lane could misread (a bool id, a user out of range) or
            # a replace the lane cannot check: only the whole book can answer.
            self._send(lane, entry, (_HOST, seq, ts, symbol, 1), symbol)
        else:
            self._send(lane, entry, command, None)

    def _lane_would_punt(self, code, command, accepted, symbol):
        """True when the lane could only punt `command` and the host's books alone answer it.

        A rejected order changes no book. A cancel or replace names an order the
        host holds (deeper than the window: it stays there until the symbol is
        loaded again, which waits for this command). A limit order that rests at
        or behind the host's best deeper price on its side crosses nothing (every
        ask is above every bid, the host's included) and lands behind the window,
        where the lane would hand the whole window back (`BEYOND_WINDOW`); the
        host rests it instead, and the lane's deeper price stays right (the host's
        best on that side is no better than before). A replace of a host order to
        a price behind the host's best likewise; one that fails its checks the
        engine rejects.
        """
        if code == _NEW:
            if not accepted:
                return True
            if command[_NEW_TYPE] != _LIMIT or command[_NEW_TIF] not in _RESTS:
                return False
            side = command[_NEW_SIDE]
            return _behind(self.engine.books[symbol].best(side), side, command[_NEW_PRICE])
        order_id = command[_CANCEL_ORDER_ID if code == _CANCEL else _REPLACE_ORDER_ID]
        order = self.engine.orders.get(order_id)
        if order is not None:
            side = order[_ORDER_SIDE]
        else:
            kept_sides = self.kept_sides
            if not kept_sides:
                return False                    # in the window, or gone: the lane answers
            side = kept_sides.get(order_id)
            if side is None:
                return False
        if code == _CANCEL or not _fits_wire(command) or self.front.replace_checks_fail(command):
            return True
        return _behind(self.engine.books[symbol].best(side), side, command[_REPLACE_PRICE])

    def _send(self, lane, entry, record, handover):
        entry.waiting += 1
        lane.pending.append(entry)
        lane.send((record,))
        if handover is not None and self.owner.get(handover) is lane:
            # The lane gives the symbol back at this record, whatever it holds.
            del self.owner[handover]
            lane.symbol = None
            lane.idle = 0

    def _maybe_load(self, lane):
        symbol = lane.home
        book = self.engine.books[symbol]
        if self.front.halted[symbol] or book.halted or book.pending_stops or book.breaker:
            # The lane has no circuit breaker (docs/matching.md): a breaker's symbol stays here.
            return
        if not self.policy.should_load(book, lane.link.depth, lane.idle):
            return
        while self.touching.get(symbol, 0):
            self._pump()
        if book.halted or book.pending_stops:
            return
        orders, deep = self.engine.take_resting(symbol, lane.link.depth)
        lane.link.send([(_LOAD, symbol, o.side, o.order_id, o.user, o.order_type, o.tif,
                         o.price, o.stop_price, o.qty, o.seq) for o in orders]
                       + [(_OWN, symbol, deep[0], deep[1], book.last_trade_price)])
        self.owner[symbol] = lane
        lane.symbol = symbol
        lane.loads += 1

    # -- the lanes' output --------------------------------------------------

    def _pump(self):
        """Let every lane with work run, take in what they wrote, merge."""
        progressed = False
        for lane in self.lanes:
            if not lane.pending:
                continue
            for record in lane.link.run():
                self._receive(lane, record)
                progressed = True
        if not self._merge() and not progressed and self.queue:
            raise LinkError(f"seq {self.queue[0].seq}: no lane made progress")

    def _receive(self, lane, record):
        if not lane.pending:
            raise LinkError(f"lane {lane.index}: record with nothing in flight: {record}")
        entry = lane.pending[0]
        if record[_LINK_SEQ] != entry.seq:
            raise LinkError(f"lane {lane.index}: record for seq {record[_LINK_SEQ]} while seq "
                            f"{entry.seq} is in flight: {record}")
        kind = record[_CODE]
        if kind not in _LANE_WRITES_LINK:
            if kind == _EXECUTED:
                if record[_EXECUTED_MATCH_ID] != lane.match_next:
                    raise LinkError(f"seq {entry.seq}: lane {lane.index} match id "
                                    f"{record[_EXECUTED_MATCH_ID]}, "
                                    f"expected {lane.match_next}")
                lane.match_next += 1
            events = entry.events
            if events is None:
                events = entry.events = [record]
            else:
                events.append(record)
            if _finished(entry.command, events):
                lane.pending.popleft()
                entry.waiting -= 1
            return
        if kind == _FLUSH:
            lane.flushed.append(record)
            return
        if kind == _SPILL:
            if entry.events:
                raise LinkError(f"seq {entry.seq}: SPILL after events: {record}")
            if entry.spills is None:
                entry.spills = []
            entry.spills.append(record)
            return
        if kind == _PUNT:
            if entry.events:
                raise LinkError(f"seq {entry.seq}: PUNT after events: {record}")
            if lane.flushed and not record[_PUNT_HANDOVER]:
                raise LinkError(f"seq {entry.seq}: FLUSH without handover")
            if entry.punts is None:
                entry.punts = []
            entry.punts.append((lane, record, lane.flushed))
            lane.flushed = []
            lane.pending.popleft()
            entry.waiting -= 1

    def _merge(self):
        """Process and deliver every finished command at the head of the queue."""
        merged = False
        queue = self.queue
        touching = self.touching
        listeners = self._listeners
        while queue:
            entry = queue[0]
            if entry.waiting:
                break
            queue.popleft()
            merged = True
            events = self._resolve(entry)
            for symbol in entry.touched:
                touching[symbol] -= 1
            if entry.kept is not None:
                del self.kept_sides[entry.kept]
            if events is not None:
                for listener in listeners:
                    listener(events)
        return merged

    def _resolve(self, entry):
        engine = self.engine
        reject = False
        for lane, punt, flushed in entry.punts or ():
            self.punts[PuntReason(punt[_PUNT_REASON])] += 1
            if punt[_PUNT_HANDOVER]:
                symbol = punt[_PUNT_SYMBOL]
                engine.adopt_resting(symbol, [_flushed_order(r) for r in flushed],
                                     punt[_PUNT_LAST_PRICE])
                lane.handovers += 1
                if lane.symbol == symbol:
                    lane.symbol = None
                    lane.idle = 0
                if self.owner.get(symbol) is lane:
                    del self.owner[symbol]
            reject = reject or punt[_PUNT_REASON] == _NOT_OWNER
        if entry.reclaim:
            return None
        command = entry.command
        if entry.events is not None:
            if entry.spills is not None:
                # The worst level of a full side, newest first: the host's best now.
                spilled = [_flushed_order(r) for r in reversed(entry.spills)]
                engine.adopt_resting(spilled[0].symbol, spilled)
                self.evictions += len(entry.spills)
            self.lane_commands += 1
            return self._restamp(entry.events)
        if reject:
            # The lane found the order in its window under another user; the
            # engine, which does not hold window orders, would not know it.
            code = command[_CODE]
            return [(_REJECTED, command[_SEQ], command[_TS], code, 0,
                     command[_ORDER_ID_AT[code]], command[_USER_AT[code]], _NOT_OWNER_REJECT)]
        return engine.apply(command)

    def _restamp(self, events):
        """`events` (a lane's, for one command) with exchange-wide match ids, in place."""
        engine = self.engine
        lane_id = exchange_id = None
        for index in range(len(events)):
            event = events[index]
            kind = event[_CODE]
            if kind == _EXECUTED:
                lane_id = event[_EXECUTED_MATCH_ID]
                exchange_id = engine.external_execution()
                events[index] = (event[:_EXECUTED_MATCH_ID] + (exchange_id,)
                                 + event[_EXECUTED_MATCH_ID + 1:])
            elif kind == _TRADE:
                if event[_TRADE_MATCH_ID] != lane_id:
                    raise LinkError(f"seq {event[_SEQ]}: TRADE {event[_TRADE_MATCH_ID]} "
                                    f"after EXECUTED {lane_id}")
                events[index] = (event[:_TRADE_MATCH_ID] + (exchange_id,)
                                 + event[_TRADE_MATCH_ID + 1:])
            elif kind == _ACCEPTED:
                engine.note_order_id(event[_ACCEPTED_ORDER_ID])
        return events


def _behind(best, side, price):
    """True when `price` on `side` is at or behind the best level `best` (None: no level)."""
    if best is None:
        return False
    return price <= best[0] if side == _BUY else price >= best[0]


def _fits_wire(command):
    """True when every field is a plain int that fits its field in the command's table."""
    index = _CODE
    for most in _FIELD_MAX[command[_CODE]]:
        index += 1
        value = command[index]
        if type(value) is not int or not 0 <= value <= most:
            return False
    return True


def _all_plain_ints(command):
    """True when every field of `command` is a plain int (no IntEnum member, no bool)."""
    for value in command:
        if type(value) is not int:
            return False
    return True


def _none_owned(owner, symbols):
    """True when no symbol of `symbols` is in `owner` (a lane's)."""
    for symbol in symbols:
        if symbol in owner:
            return False
    return True


def _finished(command, events):
    """True when `events` are all a lane writes for `command` (docs/hardware.md)."""
    last = events[-1]
    kind = last[_CODE]
    if command[_CODE] != _NEW:
        return kind == _LEVEL                   # CANCELLED or REPLACED, then LEVEL
    if kind == _CANCELLED:
        return True                             # FOK kill, IOC or market remainder
    if kind != _LEVEL:
        return False
    if last[_LEVEL_SIDE] == command[_NEW_SIDE]:
        return True                             # the remainder rested
    for event in reversed(events):
        if event[_CODE] == _EXECUTED:
            return event[_EXECUTED_AGGRESSOR_LEAVES] == 0   # the aggressor's last fill filled it
    return False


def _flushed_order(record):
    """The RestingOrder of a FLUSH or SPILL record (gatebook.wire.link)."""
    return RestingOrder(*_window_order_fields(record))
