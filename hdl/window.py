"""One side of one symbol's book window: the best N orders in price-time order.

The window keeps each resting order in two places:

- a *key* that shifts: price, open quantity and a slot tag (`KEY`), in a sorted
  register array, best order in position 0, valid keys packed at the front. Every
  position compares itself with the operand in parallel, so an insert, a removal or
  a quantity change takes one clock and no scan: the insert position is the first
  key the new order beats strictly (equal prices keep time order), and a removal
  shifts the keys behind it forward by one;
- the rest of the order (id, user, type, time in force, stop price, priority
  sequence) in a *slot* that never moves: N slots, written once when the order
  arrives, read through the tag (a LUTRAM per read port), and the order ids in
  registers beside them for the cancel CAM. A removal frees its slot.

Only 64 + log2(N) bits per position shift, where the whole 272-bit entry used to:
the shift multiplexers, which were most of the window's area and every wire the
decision fanned out to, shrink by three quarters. The per-position comparators answer
the questions the matcher asks before it commits to a command: what rests at this
price (a level's aggregate), how many shares would an aggressor with this limit reach
and is that fewer than it needs, does a replace fit the order in place; the slots' id
and owner comparators answer where an order id is and whose it is. All but the level's
are asked a clock early (the `next_*` inputs) and answered from registers, corrected
for the update at that clock's edge, so the matcher's decision starts from flip-flops.
Every selection (the found order, the tail) is one-hot AND-OR, not a priority chain.
"""

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, enum, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from gatebook.wire.enums import Side

from .layouts import ENTRY, ENTRY_KEY_FIELDS, entry_slot_layout
from .onehot import adder_tree, encode, one_hot, select

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
    other_entry, use_other : In
        An insert puts in `entry`, or `other_entry` with `use_other`. Each of the two
        is compared with the keys (its insert position) and with the next id, limit
        and fit in parallel, and `use_other` only picks the answers: whoever chooses
        (the matcher's decision) is not in front of those comparators.
    find_id : In(64)
        Order id looked up: `found`, `found_index`, `found_entry`. The lookup is a
        clock early: `find_id` must have been `next_find_id` in a clock with `next_load`
        (and stay until the next such clock); updates in between are accounted for.
    next_find_id, next_load : In
        The order id to look up from the next clock on, taken when `next_load` is 1:
        the slots' 64-bit comparators work on it in the clock before it is asked, so
        the answer is a registered hit vector, not a CAM in the asking clock.
    find_user, next_find_user : In(32)
        The user asking, handed over like `find_id`: `found_mine` says the order
        found is that user's (each slot compares its owner a clock early too).
    fit_price, fit_qty, next_fit_price, next_fit_qty : In
        A price and quantity handed over like `find_id`: `found_fits` says the order
        found rests at `fit_price` with at least `fit_qty` shares.
    level_price : In(32)
        Price whose aggregate is `level_qty` shares in `level_orders` orders;
        `level_qty` is wide enough for `depth` full-width quantities (as
        LEVEL.qty is for a whole book's level), so it never wraps.
    limit, market : In
        An aggressor's limit price (or any price, with `market`);
        `cross_qty` is the shares of this window it could trade with, a register.
        Like `find_id`, both are taken a clock early: they must have been
        `next_limit` and `next_market` in a clock with `next_load`.
    next_limit, next_market : In
        The limit and market flag to sum the crossing shares for from the next clock
        on, taken when `next_load` is 1.
    need, next_need : In(32)
        The aggressor's quantity, handed over like `limit`: `short` (a register) says
        `cross_qty` is less than `need`.
    beats_tail : Out(1)
        `limit` is strictly better than the price in the last position (the tail's
        when the window is full), registered like `cross_qty`.
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
            "other_entry":  In(ENTRY),
            "use_other":    In(1),
            "index":        In(range(depth)),
            "qty":          In(ENTRY["qty"].shape),
            "find_id":      In(64),
            "next_find_id": In(64),
            "next_load":    In(1),
            "find_user":    In(32),
            "next_find_user": In(32),
            "found":        Out(1),
            "found_mine":   Out(1),
            "fit_price":    In(32),
            "fit_qty":      In(ENTRY["qty"].shape),
            "next_fit_price": In(32),
            "next_fit_qty": In(ENTRY["qty"].shape),
            "found_fits":   Out(1),
            "found_index":  Out(range(depth)),
            "found_entry":  Out(ENTRY),
            "level_price":  In(32),
            "level_qty":    Out(sum_bits),
            "level_orders": Out(32),
            "limit":        In(32),
            "next_limit":   In(32),
            "market":       In(1),
            "next_market":  In(1),
            "cross_qty":    Out(sum_bits),
            "need":         In(ENTRY["qty"].shape),
            "next_need":    In(ENTRY["qty"].shape),
            "short":        Out(1),
            "beats_tail":   Out(1),
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
        key_layout = data.StructLayout({**{name: ENTRY[name].shape for name in ENTRY_KEY_FIELDS},
                                        "tag": range(n)})
        slot_layout = entry_slot_layout()
        valid = Signal(n)
        keys = [Signal(key_layout, name=f"k{i}") for i in range(n)]
        used = Signal(n)                                   # slots holding a resting order
        ids = [Signal(64, name=f"id{s}") for s in range(n)]
        users = [Signal(32, name=f"user{s}") for s in range(n)]   # the slots' owners, again

        # The slots' store: one write port (an arriving order), one LUTRAM per reader.
        m.submodules.slots = slots = Memory(shape=slot_layout, depth=n, init=[])
        write = slots.write_port()
        head_slot, tail_slot, found_slot = (slots.read_port(domain="comb") for _ in range(3))

        # -- the update ---------------------------------------------------------------
        written = Signal(n)      # one-hot: the slot an insert writes at this edge
        before = Signal(n)       # positions the new order goes before (a run of ones at the back)
        for i in range(n):
            m.d.comb += before[i].eq(~valid[i] | self._either(
                lambda entry: self.better(entry.price, keys[i].price)))
        # A free slot for an insert; a full window's insert pushes out the tail, whose
        # slot it takes (the matcher evicts first, so this only guards the invariant).
        free = Signal(n)
        m.d.comb += free.eq(~used & (used + 1))             # the lowest free slot, one-hot
        tail_at = Signal(n)      # one-hot: the last valid position
        m.d.comb += tail_at.eq(valid & ~(valid >> 1))
        tail_key = select(tail_at, keys, key_layout)
        new_tag = Signal(range(n))
        m.d.comb += new_tag.eq(Mux(valid[n - 1], tail_key.tag, encode(free, n)))
        new_key = Signal(key_layout)
        inserted = ENTRY(Mux(self.use_other, self.other_entry.as_value(), self.entry.as_value()))
        m.d.comb += [new_key.price.eq(inserted.price), new_key.qty.eq(inserted.qty),
                     new_key.tag.eq(new_tag)]
        index_at = Signal(n)     # one-hot: position `index`
        m.d.comb += index_at.eq(one_hot(self.index, n))
        removed_tag = select(index_at, keys, key_layout).tag

        with m.Switch(self.op):
            with m.Case(WindowOp.INSERT):
                with m.If(before[n - 1]):                  # else it is worse than a full window
                    m.d.comb += [write.addr.eq(new_tag), write.en.eq(1)]
                    m.d.comb += written.eq(one_hot(new_tag, n))
                    m.d.comb += [write.data[name].eq(inserted[name])
                                 for name in slot_layout.members]
                    m.d.sync += used.eq(used | one_hot(new_tag, n))
                    for s in range(n):
                        with m.If(new_tag == s):
                            m.d.sync += [ids[s].eq(inserted.order_id),
                                         users[s].eq(inserted.user)]
                for i in range(n):
                    with m.If(before[i]):
                        m.d.sync += valid[i].eq(1 if i == 0 else (valid[i - 1] | ~before[i - 1]))
                        if i == 0:
                            m.d.sync += keys[0].eq(new_key)
                        else:
                            with m.If(before[i - 1]):
                                m.d.sync += keys[i].eq(keys[i - 1])
                            with m.Else():
                                m.d.sync += keys[i].eq(new_key)
            with m.Case(WindowOp.REMOVE):
                with m.If((valid & index_at).any()):
                    m.d.sync += used.eq(used & ~one_hot(removed_tag, n))
                for i in range(n):
                    with m.If(self.index <= i):
                        if i + 1 < n:
                            m.d.sync += [keys[i].eq(keys[i + 1]), valid[i].eq(valid[i + 1])]
                        else:
                            m.d.sync += valid[i].eq(0)
            with m.Case(WindowOp.SET_QTY):
                for i in range(n):
                    with m.If(index_at[i]):
                        m.d.sync += keys[i].qty.eq(self.qty)
            with m.Case(WindowOp.CLEAR):
                m.d.sync += [valid.eq(0), used.eq(0)]

        # -- the answers --------------------------------------------------------------
        # Order-id CAM over the slots (ids are unique among resting orders), then the
        # position holding that slot's tag.
        # The hit vector is registered: each slot compares its id with the next id to
        # find a clock early, and a slot written at that edge compares the id written
        # instead (a cancel right behind the add of its order); a slot freed meanwhile
        # drops out through `used`.
        # The owner is compared the same way, so a cancel's owner check reads a flip-flop
        # and not a slot's user through the hit's encoder and a LUTRAM.
        early_hit = Signal(n)
        early_mine = Signal(n)
        next_id = Mux(self.next_load, self.next_find_id, self.find_id)
        next_user = Mux(self.next_load, self.next_find_user, self.find_user)
        written_hit = self._either(lambda entry: entry.order_id == next_id)
        written_mine = self._either(lambda entry: entry.user == next_user)
        for s in range(n):
            with m.If(written[s]):
                m.d.sync += [early_hit[s].eq(written_hit), early_mine[s].eq(written_mine)]
            with m.Elif(self.next_load):
                m.d.sync += [early_hit[s].eq(ids[s] == self.next_find_id),
                             early_mine[s].eq(users[s] == self.next_find_user)]
        hit = Signal(n)
        m.d.comb += [hit.eq(early_hit & used), self.found_mine.eq((hit & early_mine).any())]
        hit_tag = encode(hit, n)
        # The position of the order found is registered too: each position looks its
        # slot's hit up a clock early and the vector follows the update's shift (the
        # inserted position takes the written slot's hit). So is whether that order
        # rests at `fit_price` with `fit_qty` shares or more (a replace that only
        # decreases the quantity keeps the order in place).
        slot_hit = Cat(ids[s] == next_id for s in range(n))
        fit_price = Mux(self.next_load, self.next_fit_price, self.fit_price)
        fit_qty = Mux(self.next_load, self.next_fit_qty, self.fit_qty)
        shifted = dict(before=before, index_at=index_at)
        found_at = self._follow(m, [valid[i] & slot_hit.bit_select(keys[i].tag, 1)
                                    for i in range(n)], written_hit, **shifted)
        at_fit_price = [key.price == fit_price for key in keys]
        fits = self._follow(m, [at & (fit_qty <= key.qty) for at, key in zip(at_fit_price, keys)],
                            self._either(lambda entry: (entry.price == fit_price)
                                         & (fit_qty <= entry.qty)),
                            **shifted, after_set_qty=[at & (fit_qty <= self.qty)
                                                      for at in at_fit_price])
        found_key = select(found_at, keys, key_layout)
        m.d.comb += [self.found.eq(hit.any()), self.found_index.eq(encode(found_at, n)),
                     self.found_fits.eq((found_at & fits).any()),
                     found_slot.addr.eq(hit_tag)]
        self._entry(m, self.found_entry, found_key, found_slot.data, self.find_id)

        m.d.comb += [head_slot.addr.eq(keys[0].tag), tail_slot.addr.eq(tail_key.tag)]
        self._entry(m, self.head, keys[0], head_slot.data, head_slot.data.order_id)
        self._entry(m, self.tail, tail_key, tail_slot.data, tail_slot.data.order_id)
        m.d.comb += self.tail_index.eq(encode(tail_at, n))

        self._crossing(m, keys, valid, before, index_at)
        limit = Mux(self.next_load, self.next_limit, self.limit)
        beats = self._follow(m, [self.better(limit, key.price) for key in keys],
                             self._either(lambda entry: self.better(limit, entry.price)),
                             **shifted)
        m.d.comb += self.beats_tail.eq(beats[n - 1])

        # The level aggregate: masked sums over every position.
        at_level = [valid[i] & (keys[i].price == self.level_price) for i in range(n)]
        m.d.comb += [
            self.level_qty.eq(adder_tree([Mux(at, k.qty, 0) for k, at in zip(keys, at_level)])),
            self.level_orders.eq(adder_tree(at_level)),
            self.head_valid.eq(valid[0]),
            self.count.eq(adder_tree([valid[i] for i in range(n)])),
            self.full.eq(valid[n - 1]),
        ]
        return m

    def _either(self, answer):
        """`answer(entry)` for the entry an insert puts in, computed for both candidates."""
        return Mux(self.use_other, answer(self.other_entry), answer(self.entry))

    def _follow(self, m, now, inserted, *, before, index_at, after_set_qty=None):
        """A registered bit per position that follows the keys through the update.

        Parameters
        ----------
        now : list of Value
            Each position's bit for the key it holds now.
        inserted : Value
            The bit for an inserted key (where it lands).
        after_set_qty : list of Value, optional
            Each position's bit were `SET_QTY` to change its quantity, if the bit
            depends on the quantity.
        """
        n = self.depth
        bits = Signal(n)
        m.d.sync += bits.eq(Cat(now))
        with m.Switch(self.op):
            with m.Case(WindowOp.INSERT):
                for i in range(n):
                    with m.If(before[i]):
                        m.d.sync += bits[i].eq(inserted if i == 0 else
                                               Mux(before[i - 1], now[i - 1], inserted))
            with m.Case(WindowOp.REMOVE):
                for i in range(n):
                    with m.If(self.index <= i):
                        m.d.sync += bits[i].eq(now[i + 1] if i + 1 < n else 0)
            with m.Case(WindowOp.SET_QTY):
                if after_set_qty is not None:
                    for i in range(n):
                        with m.If(index_at[i]):
                            m.d.sync += bits[i].eq(after_set_qty[i])
            with m.Case(WindowOp.CLEAR):
                m.d.sync += bits.eq(0)
        return bits

    def _crossing(self, m, keys, valid, before, index_at):
        """`cross_qty` from a register: the sum is taken a clock early, with the update.

        Each position compares the next limit (or takes any price, for a market order)
        with the price it holds now, and the masked quantities are added up in that
        clock; the update at the same edge is then applied to the sum as one
        correction (an insert adds the new order's shares if the limit reaches it, and
        takes off a full window's tail it pushes out; a removal takes off the removed
        order's; a quantity change adds the difference). So the decision reads a
        register, not an adder tree, and the tree sits between registers.
        """
        n = self.depth
        limit = Mux(self.next_load, self.next_limit, self.limit)
        market = Mux(self.next_load, self.next_market, self.market)
        reaches = [valid[i] & (market | ~self.better(limit, keys[i].price)) for i in range(n)]
        reaches_new = market | self._either(lambda entry: ~self.better(limit, entry.price))
        now = adder_tree([Mux(reach, key.qty, 0) for key, reach in zip(keys, reaches)])

        indexed_reaches = (Cat(reaches) & index_at).any()
        indexed_qty = select(index_at, [key.qty for key in keys])
        added = Signal.like(self.qty)       # shares the update brings within the limit
        dropped = Signal.like(self.qty)     # shares it takes away from within the limit
        with m.Switch(self.op):
            with m.Case(WindowOp.INSERT):
                pushed_out = valid[n - 1] & before[n - 1] & reaches[n - 1]
                inserted_qty = Mux(self.use_other, self.other_entry.qty, self.entry.qty)
                m.d.comb += [added.eq(Mux(before[n - 1] & reaches_new, inserted_qty, 0)),
                             dropped.eq(Mux(pushed_out, keys[n - 1].qty, 0))]
            with m.Case(WindowOp.REMOVE):
                m.d.comb += dropped.eq(Mux(indexed_reaches, indexed_qty, 0))
            with m.Case(WindowOp.SET_QTY):
                m.d.comb += [added.eq(Mux(indexed_reaches, self.qty, 0)),
                             dropped.eq(Mux(indexed_reaches, indexed_qty, 0))]
        crossing = Signal.like(self.cross_qty)
        # The sum fits `cross_qty` after the update, so the wrap-around of the
        # subtraction cancels out in its width.
        cleared = self.op == WindowOp.CLEAR
        m.d.sync += crossing.eq(Mux(cleared, 0, now + added - dropped))
        m.d.comb += self.cross_qty.eq(crossing)
        # Whether that is fewer shares than the aggressor needs, registered too: the
        # need comes off the sum before the update's correction goes on, so what
        # follows the decision in this clock is one sum and its sign.
        need = Mux(self.next_load, self.next_need, self.need)
        headroom = Signal(signed(len(self.cross_qty) + 2))
        margin = Signal(signed(len(self.cross_qty) + 2))
        short = Signal()
        m.d.comb += [headroom.eq(now - need), margin.eq(headroom + added - dropped)]
        m.d.sync += short.eq(Mux(cleared, need != 0, margin[-1]))
        m.d.comb += self.short.eq(short)

    @staticmethod
    def _entry(m, entry, key, slot, order_id):
        """Drive the ENTRY view `entry` from a position's key and its slot."""
        for name in ENTRY.members:
            if name in ENTRY_KEY_FIELDS:
                m.d.comb += entry[name].eq(key[name])
            elif name == "order_id":
                m.d.comb += entry[name].eq(order_id)
            else:
                m.d.comb += entry[name].eq(slot[name])
