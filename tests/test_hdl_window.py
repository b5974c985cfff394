"""gatebook.hdl.window.Window against a list model, on Amaranth's simulator."""

import random

import pytest
from amaranth.sim import Simulator

from gatebook.wire.enums import Side
from gatebook.hdl.window import Window, WindowOp


class WindowModel:
    """The window as a Python list, best first; ties keep arrival order."""

    def __init__(self, depth, side):
        self.depth, self.side, self.entries = depth, side, []

    def key(self, price):
        return -price if self.side == Side.BUY else price

    def insert(self, entry):
        at = next((i for i, e in enumerate(self.entries)
                   if self.key(entry["price"]) < self.key(e["price"])), len(self.entries))
        self.entries.insert(at, entry)
        del self.entries[self.depth:]        # a full window's insert pushes out its worst

    def crosses(self, price, limit):
        return price >= limit if self.side == Side.BUY else price <= limit


def _entry(rng, order_id, qty_range):
    return {"order_id": order_id, "user": rng.randrange(1, 4), "order_type": 0, "tif": 1,
            "price": rng.randrange(100, 106), "stop_price": 0, "qty": rng.randrange(*qty_range),
            "prio_seq": order_id}


SMALL = (1, 50)
HUGE = (2**32 - 50, 2**32)     # a few of them pass 2^32 shares in the sums


@pytest.mark.parametrize("side", list(Side), ids=lambda s: s.name)
@pytest.mark.parametrize("depth", [1, 4])
def test_window_random_ops(side, depth):
    _random_ops(side, depth, full_inserts=False)


@pytest.mark.parametrize("side", list(Side), ids=lambda s: s.name)
@pytest.mark.parametrize("depth", [2, 5])
def test_window_inserts_into_a_full_window(side, depth):
    """An insert into a full window pushes out the worst order, whose slot the new one
    takes; an order worse than a full window's worst changes nothing."""
    _random_ops(side, depth, full_inserts=True)


@pytest.mark.parametrize("side", list(Side), ids=lambda s: s.name)
def test_window_huge_quantities(side):
    """Quantities near 2^32: the level and crossing sums (the crossing one kept in a
    register and corrected for each update) pass 32 bits and never wrap."""
    _random_ops(side, 5, full_inserts=True, qty_range=HUGE)


def _random_ops(side, depth, *, full_inserts, qty_range=SMALL):
    dut = Window(depth, side)
    model = WindowModel(depth, side)
    rng = random.Random(depth * 2 + side + 10 * full_inserts)

    async def bench(ctx):
        next_id = 1
        find, user, limit, market = 9999, 0, 0, False
        fit_price, fit_qty, need = 0, 0, 0
        for _ in range(400):
            # Queries, checked against the model before any update. The order id was
            # handed to the window a clock early (`next_find_id`), before the last update.
            ids = [e["order_id"] for e in model.entries]
            level = rng.randrange(100, 106)
            ctx.set(dut.level_price, level)
            assert ctx.get(dut.count) == len(model.entries)
            assert ctx.get(dut.full) == (len(model.entries) == depth)
            assert ctx.get(dut.head_valid) == bool(model.entries)
            if model.entries:
                assert ctx.get(dut.head.order_id) == model.entries[0]["order_id"]
                assert ctx.get(dut.tail.order_id) == model.entries[-1]["order_id"]
                assert ctx.get(dut.tail_index) == len(model.entries) - 1
            assert ctx.get(dut.found) == (find in ids)
            if find in ids:
                assert ctx.get(dut.found_index) == ids.index(find)
                assert ctx.get(dut.found_entry.qty) == model.entries[ids.index(find)]["qty"]
            assert ctx.get(dut.found_mine) == (find in ids
                                               and model.entries[ids.index(find)]["user"] == user)
            found = model.entries[ids.index(find)] if find in ids else None
            assert ctx.get(dut.found_fits) == (found is not None and found["price"] == fit_price
                                               and found["qty"] >= fit_qty)
            at_level = [e for e in model.entries if e["price"] == level]
            assert ctx.get(dut.level_qty) == sum(e["qty"] for e in at_level)
            assert ctx.get(dut.level_orders) == len(at_level)
            crossing = sum(e["qty"] for e in model.entries
                           if market or model.crosses(e["price"], limit))
            assert ctx.get(dut.cross_qty) == crossing
            assert ctx.get(dut.short) == (crossing < need)
            if len(model.entries) == depth:
                worst = model.entries[-1]["price"]
                assert ctx.get(dut.beats_tail) == (model.key(limit) < model.key(worst))
            # One update.
            choice = rng.random()
            op = WindowOp.NOP
            if choice < 0.45 and (full_inserts or len(model.entries) < depth):
                entry = _entry(rng, next_id, qty_range)
                next_id += 1
                op = WindowOp.INSERT
                # Half the time the entry comes in on `other_entry`, with another on `entry`.
                use_other = rng.random() < 0.5
                decoy = _entry(rng, 10**6 + next_id, qty_range)
                chosen, spare = ((dut.other_entry, dut.entry) if use_other
                                 else (dut.entry, dut.other_entry))
                for name, value in entry.items():
                    ctx.set(getattr(chosen, name), value)
                for name, value in decoy.items():
                    ctx.set(getattr(spare, name), value)
                ctx.set(dut.use_other, use_other)
                model.insert(entry)
            elif choice < 0.75 and model.entries:
                index = rng.randrange(len(model.entries))
                op = WindowOp.REMOVE
                ctx.set(dut.index, index)
                del model.entries[index]
            elif choice < 0.95 and model.entries:
                index = rng.randrange(len(model.entries))
                qty = rng.randrange(*qty_range)
                op = WindowOp.SET_QTY
                ctx.set(dut.index, index)
                ctx.set(dut.qty, qty)
                model.entries[index]["qty"] = qty
            elif choice >= 0.95:
                op = WindowOp.CLEAR
                model.entries.clear()
            ctx.set(dut.op, op)
            # The next id to find: often one this clock's insert adds (a cancel right
            # behind its order's add) or one it removes.
            ids = [e["order_id"] for e in model.entries]
            find = rng.choice(ids + [next_id - 1, 9999]) if ids else rng.choice([next_id - 1, 9999])
            next_limit = rng.randrange(99, 107)
            next_market = rng.random() < 0.1
            next_user = rng.randrange(1, 4)
            # A quantity near the orders' (often one of them, give or take one) at
            # one of their prices: the replace's fit is then a close call.
            next_fit_price = rng.randrange(100, 106)
            near = rng.choice(model.entries)["qty"] if model.entries else qty_range[0]
            next_fit_qty = min(max(0, near + rng.choice((-1, 0, 0, 1))), 2**32 - 1)
            ctx.set(dut.next_find_id, find)
            ctx.set(dut.next_find_user, next_user)
            ctx.set(dut.next_fit_price, next_fit_price)
            ctx.set(dut.next_fit_qty, next_fit_qty)
            # A need near what the next limit reaches after this update (the window's
            # sum is corrected for it), so `short` is a close call.
            reach = sum(e["qty"] for e in model.entries
                        if next_market or model.crosses(e["price"], next_limit))
            next_need = min(max(0, reach + rng.choice((-1, 0, 0, 1))), 2**32 - 1)
            ctx.set(dut.next_need, next_need)
            ctx.set(dut.next_limit, next_limit)
            ctx.set(dut.next_market, next_market)
            ctx.set(dut.next_load, rng.random() < 0.8)
            await ctx.tick()
            if ctx.get(dut.next_load):
                ctx.set(dut.find_id, find)
                ctx.set(dut.find_user, next_user)
                ctx.set(dut.fit_price, next_fit_price)
                ctx.set(dut.fit_qty, next_fit_qty)
                ctx.set(dut.need, next_need)
                need = next_need
                fit_price, fit_qty = next_fit_price, next_fit_qty
                ctx.set(dut.limit, next_limit)
                ctx.set(dut.market, next_market)
                user, limit, market = next_user, next_limit, next_market
            else:                # held: the window looks the same id and limit up again
                find = ctx.get(dut.find_id)
                user = ctx.get(dut.find_user)
                fit_price, fit_qty = ctx.get(dut.fit_price), ctx.get(dut.fit_qty)
                need = ctx.get(dut.need)
                limit = ctx.get(dut.limit)
                market = bool(ctx.get(dut.market))
            ctx.set(dut.op, WindowOp.NOP)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
