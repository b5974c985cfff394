"""The matching core: one symbol's window, commands in, events out.

Commands arrive on `i` as `gatebook.hdl.layouts.COMMAND` (the internal command records
plus the link records LOAD, OWN and HOST); events leave on `o` as
`gatebook.hdl.layouts.EVENT_PAIR` beats of one or two records, in exactly the order the
golden model (host/engine.py) emits them. The contract, including every punt
rule, is docs/hardware.md; in short:

- a command is accepted, and every decision about it is taken, in one clock:
  the windows answer "where is this order id", "how much could this order
  trade" and "is there room" combinationally, so a command that the core
  cannot finish inside its window is punted before any event is written;
- a command whose events fit one beat — a resting add (ACCEPTED+LEVEL), a
  cancel or quantity decrease (CANCELLED/REPLACED+LEVEL), a FOK kill or an
  IOC with nothing to hit (ACCEPTED+CANCELLED) — changes the window in the
  clock that accepts it, so its LEVEL reads the new level and the next
  command, accepted in the clock of that beat, sees the change: II = 1;
- an order that trades writes ACCEPTED, one beat per fill (EXECUTED+TRADE),
  one LEVEL per level it touched, then LEVEL (rest) or CANCELLED;
- an order that trades nothing and would rest better than a full side's worst
  level evicts that level first: one SPILL per order from the worst end, and
  the side's deep price becomes the evicted price (`evict=True`);
- the next command is accepted in the clock that writes the last beat of the
  previous one, so the initiation interval is the number of beats. No window
  changes in a command's last beat, which is what lets the next command's
  decision read the windows in that clock.

Match ids are lane-local (they count from 0 and the host's merger restamps
them exchange-wide); timestamps and sequence numbers come in the commands.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from gatebook.wire import link
from gatebook.wire.enums import CancelReason, Side, TimeInForce

from .layouts import COMMAND, ENTRY, EVENT_PAIR
from .matcher_decision import Decision, Start
from .matcher_events import EventFormatter
from .matcher_records import check_stamp_overlap, entry_from_order, entry_from_record
from .window import Window, WindowOp

__all__ = ["Matcher"]

# The FSM state each start goes to ("IDLE": no event, ready for the next command).
_STATE_OF_START = {start: ("IDLE" if start == Start.NONE else start.name) for start in Start}


class _Lane:
    """The registers of one lane: the symbol it owns and the command in progress."""

    def __init__(self):
        # -- ownership and per-symbol state --------------------------------------
        self.owned      = Signal()
        self.symbol     = Signal(16)
        self.bid_deep   = Signal(32)        # best price the host holds behind the window
        self.ask_deep   = Signal(32)
        self.last_price = Signal(32)
        self.match_id   = Signal(64)
        # -- the command in progress ---------------------------------------------
        self.command          = Signal(COMMAND)
        self.open_qty         = Signal(32)     # the aggressor's shares not yet traded
        self.market           = Signal()
        self.rests            = Signal()       # a remainder rests (limit DAY/GTC)
        self.punt_reason      = Signal(8)
        self.punt_handover    = Signal()
        self.punt_symbol      = Signal(16)
        self.punt_last_price  = Signal(32)
        self.fill_price       = Signal(32)     # the level the aggressor is trading at
        self.level_side       = Signal()       # the level the next LEVEL event reports
        self.level_price      = Signal(32)
        self.level_after_fill = Signal()       # that LEVEL closes a level the aggressor traded
        self.target_entry     = Signal(ENTRY)  # the window entry a cancel or replace acts on
        self.cancel_reason    = Signal(8)
        self.evict_price      = Signal(32)


class _Windows:
    """Both sides' windows, addressed by a side signal (0 bids, 1 asks)."""

    def __init__(self, m, bids, asks):
        self.m = m
        self.bids = bids
        self.asks = asks

    def answer(self, side, name):
        """Output `name` of the window on `side`."""
        return Mux(side, getattr(self.asks, name), getattr(self.bids, name))

    def update(self, side, op, **operands):
        """Apply `op` (a `WindowOp`) with `operands` to the window on `side` at the next edge."""
        for value, window in enumerate((self.bids, self.asks)):
            with self.m.If(side == value):
                self.m.d.comb += window.op.eq(op)
                for name, operand in operands.items():
                    self.m.d.comb += getattr(window, name).eq(operand)


class Matcher(wiring.Component):
    """The matching core for one hardware-owned symbol.

    Parameters
    ----------
    depth : int
        Orders per side in the window (N).
    evict : bool
        When an order that does not trade would rest in a full side, better
        than its worst level, give that level to the host (SPILL records) and
        keep the symbol, instead of handing the symbol over (WINDOW_FULL).

    Attributes
    ----------
    i : In(stream.Signature(COMMAND))
        Sequenced commands and link records.
    o : Out(stream.Signature(EVENT_PAIR))
        Events, FLUSH and PUNT records; two in one beat (`pair`) when a
        command's events fit one clock.
    """

    i: In(stream.Signature(COMMAND))
    o: Out(stream.Signature(EVENT_PAIR))

    def __init__(self, depth=16, *, evict=True):
        self.depth = depth
        self.evict = evict
        super().__init__()

    def elaborate(self, platform):
        # Events read `seq` and `ts` through one member of the command union;
        # that is only right while every stamped member puts them at the same bits.
        check_stamp_overlap(COMMAND)

        m = Module()
        m.submodules.bids = bids = Window(self.depth, Side.BUY)
        m.submodules.asks = asks = Window(self.depth, Side.SELL)
        windows = _Windows(m, bids, asks)
        lane = _Lane()
        for window in (bids, asks):
            m.d.comb += window.level_price.eq(lane.level_price)

        # The decision is taken on the command at the input, in the clock that accepts it.
        m.submodules.decision = decision = Decision(
            self.i.payload, bids, asks, owned=lane.owned, symbol=lane.symbol,
            bid_deep=lane.bid_deep, ask_deep=lane.ask_deep, evict=self.evict)
        accept = Signal()
        final = Signal()          # this clock writes the command's last event
        m.d.comb += accept.eq(self.i.valid & self.i.ready)

        self._on_accept(m, lane, windows, decision, accept)
        self._write_events(m, lane, windows, decision.start, accept, final)

        # The clock that writes a command's last event also accepts the next command.
        with m.If(final):
            m.d.comb += self.i.ready.eq(1)

        return m

    def _on_accept(self, m, lane, windows, decision, accept):
        """Register the command and, for one-beat commands, change the window now."""
        incoming = self.i.payload
        incoming_order = incoming.new_order
        start = decision.start
        incoming_side = decision.side
        with m.If(accept):
            handover = start == Start.FLUSH
            m.d.sync += [
                lane.command.eq(incoming), lane.open_qty.eq(incoming_order.qty),
                lane.market.eq(decision.market), lane.rests.eq(decision.rests),
                lane.punt_reason.eq(decision.punt_reason), lane.punt_handover.eq(handover),
                lane.punt_symbol.eq(Mux(handover, lane.symbol, 0)),
                lane.punt_last_price.eq(Mux(handover, lane.last_price, 0)),
                lane.target_entry.eq(decision.found_entry),
            ]
            with m.If(handover):
                m.d.sync += lane.owned.eq(0)
            # Commands whose events fit one beat change the window in the clock that
            # accepts them, so their LEVEL reads the new level and the next command,
            # accepted in the clock of that beat, already sees the change.
            with m.If(start == Start.ADDED):
                added = entry_from_order(m, incoming_order, incoming_order.qty)
                windows.update(incoming_side, WindowOp.INSERT, entry=added)
                m.d.sync += [lane.level_side.eq(incoming_side),
                             lane.level_price.eq(incoming_order.price)]
            with m.If(start == Start.EVICT):
                # The worst level becomes the first price the host holds on this side.
                worst_price = decision.own_tail.price
                m.d.sync += [lane.level_side.eq(incoming_side),
                             lane.level_price.eq(incoming_order.price),
                             lane.evict_price.eq(worst_price)]
                with m.If(incoming_side):
                    m.d.sync += lane.ask_deep.eq(worst_price)
                with m.Else():
                    m.d.sync += lane.bid_deep.eq(worst_price)
            with m.If(start == Start.KILLED):
                m.d.sync += lane.cancel_reason.eq(Mux(incoming_order.tif == TimeInForce.FOK,
                                                      CancelReason.FOK_KILL,
                                                      CancelReason.IOC_REMAINDER))
            with m.If(start == Start.CANCEL):
                windows.update(decision.found_side, WindowOp.REMOVE, index=decision.found_index)
                m.d.sync += [lane.level_side.eq(decision.found_side),
                             lane.level_price.eq(decision.found_entry.price)]
            with m.If(start == Start.REPLACED):
                windows.update(decision.found_side, WindowOp.SET_QTY,
                               index=decision.found_index, qty=incoming.replace.qty)
                m.d.sync += [lane.level_side.eq(decision.found_side),
                             lane.level_price.eq(decision.found_entry.price)]
            with m.If(incoming.code == link.LOAD.code):
                loaded = entry_from_record(m, incoming.load)
                windows.update(incoming.load.side[0], WindowOp.INSERT, entry=loaded)
            with m.If(incoming.code == link.OWN.code):
                own = incoming.own
                m.d.sync += [lane.owned.eq(1), lane.symbol.eq(own.symbol),
                             lane.bid_deep.eq(own.bid_deep), lane.ask_deep.eq(own.ask_deep),
                             lane.last_price.eq(own.last_price)]

    def _write_events(self, m, lane, windows, start, accept, final):
        """The state machine that writes a command's events, one beat per clock."""
        bids, asks = windows.bids, windows.asks
        window_answer, window_update = windows.answer, windows.update
        symbol, match_id, last_price = lane.symbol, lane.match_id, lane.last_price
        command, order, open_qty = lane.command, lane.command.new_order, lane.open_qty
        level_side, level_price = lane.level_side, lane.level_price
        level_after_fill, fill_price = lane.level_after_fill, lane.fill_price
        cancel_reason, target_entry = lane.cancel_reason, lane.target_entry

        def go_to_start():
            """Go to the state the command at the input starts in, if it is accepted."""
            with m.If(accept):
                with m.Switch(start):
                    for value, state in _STATE_OF_START.items():
                        with m.Case(value):
                            m.next = state

        def finish():
            """This clock writes the command's last event: accept the next one."""
            m.d.comb += final.eq(1)
            m.next = "IDLE"
            go_to_start()

        first = self.o.payload.first
        second = self.o.payload.second
        pair = self.o.payload.pair
        sent = self.o.valid & self.o.ready
        events = EventFormatter(m, command)
        side = order.side[0]
        opposite = ~side
        opposite_head = ENTRY(Mux(side, bids.head.as_value(), asks.head.as_value()))
        opposite_head_valid = Mux(side, bids.head_valid, asks.head_valid)
        opposite_crosses = opposite_head_valid & (
            lane.market | Mux(side, opposite_head.price >= order.price,
                              opposite_head.price <= order.price))
        remainder_entry = entry_from_order(m, order, open_qty)

        def level_event(record):
            """The LEVEL of (level_side, level_price) as the window holds it now."""
            events.level(record, symbol=symbol, side=level_side, price=level_price,
                         qty=window_answer(level_side, "level_qty"),
                         orders=window_answer(level_side, "level_orders"))

        def cancelled_order(record):
            """CANCELLED of what is left of the new order, for `cancel_reason`."""
            events.cancelled(record, symbol=order.symbol, order_id=order.order_id,
                             user=order.user, qty=open_qty, reason=cancel_reason)

        def last_beat():
            with m.If(sent):
                finish()

        def after_taking():
            """Next step once the aggressor has traded all it can at one level, or never."""
            with m.If(open_qty == 0):
                finish()
            with m.Elif(opposite_crosses):
                m.next = "FILL"
            with m.Elif(lane.rests):
                window_update(side, WindowOp.INSERT, entry=remainder_entry)
                m.d.sync += [level_side.eq(side), level_price.eq(order.price),
                             level_after_fill.eq(0)]
                m.next = "LEVEL"
            with m.Else():
                m.d.sync += cancel_reason.eq(CancelReason.IOC_REMAINDER)
                m.next = "REMAINDER"

        def fill_beat():
            """EXECUTED and TRADE of one fill against the opposite head, in one beat."""
            fill_qty = Mux(open_qty < opposite_head.qty, open_qty, opposite_head.qty)
            m.d.comb += [self.o.valid.eq(1), pair.eq(1)]
            events.fill(first.executed, second.trade, match_id=match_id + 1, order=order,
                        side=side, open_qty=open_qty, resting=opposite_head, qty=fill_qty)
            with m.If(sent):
                m.d.sync += [open_qty.eq(open_qty - fill_qty), match_id.eq(match_id + 1),
                             fill_price.eq(opposite_head.price),
                             last_price.eq(opposite_head.price),
                             level_side.eq(opposite), level_price.eq(opposite_head.price),
                             level_after_fill.eq(1)]
                with m.If(fill_qty == opposite_head.qty):
                    window_update(opposite, WindowOp.REMOVE, index=0)
                with m.Else():
                    window_update(opposite, WindowOp.SET_QTY, index=0,
                                  qty=opposite_head.qty - fill_qty)
                m.next = "MORE"

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.i.ready.eq(1)
                go_to_start()

            with m.State("ACCEPTED"):
                m.d.comb += self.o.valid.eq(1)
                events.accepted(first.accepted, order)
                with m.If(sent):
                    after_taking()

            with m.State("ADDED"):
                m.d.comb += [self.o.valid.eq(1), pair.eq(1)]
                events.accepted(first.accepted, order)
                level_event(second.level)
                last_beat()

            with m.State("EVICT"):
                # One SPILL per clock from the worst end while it is at the evicted
                # price; then a clock that inserts the order, then its ADDED beat.
                tail = ENTRY(Mux(side, asks.tail.as_value(), bids.tail.as_value()))
                tail_index = Mux(side, asks.tail_index, bids.tail_index)
                tail_valid = Mux(side, asks.head_valid, bids.head_valid)
                with m.If(tail_valid & (tail.price == lane.evict_price)):
                    m.d.comb += self.o.valid.eq(1)
                    events.handed_entry(first.spill, link.SPILL, symbol=symbol, side=side,
                                        entry=tail)
                    with m.If(sent):
                        window_update(side, WindowOp.REMOVE, index=tail_index)
                with m.Else():
                    window_update(side, WindowOp.INSERT, entry=remainder_entry)
                    m.next = "ADDED"

            with m.State("KILLED"):
                m.d.comb += [self.o.valid.eq(1), pair.eq(1)]
                events.accepted(first.accepted, order)
                cancelled_order(second.cancelled)
                last_beat()

            with m.State("FILL"):               # the first fill at a level
                fill_beat()

            with m.State("MORE"):               # after a fill: the level's next order, or its LEVEL
                with m.If((open_qty != 0) & opposite_head_valid
                          & (opposite_head.price == fill_price)):
                    fill_beat()
                with m.Else():
                    level_event(first.level)
                    m.d.comb += self.o.valid.eq(1)
                    with m.If(sent):
                        after_taking()

            with m.State("LEVEL"):
                level_event(first.level)
                m.d.comb += self.o.valid.eq(1)
                with m.If(sent):
                    with m.If(level_after_fill):
                        after_taking()
                    with m.Else():
                        finish()

            with m.State("REMAINDER"):
                m.d.comb += self.o.valid.eq(1)
                cancelled_order(first.cancelled)
                last_beat()

            with m.State("CANCEL"):
                m.d.comb += [self.o.valid.eq(1), pair.eq(1)]
                events.cancelled(first.cancelled, symbol=symbol, order_id=target_entry.order_id,
                                 user=target_entry.user, qty=target_entry.qty,
                                 reason=CancelReason.USER)
                level_event(second.level)
                last_beat()

            with m.State("REPLACED"):
                m.d.comb += [self.o.valid.eq(1), pair.eq(1)]
                events.replaced(first.replaced, symbol=symbol, entry=target_entry,
                                qty=command.replace.qty)
                level_event(second.level)
                last_beat()

            with m.State("FLUSH"):
                # The window's orders go to the host best first, bids before asks.
                flush_side = ~bids.head_valid
                head = ENTRY(Mux(flush_side, asks.head.as_value(), bids.head.as_value()))
                events.handed_entry(first.flush, link.FLUSH, symbol=lane.punt_symbol,
                                    side=flush_side, entry=head)
                with m.If(bids.head_valid | asks.head_valid):
                    m.d.comb += self.o.valid.eq(1)
                    with m.If(sent):
                        window_update(flush_side, WindowOp.REMOVE, index=0)
                with m.Else():
                    m.next = "PUNT"

            with m.State("PUNT"):
                m.d.comb += self.o.valid.eq(1)
                events.punt(first.punt, symbol=lane.punt_symbol, reason=lane.punt_reason,
                            handover=lane.punt_handover, last_price=lane.punt_last_price)
                last_beat()

