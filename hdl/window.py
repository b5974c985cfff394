"""One side of one symbol's book window: the best N orders in price-time order.

The window is a sorted register array, best order in entry 0, valid entries
packed at the front. Every entry compares itself with the operand in
parallel, so an insert, a removal or a quantity change takes one clock and
no scan: the insert position is the first entry the new order beats
strictly (equal prices keep time order), and a removal shifts the entries
behind it forward by one. The same per-entry comparators answer the
questions the matcher asks before it commits to a command: where is this
order id (a small CAM), what rests at this price (a level's aggregate) and
how many shares would an aggressor with this limit reach.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import enum, wiring
from amaranth.lib.wiring import In, Out

from gatebook.wire.enums import Side

from .layouts import ENTRY

__all__ = ["WindowOp", "Window"]


class WindowOp(enum.Enum, shape=3):
    NOP     = 0
    INSERT  = 1   # put `entry` at its price-time position
    REMOVE  = 2   # take out entry `index`, close the gap
    SET_QTY = 3   # set the open quantity of entry `index` to `qty`
    CLEAR   = 4   # forget every entry


class Window(wiring.Component):
    """A sorted window of resting orders on one side.

    Parameters
    ----------
    depth : int
        Number of entries (N).
    side : Side
        BUY windows sort by descending price, SELL windows by ascending price.

    Attributes
    ----------
    op, entry, index, qty : In
        The update applied at the next clock edge (see `WindowOp`).
    find_id : In(64)
        Order id looked up: `found`, `found_index`, `found_entry`.
    level_price : In(32)
        Price whose aggregate is `level_qty` shares in `level_orders` orders;
        `level_qty` is wide enough for `depth` full-width quantities (as
        LEVEL.qty is for a whole book's level), so it never wraps.
    limit, market : In
        An aggressor's limit price (or any price, with `market`);
        `cross_qty` is the shares of this window it could trade with.
    head, head_valid, count, full : Out
        The best entry and the occupancy.
    tail, tail_index : Out
        The worst entry and its index (meaningful when `head_valid`), for eviction.
    """

    def __init__(self, depth, side):
        if depth < 1:
            raise ValueError("a window holds at least one order")
        self.depth = depth
        self.side = Side(side)
        sum_bits = ENTRY["qty"].shape.width + depth.bit_length()   # `depth` quantities added
        super().__init__({
            "op":           In(WindowOp),
            "entry":        In(ENTRY),
            "index":        In(range(depth)),
            "qty":          In(ENTRY["qty"].shape),
            "find_id":      In(64),
            "found":        Out(1),
            "found_index":  Out(range(depth)),
            "found_entry":  Out(ENTRY),
            "level_price":  In(32),
            "level_qty":    Out(sum_bits),
            "level_orders": Out(32),
            "limit":        In(32),
            "market":       In(1),
            "cross_qty":    Out(sum_bits),
            "head":         Out(ENTRY),
            "head_valid":   Out(1),
            "tail":         Out(ENTRY),
            "tail_index":   Out(range(depth)),
            "count":        Out(range(depth + 1)),
            "full":         Out(1),
        })

    def better(self, a, b):
        """True where price `a` has strict priority over price `b` on this side."""
        return a > b if self.side == Side.BUY else a < b

    def elaborate(self, platform):
        m = Module()
        n = self.depth
        valid = Signal(n)
        entries = [Signal(ENTRY, name=f"e{i}") for i in range(n)]

        # Insert position: entries the new order goes before (a run of ones at the back).
        before = Signal(n)
        for i in range(n):
            m.d.comb += before[i].eq(~valid[i] | self.better(self.entry.price, entries[i].price))

        with m.Switch(self.op):
            with m.Case(WindowOp.INSERT):
                for i in range(n):
                    with m.If(before[i]):
                        m.d.sync += valid[i].eq(1 if i == 0 else (valid[i - 1] | ~before[i - 1]))
                        if i == 0:
                            m.d.sync += entries[0].eq(self.entry)
                        else:
                            with m.If(before[i - 1]):
                                m.d.sync += entries[i].eq(entries[i - 1])
                            with m.Else():
                                m.d.sync += entries[i].eq(self.entry)
            with m.Case(WindowOp.REMOVE):
                for i in range(n):
                    with m.If(self.index <= i):
                        if i + 1 < n:
                            m.d.sync += [entries[i].eq(entries[i + 1]), valid[i].eq(valid[i + 1])]
                        else:
                            m.d.sync += valid[i].eq(0)
            with m.Case(WindowOp.SET_QTY):
                for i in range(n):
                    with m.If(self.index == i):
                        m.d.sync += entries[i].qty.eq(self.qty)
            with m.Case(WindowOp.CLEAR):
                m.d.sync += valid.eq(0)

        # Order-id CAM: lowest matching index wins (ids are unique anyway).
        for i in reversed(range(n)):
            with m.If(valid[i] & (entries[i].order_id == self.find_id)):
                m.d.comb += [self.found.eq(1), self.found_index.eq(i),
                             self.found_entry.eq(entries[i])]

        # The worst entry: the last valid one (valid entries are a prefix).
        for i in range(n):
            last = valid[i] & (~valid[i + 1] if i + 1 < n else 1)
            with m.If(last):
                m.d.comb += [self.tail.eq(entries[i]), self.tail_index.eq(i)]

        # Level aggregate and crossing quantity: masked sums over every entry.
        at_level = [valid[i] & (entries[i].price == self.level_price) for i in range(n)]
        crossing = [valid[i] & (self.market | ~self.better(self.limit, entries[i].price))
                    for i in range(n)]
        m.d.comb += [
            self.level_qty.eq(_sum([Mux(hit, e.qty, 0) for e, hit in zip(entries, at_level)])),
            self.level_orders.eq(_sum(at_level)),
            self.cross_qty.eq(_sum([Mux(hit, e.qty, 0) for e, hit in zip(entries, crossing)])),
            self.head.eq(entries[0]),
            self.head_valid.eq(valid[0]),
            self.count.eq(_sum([valid[i] for i in range(n)])),
            self.full.eq(valid[n - 1]),
        ]
        return m


def _sum(terms):
    """A balanced adder tree."""
    terms = list(terms)
    while len(terms) > 1:
        terms = [terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i]
                 for i in range(0, len(terms), 2)]
    return terms[0]
