"""The matching core: one symbol's window, commands in, events out.

Commands arrive on `i` as `gatebook.hdl.layouts.COMMAND` (the internal command records
plus the link records LOAD, OWN and HOST); events leave on `o` as
`gatebook.hdl.layouts.EVENT_PAIR` beats of one or two records, in exactly the order the
golden model (host/engine.py) emits them. The contract, including every punt
rule, is docs/hardware.md; in short:

- a command waits one clock in the input stage, where the windows compare its
  order id and user with every slot's, its limit, and a replace's price and
  quantity with every position's, and take its quantity off the shares its limit
  reaches, and the lane compares its price with the host's deep prices, all into
  registers (corrected for the window update at that clock's edge); then every
  decision about it is taken in one clock from those answers ("where is this
  order id, and whose", "is it short of shares", "is there room"), so a
  command that the core cannot finish inside its window is punted before any
  event is written. `idle` says the lane holds no command (`i.ready` is high
  while one waits in the stage);
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
- the next command is decided in the clock that writes the last beat of the
  previous one (and enters the stage then), so the initiation interval is the
  number of beats. No window
  changes in a command's last beat, which is what lets the next command's
  decision read the windows in that clock.

Match ids are lane-local (they count from 0 and the host's merger restamps
them exchange-wide); timestamps and sequence numbers come in the commands.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from gatebook.wire import link
from gatebook.wire.enums import CancelReason, OrderType, Side, TimeInForce

from .layouts import COMMAND, EVENT_PAIR
from .matcher_decision import DeepPrices, Decision, Start, target_field
from .matcher_lane import LaneRegisters, WindowPair
from .matcher_records import check_stamp_overlap, entry_from_order, entry_from_record
from .matcher_writer import EventWriter
from .window import Window, WindowOp

__all__ = ["Matcher"]


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
    idle : Out(1)
        No command in the lane, or only one whose last beat is on `o` now: what
        follows comes from commands not yet accepted. (`i.ready` alone does not
        say so: it is also high while a command waits in the input stage.)
    """

    i: In(stream.Signature(COMMAND))
    o: Out(stream.Signature(EVENT_PAIR))
    idle: Out(1)

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
        windows = WindowPair(m, bids, asks)
        lane = LaneRegisters()
        for window in (bids, asks):
            m.d.comb += window.level_price.eq(lane.level_price)

        # The input stage: a command waits here while the windows look its order id and
        # user up, compare its limit, a replace's price and quantity with every position
        # and sum the shares its limit reaches (`Window.next_*`, registered answers). The
        # next command comes in in the clock the writer starts the staged one, so back
        # to back II is unchanged and a command is in the lane no earlier than before:
        # one clock more from the port to its first event.
        staged = Signal(COMMAND)
        staged_valid = Signal()
        can_start = Signal()      # the writer is idle, or writes a command's last event
        arriving = self.i.valid & self.i.ready
        m.d.comb += [self.i.ready.eq(can_start), self.idle.eq(can_start & ~staged_valid)]
        with m.If(arriving):
            m.d.sync += [staged.eq(self.i.payload), staged_valid.eq(1)]
        with m.Elif(can_start):
            m.d.sync += staged_valid.eq(0)
        arriving_order = self.i.payload.new_order
        for window in (bids, asks):
            m.d.comb += [window.next_find_id.eq(target_field(self.i.payload, "order_id")),
                         window.next_find_user.eq(target_field(self.i.payload, "user")),
                         window.next_fit_price.eq(self.i.payload.replace.price),
                         window.next_fit_qty.eq(self.i.payload.replace.qty),
                         window.next_need.eq(arriving_order.qty),
                         window.next_limit.eq(arriving_order.price),
                         window.next_market.eq(arriving_order.order_type == OrderType.MARKET),
                         window.next_load.eq(arriving)]

        # The decision is taken on the staged command, in the clock that accepts it.
        deep = DeepPrices()
        m.submodules.decision = decision = Decision(
            staged, bids, asks, owned=lane.owned, symbol=lane.symbol, deep=deep,
            evict=self.evict)
        accept = Signal()
        final = Signal()          # this clock writes the command's last event
        m.d.comb += accept.eq(staged_valid & can_start)
        # The deep prices change only in an accepting clock (see `_on_accept`): an OWN
        # sets both, and the command behind it may be decided in the next clock; an
        # eviction sets one, but writes two beats at least, so the command behind it
        # is compared again with the new price while it waits.
        deep.register(m, Mux(arriving, arriving_order.price, staged.new_order.price),
                      kept=(lane.bid_deep, lane.ask_deep),
                      changes=[(accept & (staged.code == link.OWN.code),
                                staged.own.bid_deep, staged.own.ask_deep)])

        writer = EventWriter(m, lane, windows, can_start=can_start, events=self.o,
                             start=decision.start, accepted=accept, final=final)
        # What an insert puts in the window: the staged command's order (or LOAD's entry)
        # in the accepting clock, the aggressor's remainder in the writer's states. Both
        # are wired to both windows whatever happens, and the decision only says which
        # (`use_other`), so the windows' comparators on them start from registers.
        added = entry_from_order(m, staged.new_order, staged.new_order.qty)
        loaded = entry_from_record(m, staged.load)
        for window in (bids, asks):
            m.d.comb += [window.entry.eq(Mux(staged.code == link.LOAD.code, loaded.as_value(),
                                             added.as_value())),
                         window.other_entry.eq(writer.remainder_entry)]
        self._on_accept(m, staged, lane, windows, decision, accept)
        writer.build()
        return m

    def _on_accept(self, m, incoming, lane, windows, decision, accept):
        """Register the command and, for one-beat commands, change the window now."""
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
                windows.update(incoming_side, WindowOp.INSERT)
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
                windows.update(incoming.load.side[0], WindowOp.INSERT)
            with m.If(incoming.code == link.OWN.code):
                own = incoming.own
                m.d.sync += [lane.owned.eq(1), lane.symbol.eq(own.symbol),
                             lane.bid_deep.eq(own.bid_deep), lane.ask_deep.eq(own.ask_deep),
                             lane.last_price.eq(own.last_price)]
