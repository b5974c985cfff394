"""The matcher's accept/punt decision on the command at its input.

Combinational: from the command, the symbol's state and the two windows'
answers ("where is this order id", "how much could this order trade", "is
there room"), it says which state the command starts in and, for a punt, why.
The rules are the contract in docs/hardware.md; their order here is their
priority.
"""

from amaranth.hdl import Elaboratable, Module, Mux, Signal
from amaranth.lib import enum

from gatebook.wire import internal, link
from gatebook.wire.enums import ALL_SYMBOLS, OrderType, TimeInForce
from gatebook.wire.link import PuntReason

from .layouts import ENTRY

__all__ = ["Start", "Decision", "DeepPrices", "target_field"]

_MARKET = int(OrderType.MARKET)
_STOP = int(OrderType.STOP)


class Start(enum.Enum, shape=4):
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


def target_field(command, name):
    """Field `name` (`order_id`, `user`) of the cancel or replace in `command`, by name.

    The two records put these fields at the same bits today, so synthesis folds the
    multiplexer away; reading each through its own member keeps that an accident of
    the tables, not an assumption of the gateware.
    """
    return Mux(command.code == internal.REPLACE.code, command.replace[name],
               command.cancel[name])


class DeepPrices:
    """Where a new order's price stands against the host's deeper prices, as registers.

    The compares are made in the clock before the decision reads them, against the
    deeper prices as they will be after that clock's edge (kept, or set by the OWN
    accepted in that clock). Each candidate's compare is made in parallel, and the
    accepting clock only picks one.

    Attributes
    ----------
    bid_held, ask_held : Signal
        The host holds bids (asks) behind the window: `bid_deep` (`ask_deep`) is not 0.
    bid_reached : Signal
        And the price is at or below the best of them (`bid_deep >= price`).
    ask_reached : Signal
        And the price is at or above the best of them (`ask_deep <= price`).
    """

    def __init__(self):
        self.bid_held = Signal()
        self.bid_reached = Signal()
        self.ask_held = Signal()
        self.ask_reached = Signal()

    def register(self, m, price, kept, changes):
        """Compare `price` with the deeper prices the next clock will hold.

        Parameters
        ----------
        price : Value
            The price of the command the decision takes next clock.
        kept : (Value, Value)
            The bid and ask deep prices now.
        changes : list of (Value, Value or None, Value or None)
            `(when, bid_deep, ask_deep)`: the deep prices this edge writes when `when`
            is 1 (None: that side kept), first match first.
        """
        def stands(bid_deep, ask_deep):
            return [bid_deep != 0, (bid_deep != 0) & (bid_deep >= price),
                    ask_deep != 0, (ask_deep != 0) & (ask_deep <= price)]

        bits = stands(*kept)
        for when, bid_deep, ask_deep in reversed(changes):
            changed = stands(kept[0] if bid_deep is None else bid_deep,
                             kept[1] if ask_deep is None else ask_deep)
            bits = [Mux(when, new, old) for new, old in zip(changed, bits)]
        m.d.sync += [self.bid_held.eq(bits[0]), self.bid_reached.eq(bits[1]),
                     self.ask_held.eq(bits[2]), self.ask_reached.eq(bits[3])]


class Decision(Elaboratable):
    """Where the command at the matcher's input starts, and what it found.

    Parameters
    ----------
    command : data.View of COMMAND
        The command at the input (meaningful while it is valid).
    bids, asks : gatebook.hdl.window.Window
        The windows; this block drives their order-id and aggressor queries
        (`find_id`, `find_user`, `fit_price`, `fit_qty`, `limit`, `market`).
    owned, symbol : Value
        Whether the lane owns a symbol, and which.
    deep : DeepPrices
        Where the command's price stands against each side's best price the host
        holds deeper than the window.
    evict : bool
        Whether a full side may give its worst level to the host (`Start.EVICT`).

    Attributes
    ----------
    start : Signal(Start)
        The state the command starts in.
    punt_reason : Signal(8)
        The `PuntReason` of a PUNT or FLUSH start.
    side, market, rests : Signal
        The new order's side (0 buy, 1 sell), whether it is a market order,
        whether a remainder would rest (a limit DAY or GTC order).
    own_tail : Signal(ENTRY)
        The worst entry on the new order's own side (the level EVICT spills).
    found_side, found_index, found_entry : Signal, Value, Signal
        Where the cancel's or replace's order id is (meaningful when found).
    """

    def __init__(self, command, bids, asks, *, owned, symbol, deep, evict):
        self.command = command
        self.bids = bids
        self.asks = asks
        self.owned = owned
        self.symbol = symbol
        self.deep = deep
        self.evict = evict

        self.start = Signal(Start)
        self.punt_reason = Signal(8)
        self.side = Signal()
        self.market = Signal()
        self.rests = Signal()
        self.own_tail = Signal(ENTRY)
        self.found_side = Signal()
        # An expression, not a Signal: a Signal here costs a multiplexer after synthesis.
        self.found_index = Mux(bids.found, bids.found_index, asks.found_index)
        self.found_entry = Signal(ENTRY)

    def elaborate(self, platform):
        m = Module()
        command, bids, asks = self.command, self.bids, self.asks
        order = command.new_order
        side = self.side
        for window in (bids, asks):
            m.d.comb += [window.limit.eq(order.price), window.market.eq(self.market),
                         window.find_id.eq(target_field(command, "order_id")),
                         window.find_user.eq(target_field(command, "user")),
                         window.fit_price.eq(command.replace.price),
                         window.fit_qty.eq(command.replace.qty),
                         window.need.eq(order.qty)]

        def for_side(buy_value, sell_value):
            """The value for the new order's side."""
            return Mux(side, sell_value, buy_value)

        m.d.comb += [
            side.eq(order.side[0]),
            self.market.eq(order.order_type == _MARKET),
            self.rests.eq(~self.market & ((order.tif == TimeInForce.DAY)
                                          | (order.tif == TimeInForce.GTC))),
            self.own_tail.eq(for_side(bids.tail.as_value(), asks.tail.as_value())),
            self.found_side.eq(~bids.found),            # meaningful when either found
            self.found_entry.eq(Mux(bids.found, bids.found_entry.as_value(),
                                    asks.found_entry.as_value())),
        ]

        # What the window can give the order, and where the host's deeper book starts.
        opposite_cross_qty = for_side(asks.cross_qty, bids.cross_qty)
        window_short = for_side(asks.short, bids.short)     # opposite_cross_qty < order.qty
        deep = self.deep
        reaches_deep = for_side(deep.ask_held & (self.market | deep.ask_reached),
                                deep.bid_held & (self.market | deep.bid_reached))
        own_full = for_side(bids.full, asks.full)
        if self.evict:
            # With the side full (the rule's other term), its last position is its tail.
            evictable = (opposite_cross_qty == 0) & for_side(bids.beats_tail, asks.beats_tail)
        else:
            evictable = 0
        behind_deep = for_side(deep.bid_reached, deep.ask_reached)
        found_any = bids.found | asks.found
        found_mine = bids.found_mine | asks.found_mine       # ids are unique in the lane
        found_fits = bids.found_fits | asks.found_fits
        host = command.host
        host_handover = host.handover[0] & self.owned & ((host.symbol == self.symbol)
                                                          | (host.symbol == ALL_SYMBOLS))

        start, why = self.start, self.punt_reason
        with m.Switch(command.code):
            with m.Case(internal.NEW_ORDER.code):
                rests_short = window_short & self.rests
                with m.If(~self.owned | (order.symbol != self.symbol)):
                    m.d.comb += [start.eq(Start.PUNT), why.eq(PuntReason.NOT_OWNED)]
                with m.Elif(order.order_type >= _STOP):
                    m.d.comb += [start.eq(Start.FLUSH), why.eq(PuntReason.STOP)]
                with m.Elif(window_short & reaches_deep):
                    m.d.comb += [start.eq(Start.FLUSH), why.eq(PuntReason.SWEEP)]
                with m.Elif(rests_short & own_full & evictable):
                    m.d.comb += start.eq(Start.EVICT)
                with m.Elif(rests_short & own_full):
                    m.d.comb += [start.eq(Start.FLUSH), why.eq(PuntReason.WINDOW_FULL)]
                with m.Elif(rests_short & behind_deep):
                    m.d.comb += [start.eq(Start.FLUSH), why.eq(PuntReason.BEYOND_WINDOW)]
                with m.Elif(window_short & (order.tif == TimeInForce.FOK)):
                    m.d.comb += start.eq(Start.KILLED)
                with m.Elif(opposite_cross_qty == 0):
                    m.d.comb += start.eq(Mux(self.rests, Start.ADDED, Start.KILLED))
                with m.Else():
                    m.d.comb += start.eq(Start.ACCEPTED)
            with m.Case(internal.CANCEL.code):
                with m.If(~found_any):
                    m.d.comb += [start.eq(Start.PUNT), why.eq(PuntReason.NOT_IN_WINDOW)]
                with m.Elif(~found_mine):
                    m.d.comb += [start.eq(Start.PUNT), why.eq(PuntReason.NOT_OWNER)]
                with m.Else():
                    m.d.comb += start.eq(Start.CANCEL)
            with m.Case(internal.REPLACE.code):
                replace = command.replace
                with m.If(found_any & ~found_mine):
                    m.d.comb += [start.eq(Start.PUNT), why.eq(PuntReason.NOT_OWNER)]
                with m.Elif(found_fits & (replace.qty != 0)):
                    m.d.comb += start.eq(Start.REPLACED)   # quantity decrease: keeps priority
                # Any other replace, even of one of the host's deeper orders, may move
                # an order into the window, so the whole symbol goes with it.
                with m.Elif(self.owned):
                    m.d.comb += [start.eq(Start.FLUSH), why.eq(PuntReason.REPLACE)]
                with m.Else():
                    m.d.comb += [start.eq(Start.PUNT), why.eq(PuntReason.NOT_OWNED)]
            with m.Case(link.LOAD.code, link.OWN.code):
                m.d.comb += start.eq(Start.NONE)
            with m.Case(link.HOST.code):
                m.d.comb += [start.eq(Mux(host_handover, Start.FLUSH, Start.PUNT)),
                             why.eq(PuntReason.HOST)]
            with m.Default():       # mass cancel, admin, unknown: the host's, with the book
                m.d.comb += [start.eq(Mux(self.owned, Start.FLUSH, Start.PUNT)),
                             why.eq(PuntReason.HOST)]
        return m
