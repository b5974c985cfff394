"""Several symbols behind one link: N matcher lanes, a router in front, an in-order merger behind.

# Ref: docs/hardware.md ("Several symbols per lane"), gatebook/wire/link.py (ROUTE).

`MultiLane(depth, lanes)` has the ports of one `gatebook.hdl.matcher.Matcher` (`i`, `o`,
`idle`), so the link endpoint takes either. Inside, N lanes each hold one symbol's
window (a register lane each: the one-clock insert and decision stay as they are):

- **symbol table.** A lane's home symbol is set by the first LOAD or OWN of a symbol no
  lane holds (the lowest free lane takes it) and kept until reset (a new host session).
  A LOAD or OWN of a new symbol when every lane has one is dropped and counted
  (`unrouted`): it would mix two symbols' orders in one window.
- **router.** A record that names a symbol a lane holds (NEW_ORDER, LOAD, OWN, HOST,
  MASS_CANCEL, ADMIN) goes to that lane. CANCEL and REPLACE name no symbol, and a HOST
  marker may name ALL_SYMBOLS: those, and anything naming a symbol no lane holds, go to
  the *selected* lane, which a ROUTE record sets (lane 0 after reset). So a hostile record
  is answered by one lane exactly as a single lane would answer it (an order for a
  symbol it does not own is PUNT NOT_OWNED, an unknown order id NOT_IN_WINDOW). ROUTE
  itself goes to no lane; one naming a symbol no lane holds is counted in `unrouted`.
- **one command per lane in flight.** A lane takes the next record only in the clock the
  merger takes the last beat of its previous command, or later. Then the lane's `idle`
  marks that last beat (idle with a beat on `o`), so the merger knows where each answer
  ends without reading the events; the price is one clock per command on a lane (the
  lane's input stage no longer overlaps the previous command's last beat: II = beats + 1).
  Commands for different lanes overlap.
- **in-order merger.** The lane of every record that writes (everything but LOAD and
  OWN) joins a queue as the record goes in; `o` carries the head lane's beats until its
  last one, then the next. So events leave in the order the commands came in, which is
  what lets the host tell whose they are, and the link's `answered` rule holds as for a
  single lane: `idle` is high only when every lane is idle and nothing is queued (or
  the one queued command's last beat is on `o`).

Router and merger are combinational: no clock is added between the record FIFO and a
lane, or between a lane and the transmitter.
"""

from amaranth.hdl import Array, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from gatebook.wire import internal, link

from .layouts import COMMAND, EVENT_PAIR
from .matcher import Matcher

__all__ = ["MultiLane", "SYMBOL_MEMBERS"]

# Union members whose record names a symbol, with their type codes (from the tables).
SYMBOL_MEMBERS = {message.name: message.code
                  for message in internal.COMMANDS.messages + link.LINK_COMMANDS.messages
                  if "symbol" in message.field_names and message.name in COMMAND.members}
_SILENT = (link.LOAD.code, link.OWN.code)      # records a lane takes without writing


class MultiLane(wiring.Component):
    """N matcher lanes behind one command stream and one event stream.

    Parameters
    ----------
    depth : int
        Orders per side in each lane's window.
    lanes : int
        How many lanes (symbols) the pipeline holds.
    evict : bool
        Build the lanes with eviction (`gatebook.hdl.matcher.Matcher`).

    Attributes
    ----------
    i : In(stream.Signature(COMMAND))
        Sequenced commands and link records (ROUTE included).
    o : Out(stream.Signature(EVENT_PAIR))
        Every lane's beats, each command's together, in the order the commands came in.
    idle : Out(1)
        No command in any lane, or only one whose last beat is on `o` now.
    unrouted : Out(32)
        Records no lane could take: LOAD or OWN of a new symbol with every lane taken,
        ROUTE to a symbol no lane holds.
    homes : Out(16).array(lanes)
        Each lane's home symbol (meaningful where `claimed`).
    claimed : Out(lanes)
        Which lanes have a home symbol.
    """

    def __init__(self, depth, lanes, *, evict=True):
        if lanes < 1:
            raise ValueError("a pipeline has at least one lane")
        self.depth = depth
        self.count = lanes
        self.evict = evict
        self.lanes = [Matcher(depth, evict=evict) for _ in range(lanes)]
        super().__init__({
            "i":        In(stream.Signature(COMMAND)),
            "o":        Out(stream.Signature(EVENT_PAIR)),
            "idle":     Out(1),
            "unrouted": Out(32),
            "homes":    Out(16).array(lanes),
            "claimed":  Out(lanes),
        })

    def elaborate(self, platform):
        m = Module()
        count, lanes = self.count, self.lanes
        for index, lane in enumerate(lanes):
            m.submodules[f"lane{index}"] = lane
        homes, claimed = self.homes, self.claimed
        busy = Signal(count)            # a lane's command has not written its last beat
        selected = Signal(range(count))
        target = self._route(m, selected)

        # -- the router: one record a clock, to its lane once that lane is free ------------
        code = self.i.payload.code
        is_route = code == link.ROUTE.code
        silent = (code == _SILENT[0]) | (code == _SILENT[1])
        # A lane is free once the merger takes its last beat: in that clock already.
        pop = Signal()
        head = Signal(range(count))
        finishing = pop & (head == target.lane)
        free = Array(lane.i.ready for lane in lanes)[target.lane] & (
            ~busy.bit_select(target.lane, 1) | finishing)
        m.d.comb += self.i.ready.eq(is_route | target.drop | free)
        issued = Signal()
        m.d.comb += issued.eq(self.i.valid & ~is_route & ~target.drop & free)
        for index, lane in enumerate(lanes):
            m.d.comb += [lane.i.payload.eq(self.i.payload),
                         lane.i.valid.eq(issued & (target.lane == index))]
        taken = self.i.valid & self.i.ready
        with m.If(taken & (target.drop | (is_route & ~target.held))):
            m.d.sync += self.unrouted.eq(self.unrouted + 1)
        with m.If(taken & is_route & target.held):
            m.d.sync += selected.eq(target.lane)
        with m.If(issued & target.claim):
            m.d.sync += [Array(homes)[target.lane].eq(target.symbol),
                         claimed.bit_select(target.lane, 1).eq(1)]

        # -- the order queue: the lane of each writing record, in arrival order -------------
        # Each lane has at most one command in flight, so `count` entries always suffice.
        order = Array(Signal(range(count), name=f"order{k}") for k in range(count))
        head_at, tail_at = Signal(range(count)), Signal(range(count))
        queued = Signal(range(count + 1))
        m.d.comb += head.eq(order[head_at])
        push = issued & ~silent

        def advance(pointer):
            return Mux(pointer == count - 1, 0, pointer + 1)

        with m.If(push):
            m.d.sync += [order[tail_at].eq(target.lane), tail_at.eq(advance(tail_at)),
                         busy.bit_select(target.lane, 1).eq(1)]
        with m.If(pop):
            m.d.sync += head_at.eq(advance(head_at))
        m.d.sync += queued.eq(queued + push - pop)

        # -- the merger: the head lane's beats until its last one -----------------------
        head_lane_valid = Array(lane.o.valid for lane in lanes)[head]
        head_lane_idle = Array(lane.idle for lane in lanes)[head]
        waiting = queued != 0
        m.d.comb += [
            self.o.valid.eq(waiting & head_lane_valid),
            self.o.payload.eq(Array(lane.o.payload for lane in lanes)[head]),
        ]
        for index, lane in enumerate(lanes):
            m.d.comb += lane.o.ready.eq(self.o.ready & waiting & (head == index))
        last_beat = head_lane_valid & head_lane_idle & self.o.ready
        # A command that wrote nothing (none does today) must not hold the queue forever.
        silent_end = ~head_lane_valid & head_lane_idle
        m.d.comb += pop.eq(waiting & (last_beat | silent_end))
        with m.If(pop & ~(push & (target.lane == head))):
            m.d.sync += busy.bit_select(head, 1).eq(0)

        all_idle = Const(1)
        for lane in lanes:
            all_idle = all_idle & lane.idle
        m.d.comb += self.idle.eq(all_idle & ((queued == 0)
                                             | ((queued == 1) & head_lane_valid)))
        return m

    def _route(self, m, selected):
        """Where the record at `i` goes: its symbol's lane, a lane to claim, or the selected one."""
        count, payload = self.count, self.i.payload
        target = _Target(count)
        names_symbol = Signal()
        with m.Switch(payload.code):
            for member, code in SYMBOL_MEMBERS.items():
                with m.Case(code):
                    m.d.comb += [target.symbol.eq(getattr(payload, member).symbol),
                                 names_symbol.eq(1)]
        hits = Signal(count)
        for index in range(count):
            m.d.comb += hits[index].eq(names_symbol & self.claimed[index]
                                       & (self.homes[index] == target.symbol))
        held_lane = Signal(range(count))
        for index in range(count):          # one-hot (a symbol has one lane) to a binary index
            with m.If(hits[index]):
                m.d.comb += held_lane.eq(index)
        free_lane = Signal(range(count))
        for index in reversed(range(count)):    # the lowest lane without a home
            with m.If(~self.claimed[index]):
                m.d.comb += free_lane.eq(index)
        code = payload.code
        loads = names_symbol & ((code == link.LOAD.code) | (code == link.OWN.code))
        any_free = ~self.claimed.all()
        m.d.comb += [
            target.held.eq(hits.any()),
            target.claim.eq(loads & ~target.held & any_free),
            target.drop.eq(loads & ~target.held & ~any_free),
            target.lane.eq(Mux(target.held, held_lane, Mux(target.claim, free_lane, selected))),
        ]
        return target


class _Target:
    """The router's answer for the record at the input."""

    def __init__(self, count):
        self.symbol = Signal(16)        # the symbol the record names
        self.held = Signal()            # a lane holds it
        self.claim = Signal()           # a LOAD or OWN of a new symbol takes a free lane
        self.drop = Signal()            # ... or finds none
        self.lane = Signal(range(count))
