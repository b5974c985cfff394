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
from amaranth.lib import enum, stream, wiring
from amaranth.lib.wiring import In, Out

from gatebook.wire import internal, link
from gatebook.wire.enums import ALL_SYMBOLS, CancelReason, OrderType, Side, TimeInForce
from gatebook.wire.link import PuntReason

from .layouts import COMMAND, ENTRY, EVENT_PAIR
from .window import Window, WindowOp

__all__ = ["Matcher"]

_MARKET = int(OrderType.MARKET)
_STOP = int(OrderType.STOP)


class _Start(enum.Enum, shape=4):
    """The state a command starts in, decided in the clock that accepts it."""
    NONE     = 0   # LOAD, OWN: done in that clock, no event
    ACCEPTED = 1   # a new order that trades in the window
    CANCEL   = 2   # a cancel of a window order (removed in the accepting clock)
    PUNT     = 3   # PUNT without handover
    FLUSH    = 4   # FLUSH the window, then PUNT with handover
    REPLACED = 5   # a quantity decrease of a window order (set in the accepting clock)
    ADDED    = 6   # a new order that rests without trading (inserted in the accepting clock)
    KILLED   = 7   # a FOK that cannot fill, an IOC or market order with nothing to hit
    EVICT    = 8   # a new order that rests better than a full side's worst level: SPILL it


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
        m = Module()
        m.submodules.bids = bids = Window(self.depth, Side.BUY)
        m.submodules.asks = asks = Window(self.depth, Side.SELL)
        wins = (bids, asks)

        # -- ownership and per-symbol state ----------------------------------
        owned      = Signal()
        symbol     = Signal(16)
        bid_deep   = Signal(32)
        ask_deep   = Signal(32)
        last_price = Signal(32)
        match_id   = Signal(64)

        # -- the command in progress --------------------------------------------
        cmd        = Signal(COMMAND)
        no         = cmd.new_order
        rem        = Signal(32)           # aggressor's open quantity
        market     = Signal()
        rests      = Signal()             # a remainder rests (limit DAY/GTC)
        punt_why   = Signal(8)
        punt_hand  = Signal()
        punt_sym   = Signal(16)
        punt_last  = Signal(32)
        fill_price = Signal(32)
        lvl_side   = Signal()
        lvl_price  = Signal(32)
        lvl_fill   = Signal()             # the LEVEL closes a level the aggressor traded
        cxl_entry  = Signal(ENTRY)
        cancel_why = Signal(8)
        evict_price = Signal(32)

        def win(side, attr):
            return Mux(side, getattr(asks, attr), getattr(bids, attr))

        def win_do(side, op, **operands):
            for value, w in enumerate(wins):
                with m.If(side == value):
                    m.d.comb += w.op.eq(op)
                    for name, operand in operands.items():
                        m.d.comb += getattr(w, name).eq(operand)

        # -- decisions, taken on the command at the input -----------------------
        p = self.i.payload
        pn = p.new_order
        in_side = pn.side[0]
        in_market = pn.order_type == _MARKET
        for w in wins:
            m.d.comb += [w.limit.eq(pn.price), w.market.eq(in_market),
                         w.find_id.eq(p.cancel.order_id), w.level_price.eq(lvl_price)]
        opp_cross = Mux(in_side, bids.cross_qty, asks.cross_qty)
        short = opp_cross < pn.qty
        opp_deep = Mux(in_side, bid_deep, ask_deep)
        own_deep = Mux(in_side, ask_deep, bid_deep)
        reach_deep = (opp_deep != 0) & (in_market | Mux(in_side, opp_deep >= pn.price,
                                                        opp_deep <= pn.price))
        in_rests = ~in_market & ((pn.tif == TimeInForce.DAY) | (pn.tif == TimeInForce.GTC))
        own_full = Mux(in_side, asks.full, bids.full)
        own_tail = ENTRY(Mux(in_side, asks.tail.as_value(), bids.tail.as_value()))
        evictable = (opp_cross == 0) & Mux(in_side, pn.price < own_tail.price,
                                           pn.price > own_tail.price)
        if not self.evict:
            evictable = 0
        behind_deep = (own_deep != 0) & Mux(in_side, pn.price >= own_deep, pn.price <= own_deep)
        found_side = ~bids.found              # meaningful when either found
        found_any = bids.found | asks.found
        found_entry = ENTRY(Mux(bids.found, bids.found_entry.as_value(),
                                asks.found_entry.as_value()))
        found_index = Mux(bids.found, bids.found_index, asks.found_index)
        hp = p.host
        host_hand = hp.handover[0] & owned & ((hp.symbol == symbol) | (hp.symbol == ALL_SYMBOLS))

        # Which state the command at the input starts in ("IDLE": no event).
        start = Signal(_Start)
        why = Signal(8)
        with m.Switch(p.code):
            with m.Case(internal.NEW_ORDER.code):
                with m.If(~owned | (pn.symbol != symbol)):
                    m.d.comb += [start.eq(_Start.PUNT), why.eq(PuntReason.NOT_OWNED)]
                with m.Elif(pn.order_type >= _STOP):
                    m.d.comb += [start.eq(_Start.FLUSH), why.eq(PuntReason.STOP)]
                with m.Elif(short & reach_deep):
                    m.d.comb += [start.eq(_Start.FLUSH), why.eq(PuntReason.SWEEP)]
                with m.Elif(short & in_rests & own_full & evictable):
                    m.d.comb += start.eq(_Start.EVICT)
                with m.Elif(short & in_rests & own_full):
                    m.d.comb += [start.eq(_Start.FLUSH), why.eq(PuntReason.WINDOW_FULL)]
                with m.Elif(short & in_rests & behind_deep):
                    m.d.comb += [start.eq(_Start.FLUSH), why.eq(PuntReason.BEYOND_WINDOW)]
                with m.Elif(short & (pn.tif == TimeInForce.FOK)):
                    m.d.comb += start.eq(_Start.KILLED)
                with m.Elif(opp_cross == 0):
                    m.d.comb += start.eq(Mux(in_rests, _Start.ADDED, _Start.KILLED))
                with m.Else():
                    m.d.comb += start.eq(_Start.ACCEPTED)
            with m.Case(internal.CANCEL.code):
                with m.If(~found_any):
                    m.d.comb += [start.eq(_Start.PUNT), why.eq(PuntReason.NOT_IN_WINDOW)]
                with m.Elif(found_entry.user != p.cancel.user):
                    m.d.comb += [start.eq(_Start.PUNT), why.eq(PuntReason.NOT_OWNER)]
                with m.Else():
                    m.d.comb += start.eq(_Start.CANCEL)
            with m.Case(internal.REPLACE.code):
                rp = p.replace
                with m.If(found_any & (found_entry.user != rp.user)):
                    m.d.comb += [start.eq(_Start.PUNT), why.eq(PuntReason.NOT_OWNER)]
                with m.Elif(found_any & (rp.price == found_entry.price) & (rp.qty != 0)
                            & (rp.qty <= found_entry.qty)):
                    m.d.comb += start.eq(_Start.REPLACED)   # quantity decrease: keeps priority
                # Any other replace, even of one of the host's deeper orders, may move
                # an order into the window, so the whole symbol goes with it.
                with m.Elif(owned):
                    m.d.comb += [start.eq(_Start.FLUSH), why.eq(PuntReason.REPLACE)]
                with m.Else():
                    m.d.comb += [start.eq(_Start.PUNT), why.eq(PuntReason.NOT_OWNED)]
            with m.Case(link.LOAD.code, link.OWN.code):
                m.d.comb += start.eq(_Start.NONE)
            with m.Case(link.HOST.code):
                m.d.comb += [start.eq(Mux(host_hand, _Start.FLUSH, _Start.PUNT)),
                             why.eq(PuntReason.HOST)]
            with m.Default():       # mass cancel, admin, unknown: the host's, with the book
                m.d.comb += [start.eq(Mux(owned, _Start.FLUSH, _Start.PUNT)),
                             why.eq(PuntReason.HOST)]

        final = Signal()          # this clock writes the command's last event
        accept = Signal()
        m.d.comb += [
            accept.eq(self.i.valid & self.i.ready),
        ]

        with m.If(accept):
            m.d.sync += [
                cmd.eq(p), rem.eq(pn.qty), market.eq(in_market),
                rests.eq(in_rests),
                punt_why.eq(why), punt_hand.eq(start == _Start.FLUSH),
                punt_sym.eq(Mux(start == _Start.FLUSH, symbol, 0)),
                punt_last.eq(Mux(start == _Start.FLUSH, last_price, 0)),
                cxl_entry.eq(found_entry),
            ]
            with m.If(start == _Start.FLUSH):
                m.d.sync += owned.eq(0)
            # Commands whose events fit one beat change the window in the clock that
            # accepts them, so their LEVEL reads the new level and the next command,
            # accepted in the clock of that beat, already sees the change.
            with m.If(start == _Start.ADDED):
                added = Signal(ENTRY)
                m.d.comb += [
                    added.order_id.eq(pn.order_id), added.user.eq(pn.user),
                    added.order_type.eq(pn.order_type), added.tif.eq(pn.tif),
                    added.price.eq(pn.price), added.stop_price.eq(pn.stop_price),
                    added.qty.eq(pn.qty), added.prio_seq.eq(pn.seq),
                ]
                win_do(in_side, WindowOp.INSERT, entry=added)
                m.d.sync += [lvl_side.eq(in_side), lvl_price.eq(pn.price)]
            with m.If(start == _Start.EVICT):
                # The worst level becomes the first price the host holds on this side.
                m.d.sync += [lvl_side.eq(in_side), lvl_price.eq(pn.price),
                             evict_price.eq(own_tail.price)]
                with m.If(in_side):
                    m.d.sync += ask_deep.eq(own_tail.price)
                with m.Else():
                    m.d.sync += bid_deep.eq(own_tail.price)
            with m.If(start == _Start.KILLED):
                m.d.sync += cancel_why.eq(Mux(pn.tif == TimeInForce.FOK, CancelReason.FOK_KILL,
                                              CancelReason.IOC_REMAINDER))
            with m.If(start == _Start.CANCEL):
                win_do(found_side, WindowOp.REMOVE, index=found_index)
                m.d.sync += [lvl_side.eq(found_side), lvl_price.eq(found_entry.price)]
            with m.If(start == _Start.REPLACED):
                win_do(found_side, WindowOp.SET_QTY, index=found_index, qty=p.replace.qty)
                m.d.sync += [lvl_side.eq(found_side), lvl_price.eq(found_entry.price)]
            with m.If(p.code == link.LOAD.code):
                entry = Signal(ENTRY)
                m.d.comb += [entry[name].eq(p.load[name]) for name in ENTRY.members]
                win_do(p.load.side[0], WindowOp.INSERT, entry=entry)
            with m.If(p.code == link.OWN.code):
                op = p.own
                m.d.sync += [owned.eq(1), symbol.eq(op.symbol), bid_deep.eq(op.bid_deep),
                             ask_deep.eq(op.ask_deep), last_price.eq(op.last_price)]

        def go_start():
            with m.If(accept):
                with m.Switch(start):
                    with m.Case(_Start.NONE):
                        m.next = "IDLE"
                    with m.Case(_Start.ACCEPTED):
                        m.next = "ACCEPTED"
                    with m.Case(_Start.CANCEL):
                        m.next = "CANCEL"
                    with m.Case(_Start.PUNT):
                        m.next = "PUNT"
                    with m.Case(_Start.FLUSH):
                        m.next = "FLUSH"
                    with m.Case(_Start.REPLACED):
                        m.next = "REPLACED"
                    with m.Case(_Start.ADDED):
                        m.next = "ADDED"
                    with m.Case(_Start.KILLED):
                        m.next = "KILLED"
                    with m.Case(_Start.EVICT):
                        m.next = "EVICT"

        # -- events --------------------------------------------------------------
        o = self.o.payload.first
        o2 = self.o.payload.second
        pair = self.o.payload.pair
        xfer = self.o.valid & self.o.ready
        side = no.side[0]
        opp = ~side
        opp_head = ENTRY(Mux(side, bids.head.as_value(), asks.head.as_value()))
        opp_head_valid = Mux(side, bids.head_valid, asks.head_valid)
        opp_crosses = opp_head_valid & (market | Mux(side, opp_head.price >= no.price,
                                                     opp_head.price <= no.price))
        own_entry = Signal(ENTRY)
        m.d.comb += [
            own_entry.order_id.eq(no.order_id), own_entry.user.eq(no.user),
            own_entry.order_type.eq(no.order_type), own_entry.tif.eq(no.tif),
            own_entry.price.eq(no.price), own_entry.stop_price.eq(no.stop_price),
            own_entry.qty.eq(rem), own_entry.prio_seq.eq(no.seq),
        ]

        def common(record):
            m.d.comb += [record.seq.eq(cmd.cancel.seq), record.ts.eq(cmd.cancel.ts)]

        def level_event(record):
            """The LEVEL of (lvl_side, lvl_price) as the window holds it now."""
            common(record)
            m.d.comb += [
                record.code.eq(internal.LEVEL.code),
                record.symbol.eq(symbol), record.side.eq(lvl_side), record.price.eq(lvl_price),
                record.qty.eq(win(lvl_side, "level_qty")),
                record.orders.eq(win(lvl_side, "level_orders")),
            ]

        def last_beat():
            with m.If(xfer):
                m.d.comb += final.eq(1)
                m.next = "IDLE"
                go_start()

        def after_taking():
            """Next step once the aggressor has traded all it can at one level, or never."""
            with m.If(rem == 0):
                m.d.comb += final.eq(1)
                m.next = "IDLE"
                go_start()
            with m.Elif(opp_crosses):
                m.next = "FILL"
            with m.Elif(rests):
                win_do(side, WindowOp.INSERT, entry=own_entry)
                m.d.sync += [lvl_side.eq(side), lvl_price.eq(no.price), lvl_fill.eq(0)]
                m.next = "LEVEL"
            with m.Else():
                m.d.sync += cancel_why.eq(CancelReason.IOC_REMAINDER)
                m.next = "REMAINDER"

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.i.ready.eq(1)
                go_start()

            with m.State("ACCEPTED"):
                m.d.comb += [self.o.valid.eq(1), o.accepted.eq(no.as_value()),
                             o.accepted.code.eq(internal.ACCEPTED.code)]
                with m.If(xfer):
                    after_taking()

            with m.State("ADDED"):
                m.d.comb += [self.o.valid.eq(1), pair.eq(1), o.accepted.eq(no.as_value()),
                             o.accepted.code.eq(internal.ACCEPTED.code)]
                level_event(o2.level)
                last_beat()

            with m.State("EVICT"):
                # One SPILL per clock from the worst end while it is at the evicted
                # price; then a clock that inserts the order, then its ADDED beat.
                tail = ENTRY(Mux(side, asks.tail.as_value(), bids.tail.as_value()))
                tail_index = Mux(side, asks.tail_index, bids.tail_index)
                tail_valid = Mux(side, asks.head_valid, bids.head_valid)
                with m.If(tail_valid & (tail.price == evict_price)):
                    sp = o.spill
                    common(sp)
                    m.d.comb += [
                        self.o.valid.eq(1), sp.code.eq(link.SPILL.code),
                        sp.symbol.eq(symbol), sp.side.eq(side),
                        sp.order_id.eq(tail.order_id), sp.user.eq(tail.user),
                        sp.order_type.eq(tail.order_type), sp.tif.eq(tail.tif),
                        sp.price.eq(tail.price), sp.stop_price.eq(tail.stop_price),
                        sp.qty.eq(tail.qty), sp.prio_seq.eq(tail.prio_seq),
                    ]
                    with m.If(xfer):
                        win_do(side, WindowOp.REMOVE, index=tail_index)
                with m.Else():
                    win_do(side, WindowOp.INSERT, entry=own_entry)
                    m.next = "ADDED"

            with m.State("KILLED"):
                cx = o2.cancelled
                common(cx)
                m.d.comb += [
                    self.o.valid.eq(1), pair.eq(1), o.accepted.eq(no.as_value()),
                    o.accepted.code.eq(internal.ACCEPTED.code),
                    cx.code.eq(internal.CANCELLED.code), cx.symbol.eq(no.symbol),
                    cx.order_id.eq(no.order_id), cx.user.eq(no.user), cx.qty.eq(rem),
                    cx.reason.eq(cancel_why),
                ]
                last_beat()

            def fill_beat():
                """EXECUTED and TRADE of one fill against the opposite head, in one beat."""
                fill = Mux(rem < opp_head.qty, rem, opp_head.qty)
                ex, tr = o.executed, o2.trade
                common(ex)
                common(tr)
                m.d.comb += [
                    self.o.valid.eq(1), pair.eq(1), ex.code.eq(internal.EXECUTED.code),
                    ex.symbol.eq(no.symbol), ex.match_id.eq(match_id + 1),
                    ex.price.eq(opp_head.price), ex.qty.eq(fill),
                    ex.aggressor_side.eq(side), ex.aggressor_id.eq(no.order_id),
                    ex.aggressor_user.eq(no.user), ex.aggressor_leaves.eq(rem - fill),
                    ex.resting_id.eq(opp_head.order_id), ex.resting_user.eq(opp_head.user),
                    ex.resting_leaves.eq(opp_head.qty - fill),
                    tr.code.eq(internal.TRADE.code), tr.symbol.eq(no.symbol),
                    tr.match_id.eq(match_id + 1), tr.price.eq(opp_head.price), tr.qty.eq(fill),
                    tr.aggressor_side.eq(side),
                ]
                with m.If(xfer):
                    m.d.sync += [rem.eq(rem - fill), match_id.eq(match_id + 1),
                                 fill_price.eq(opp_head.price), last_price.eq(opp_head.price),
                                 lvl_side.eq(opp), lvl_price.eq(opp_head.price), lvl_fill.eq(1)]
                    with m.If(fill == opp_head.qty):
                        win_do(opp, WindowOp.REMOVE, index=0)
                    with m.Else():
                        win_do(opp, WindowOp.SET_QTY, index=0, qty=opp_head.qty - fill)
                    m.next = "MORE"

            with m.State("FILL"):               # the first fill at a level
                fill_beat()

            with m.State("MORE"):               # after a fill: the level's next order, or its LEVEL
                with m.If((rem != 0) & opp_head_valid & (opp_head.price == fill_price)):
                    fill_beat()
                with m.Else():
                    level_event(o.level)
                    m.d.comb += self.o.valid.eq(1)
                    with m.If(xfer):
                        after_taking()

            with m.State("LEVEL"):
                level_event(o.level)
                m.d.comb += self.o.valid.eq(1)
                with m.If(xfer):
                    with m.If(lvl_fill):
                        after_taking()
                    with m.Else():
                        m.d.comb += final.eq(1)
                        m.next = "IDLE"
                        go_start()

            with m.State("REMAINDER"):
                cx = o.cancelled
                common(cx)
                m.d.comb += [
                    self.o.valid.eq(1), cx.code.eq(internal.CANCELLED.code),
                    cx.symbol.eq(no.symbol), cx.order_id.eq(no.order_id), cx.user.eq(no.user),
                    cx.qty.eq(rem), cx.reason.eq(cancel_why),
                ]
                with m.If(xfer):
                    m.d.comb += final.eq(1)
                    m.next = "IDLE"
                    go_start()

            with m.State("CANCEL"):
                cx = o.cancelled
                common(cx)
                m.d.comb += [
                    self.o.valid.eq(1), pair.eq(1), cx.code.eq(internal.CANCELLED.code),
                    cx.symbol.eq(symbol), cx.order_id.eq(cxl_entry.order_id),
                    cx.user.eq(cxl_entry.user), cx.qty.eq(cxl_entry.qty),
                    cx.reason.eq(CancelReason.USER),
                ]
                level_event(o2.level)
                last_beat()

            with m.State("REPLACED"):
                rd = o.replaced
                common(rd)
                m.d.comb += [
                    self.o.valid.eq(1), pair.eq(1), rd.code.eq(internal.REPLACED.code),
                    rd.symbol.eq(symbol), rd.order_id.eq(cxl_entry.order_id),
                    rd.user.eq(cxl_entry.user), rd.price.eq(cxl_entry.price),
                    rd.qty.eq(cmd.replace.qty), rd.kept_priority.eq(1),
                ]
                level_event(o2.level)
                last_beat()

            with m.State("FLUSH"):
                flush_side = ~bids.head_valid
                head = ENTRY(Mux(flush_side, asks.head.as_value(), bids.head.as_value()))
                fl = o.flush
                common(fl)
                m.d.comb += [
                    fl.code.eq(link.FLUSH.code),
                    fl.symbol.eq(punt_sym), fl.side.eq(flush_side),
                    fl.order_id.eq(head.order_id), fl.user.eq(head.user),
                    fl.order_type.eq(head.order_type), fl.tif.eq(head.tif),
                    fl.price.eq(head.price), fl.stop_price.eq(head.stop_price),
                    fl.qty.eq(head.qty), fl.prio_seq.eq(head.prio_seq),
                ]
                with m.If(bids.head_valid | asks.head_valid):
                    m.d.comb += self.o.valid.eq(1)
                    with m.If(xfer):
                        win_do(flush_side, WindowOp.REMOVE, index=0)
                with m.Else():
                    m.next = "PUNT"

            with m.State("PUNT"):
                pu = o.punt
                common(pu)
                m.d.comb += [
                    self.o.valid.eq(1), pu.code.eq(link.PUNT.code),
                    pu.symbol.eq(punt_sym), pu.reason.eq(punt_why),
                    pu.handover.eq(punt_hand), pu.last_price.eq(punt_last),
                ]
                with m.If(xfer):
                    m.d.comb += final.eq(1)
                    m.next = "IDLE"
                    go_start()

        # The clock that writes a command's last event also accepts the next command.
        with m.If(final):
            m.d.comb += self.i.ready.eq(1)

        return m

