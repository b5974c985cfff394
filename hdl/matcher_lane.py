"""The matcher's state shared by its accepting clock and its event writer.

`LaneRegisters` are the registers of one lane: which symbol it owns, that symbol's
state, and the command in progress. `WindowPair` addresses the two sides' windows
by a side signal. Both are written from two places in one `Module` (the clock that
accepts a command, in hdl/matcher.py, and the states that write its events, in
hdl/matcher_writer.py), which is why they are plain objects and not components:
a register has one driver per module in Amaranth.
"""

from amaranth.hdl import Mux, Signal

from .layouts import COMMAND, ENTRY

__all__ = ["LaneRegisters", "WindowPair"]


class LaneRegisters:
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


class WindowPair:
    """Both sides' windows, addressed by a side signal (0 bids, 1 asks).

    Parameters
    ----------
    m : Module
        Gets the window operations `update` drives.
    bids, asks : gatebook.hdl.window.Window
    """

    def __init__(self, m, bids, asks):
        self.m = m
        self.bids = bids
        self.asks = asks

    def answer(self, side, name):
        """Output `name` of the window on `side`."""
        return Mux(side, getattr(self.asks, name), getattr(self.bids, name))

    def entry(self, side, name):
        """The ENTRY output `name` (`head`, `tail`) of the window on `side`."""
        return ENTRY(Mux(side, getattr(self.asks, name).as_value(),
                         getattr(self.bids, name).as_value()))

    def update(self, side, op, **operands):
        """Apply `op` (a `WindowOp`) with `operands` to the window on `side` at the next edge."""
        for value, window in enumerate((self.bids, self.asks)):
            with self.m.If(side == value):
                self.m.d.comb += window.op.eq(op)
                for name, operand in operands.items():
                    self.m.d.comb += getattr(window, name).eq(operand)
