"""The matcher's event writer: the state machine that writes a command's events.

The decision (hdl/matcher_decision.py) says which state a command starts in; from
there each state writes one beat per clock on the event port (one or two records,
formatted by hdl/matcher_events.py) and says where to go next. The states:

======== ==================================================================
IDLE     no command in progress: ready for one
ACCEPTED ACCEPTED of an order that trades, then its fills
ADDED    ACCEPTED + LEVEL of an order that rests without trading (one beat)
EVICT    one SPILL per clock of a full side's worst level, then ADDED
KILLED   ACCEPTED + CANCELLED of a FOK, IOC or market order that cannot trade
FILL     EXECUTED + TRADE of the first fill at a level
MORE     the level's next fill, or the LEVEL the fills left behind
LEVEL    the LEVEL of a level that changed (a remainder that rests, or the last fill's)
REMAINDER CANCELLED of an IOC's untraded remainder
CANCEL   CANCELLED + LEVEL of a window order (one beat)
REPLACED REPLACED + LEVEL of a quantity decrease (one beat)
FLUSH    one FLUSH per clock of the window's orders, best first, bids first
PUNT     PUNT: the command (and with a handover, the symbol) is the host's
======== ==================================================================

The clock that writes a command's last beat raises `final` and takes the next
command's start state, so the matcher accepts a command in that clock.
"""

from amaranth.hdl import Mux

from gatebook.wire import link
from gatebook.wire.enums import CancelReason

from .layouts import ENTRY
from .matcher_decision import Start
from .matcher_events import EventFormatter
from .matcher_records import entry_from_order
from .window import WindowOp

__all__ = ["EventWriter", "STATE_OF_START"]

STATE_OF_START = {start: ("IDLE" if start == Start.NONE else start.name) for start in Start}
"""The state each `Start` goes to ("IDLE": no event, ready for the next command)."""


class EventWriter:
    """Writes the events of the command in progress, one beat per clock.

    Parameters
    ----------
    m : Module
        The matcher's module: the writer drives the lane's registers and the
        windows' operations in it, beside the accepting clock's writes.
    lane : gatebook.hdl.matcher_lane.LaneRegisters
        The command in progress and the symbol's state.
    windows : gatebook.hdl.matcher_lane.WindowPair
    can_start : Signal
        Driven 1 while the writer can start the next command: idle, or in the clock
        that writes the last beat of the one in progress.
    events : stream.Interface of EVENT_PAIR
        The matcher's output, written here.
    start : Signal(Start)
        Where the command at the input starts, if it is accepted this clock.
    accepted : Value
        The command at the input is accepted this clock.
    final : Signal
        Driven 1 in the clock that writes the command's last beat.
    """

    def __init__(self, m, lane, windows, *, can_start, events, start, accepted, final):
        self.m, self.lane, self.windows = m, lane, windows
        self.can_start, self.events = can_start, events
        self.start, self.accepted, self.final = start, accepted, final

        # The beat on the event port: one record, or two with `two_records`.
        self.first_record = events.payload.first
        self.second_record = events.payload.second
        self.two_records = events.payload.pair
        self.beat_taken = events.valid & events.ready
        self.formatter = EventFormatter(m, lane.command)

        # The new order in progress is the aggressor; the book it trades against is
        # the opposite side's window, whose head is the next order it would hit.
        self.aggressor = lane.command.new_order
        self.aggressor_side = self.aggressor.side[0]
        self.opposite_side = ~self.aggressor_side
        bids, asks = windows.bids, windows.asks
        self.opposite_head = ENTRY(Mux(self.aggressor_side, bids.head.as_value(),
                                       asks.head.as_value()))
        self.opposite_head_valid = Mux(self.aggressor_side, bids.head_valid, asks.head_valid)
        self.opposite_crosses = self.opposite_head_valid & (
            lane.market | Mux(self.aggressor_side,
                              self.opposite_head.price >= self.aggressor.price,
                              self.opposite_head.price <= self.aggressor.price))
        # What rests of the aggressor once it has traded all it can (the matcher wires
        # it to the windows' `other_entry`; an insert of it says `use_other`).
        self.remainder_entry = entry_from_order(m, self.aggressor, lane.open_qty)

    def build(self):
        """Add the state machine to the module."""
        states = {"IDLE": self._idle, "ACCEPTED": self._accepted, "ADDED": self._added,
                  "EVICT": self._evict, "KILLED": self._killed, "FILL": self._first_fill,
                  "MORE": self._more_fills, "LEVEL": self._level, "REMAINDER": self._remainder,
                  "CANCEL": self._cancel, "REPLACED": self._replaced, "FLUSH": self._flush,
                  "PUNT": self._punt}
        assert set(STATE_OF_START.values()) <= set(states), "a start state without a writer"
        with self.m.FSM():
            for name, write in states.items():       # IDLE first: the reset state
                with self.m.State(name):
                    write()

    # -- moving on ---------------------------------------------------------------

    def _go_to_start(self):
        """Go to the state the command at the input starts in, if it is accepted."""
        m = self.m
        with m.If(self.accepted):
            with m.Switch(self.start):
                for value, state in STATE_OF_START.items():
                    with m.Case(value):
                        m.next = state

    def _finish(self):
        """This clock writes the command's last event: accept the next one."""
        self.m.d.comb += [self.final.eq(1), self.can_start.eq(1)]
        self.m.next = "IDLE"
        self._go_to_start()

    def _finish_when_taken(self):
        """This beat is the command's last: finish once the port takes it."""
        with self.m.If(self.beat_taken):
            self._finish()

    def _after_taking(self):
        """Next step once the aggressor has traded all it can at one level, or never."""
        m, lane = self.m, self.lane
        with m.If(lane.open_qty == 0):
            self._finish()
        with m.Elif(self.opposite_crosses):
            m.next = "FILL"
        with m.Elif(lane.rests):
            self.windows.update(self.aggressor_side, WindowOp.INSERT, use_other=1)
            m.d.sync += [lane.level_side.eq(self.aggressor_side),
                         lane.level_price.eq(self.aggressor.price),
                         lane.level_after_fill.eq(0)]
            m.next = "LEVEL"
        with m.Else():
            m.d.sync += lane.cancel_reason.eq(CancelReason.IOC_REMAINDER)
            m.next = "REMAINDER"

    # -- records -------------------------------------------------------------------

    def _level_event(self, record):
        """The LEVEL of (level_side, level_price) as the window holds it now."""
        lane, answer = self.lane, self.windows.answer
        self.formatter.level(record, symbol=lane.symbol, side=lane.level_side,
                             price=lane.level_price,
                             qty=answer(lane.level_side, "level_qty"),
                             orders=answer(lane.level_side, "level_orders"))

    def _cancelled_aggressor(self, record):
        """CANCELLED of what is left of the new order, for `cancel_reason`."""
        order, lane = self.aggressor, self.lane
        self.formatter.cancelled(record, symbol=order.symbol, order_id=order.order_id,
                                 user=order.user, qty=lane.open_qty, reason=lane.cancel_reason)

    def _fill_beat(self):
        """EXECUTED and TRADE of one fill against the opposite head, in one beat."""
        m, lane, head = self.m, self.lane, self.opposite_head
        fill_qty = Mux(lane.open_qty < head.qty, lane.open_qty, head.qty)
        m.d.comb += [self.events.valid.eq(1), self.two_records.eq(1)]
        self.formatter.fill(self.first_record.executed, self.second_record.trade,
                            match_id=lane.match_id + 1, order=self.aggressor,
                            side=self.aggressor_side, open_qty=lane.open_qty, resting=head,
                            qty=fill_qty)
        with m.If(self.beat_taken):
            m.d.sync += [lane.open_qty.eq(lane.open_qty - fill_qty),
                         lane.match_id.eq(lane.match_id + 1),
                         lane.fill_price.eq(head.price),
                         lane.last_price.eq(head.price),
                         lane.level_side.eq(self.opposite_side), lane.level_price.eq(head.price),
                         lane.level_after_fill.eq(1)]
            with m.If(fill_qty == head.qty):
                self.windows.update(self.opposite_side, WindowOp.REMOVE, index=0)
            with m.Else():
                self.windows.update(self.opposite_side, WindowOp.SET_QTY, index=0,
                                    qty=head.qty - fill_qty)
            m.next = "MORE"

    # -- the states ------------------------------------------------------------------

    def _idle(self):
        self.m.d.comb += self.can_start.eq(1)
        self._go_to_start()

    def _accepted(self):
        self.m.d.comb += self.events.valid.eq(1)
        self.formatter.accepted(self.first_record.accepted, self.aggressor)
        with self.m.If(self.beat_taken):
            self._after_taking()

    def _added(self):
        self.m.d.comb += [self.events.valid.eq(1), self.two_records.eq(1)]
        self.formatter.accepted(self.first_record.accepted, self.aggressor)
        self._level_event(self.second_record.level)
        self._finish_when_taken()

    def _evict(self):
        # One SPILL per clock from the worst end while it is at the evicted price;
        # then a clock that inserts the order, then its ADDED beat.
        m, lane, side = self.m, self.lane, self.aggressor_side
        tail = self.windows.entry(side, "tail")
        tail_index = self.windows.answer(side, "tail_index")
        side_has_orders = self.windows.answer(side, "head_valid")
        with m.If(side_has_orders & (tail.price == lane.evict_price)):
            m.d.comb += self.events.valid.eq(1)
            self.formatter.handed_entry(self.first_record.spill, link.SPILL, symbol=lane.symbol,
                                        side=side, entry=tail)
            with m.If(self.beat_taken):
                self.windows.update(side, WindowOp.REMOVE, index=tail_index)
        with m.Else():
            self.windows.update(side, WindowOp.INSERT, use_other=1)
            m.next = "ADDED"

    def _killed(self):
        self.m.d.comb += [self.events.valid.eq(1), self.two_records.eq(1)]
        self.formatter.accepted(self.first_record.accepted, self.aggressor)
        self._cancelled_aggressor(self.second_record.cancelled)
        self._finish_when_taken()

    def _first_fill(self):
        self._fill_beat()

    def _more_fills(self):
        """After a fill: the level's next order, or its LEVEL."""
        m, lane, head = self.m, self.lane, self.opposite_head
        with m.If((lane.open_qty != 0) & self.opposite_head_valid
                  & (head.price == lane.fill_price)):
            self._fill_beat()
        with m.Else():
            self._level_event(self.first_record.level)
            m.d.comb += self.events.valid.eq(1)
            with m.If(self.beat_taken):
                self._after_taking()

    def _level(self):
        m = self.m
        self._level_event(self.first_record.level)
        m.d.comb += self.events.valid.eq(1)
        with m.If(self.beat_taken):
            with m.If(self.lane.level_after_fill):
                self._after_taking()
            with m.Else():
                self._finish()

    def _remainder(self):
        self.m.d.comb += self.events.valid.eq(1)
        self._cancelled_aggressor(self.first_record.cancelled)
        self._finish_when_taken()

    def _cancel(self):
        lane, target = self.lane, self.lane.target_entry
        self.m.d.comb += [self.events.valid.eq(1), self.two_records.eq(1)]
        self.formatter.cancelled(self.first_record.cancelled, symbol=lane.symbol,
                                 order_id=target.order_id, user=target.user, qty=target.qty,
                                 reason=CancelReason.USER)
        self._level_event(self.second_record.level)
        self._finish_when_taken()

    def _replaced(self):
        lane = self.lane
        self.m.d.comb += [self.events.valid.eq(1), self.two_records.eq(1)]
        self.formatter.replaced(self.first_record.replaced, symbol=lane.symbol,
                                entry=lane.target_entry, qty=lane.command.replace.qty)
        self._level_event(self.second_record.level)
        self._finish_when_taken()

    def _flush(self):
        # The window's orders go to the host best first, bids before asks.
        m, bids, asks = self.m, self.windows.bids, self.windows.asks
        flush_side = ~bids.head_valid
        head = self.windows.entry(flush_side, "head")
        self.formatter.handed_entry(self.first_record.flush, link.FLUSH,
                                    symbol=self.lane.punt_symbol, side=flush_side, entry=head)
        with m.If(bids.head_valid | asks.head_valid):
            m.d.comb += self.events.valid.eq(1)
            with m.If(self.beat_taken):
                self.windows.update(flush_side, WindowOp.REMOVE, index=0)
        with m.Else():
            m.next = "PUNT"

    def _punt(self):
        lane = self.lane
        self.m.d.comb += self.events.valid.eq(1)
        self.formatter.punt(self.first_record.punt, symbol=lane.punt_symbol,
                            reason=lane.punt_reason, handover=lane.punt_handover,
                            last_price=lane.punt_last_price)
        self._finish_when_taken()
