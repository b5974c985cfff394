"""Per-symbol trading parameters."""

from dataclasses import dataclass

__all__ = ["SymbolSpec", "DEFAULT_SYMBOLS", "MAX_QTY", "NO_NOTIONAL_LIMIT"]

# The widest value a quantity field of gatebook.wire.internal holds (4 bytes).
MAX_QTY = 0xFFFF_FFFF
# Above every price x quantity that 32-bit fields can make: the default, no limit.
NO_NOTIONAL_LIMIT = (1 << 64) - 1


@dataclass(frozen=True)
class SymbolSpec:
    """What the exchange needs to know to validate orders in one symbol.

    Prices are in 1/10000 currency units (ITCH Price(4)); `tick_size` is the
    price grid in those units, so a one-cent tick is 100.

    The limits (docs/matching.md, "Limits"): `max_order_qty` caps one order's
    shares (new or replaced), `max_notional` caps its price x quantity in
    price units x shares (market and stop orders count at `price_max`, the
    most a fill can cost). The defaults are the quantity field's width and
    no notional limit, so a spec that names neither accepts what it always did.

    Market-order protection (docs/matching.md, "Market-order protection"): a market
    order, or a stop once triggered, trades no further than `protection_ticks` ticks or
    `protection_percent` percent (the nearer, when both are set) from the reference price
    (the last trade, else the best opposite price at entry); its remainder is cancelled
    with PROTECTION. 0 turns either off; both 0 (the default) is no protection.

    Circuit breaker (docs/matching.md, "Circuit breaker"): no trade prints more than
    `breaker_percent` percent from the reference price (the last trade as it stood when the
    current window of `breaker_window_ns` opened); an order that would trade beyond it
    halts the symbol instead, for `breaker_pause_ns` (0: until an admin RESUME).
    `breaker_percent` 0 (the default) is no breaker.
    """

    symbol_id: int          # ITCH stock locate; 1..0xFFFE
    name:      str          # up to 8 ASCII characters
    tick_size: int = 100
    lot_size:  int = 1
    price_min: int = 100            # lowest accepted limit or stop price
    price_max: int = 10_000_000     # highest accepted limit or stop price ($1000.00)
    max_order_qty: int = MAX_QTY    # most shares in one order
    max_notional:  int = NO_NOTIONAL_LIMIT  # most price units x shares in one order
    protection_ticks:   int = 0     # ticks a market or stop order may trade from the reference
    protection_percent: int = 0     # percent of the reference it may trade from it
    breaker_percent:   int = 0      # percent from the reference that halts the symbol; 0: off
    breaker_window_ns: int = 300_000_000_000    # how long one reference price holds (5 min)
    breaker_pause_ns:  int = 0      # how long a breaker halt lasts; 0: until an admin RESUME

    def __post_init__(self):
        if not 1 <= self.symbol_id < 0xFFFF:
            raise ValueError(f"{self.name}: symbol id {self.symbol_id} outside 1..65534")
        if not self.name or len(self.name) > 8 or not self.name.isascii():
            raise ValueError(f"symbol name {self.name!r} must be 1..8 ASCII characters")
        if self.tick_size < 1 or self.lot_size < 1:
            raise ValueError(f"{self.name}: tick and lot size must be positive")
        if not 0 < self.price_min <= self.price_max < 1 << 32:
            raise ValueError(f"{self.name}: price band {self.price_min}..{self.price_max} is empty "
                             "or does not fit 32 bits")
        for name in ("max_order_qty", "max_notional", "protection_ticks",
                     "protection_percent", "breaker_percent", "breaker_window_ns",
                     "breaker_pause_ns"):
            if type(getattr(self, name)) is not int:
                raise ValueError(f"{self.name}: {name} must be an int")
        if not self.lot_size <= self.max_order_qty <= MAX_QTY:
            raise ValueError(f"{self.name}: max_order_qty {self.max_order_qty} outside "
                             f"lot size {self.lot_size}..{MAX_QTY}")
        if not 0 <= self.protection_ticks < 1 << 32 or not 0 <= self.protection_percent <= 100:
            raise ValueError(f"{self.name}: protection_ticks must be 0..2^32-1 and "
                             "protection_percent 0..100 (0: off)")
        if not 0 <= self.breaker_percent <= 100 or not 0 < self.breaker_window_ns < 1 << 63 \
                or not 0 <= self.breaker_pause_ns < 1 << 63:
            raise ValueError(f"{self.name}: breaker_percent must be 0..100 (0: off), "
                             "breaker_window_ns 1..2^63-1 and breaker_pause_ns 0..2^63-1 "
                             "(0: until an admin resume)")
        if self.max_notional < self.price_min * self.lot_size:
            raise ValueError(f"{self.name}: max_notional {self.max_notional} is below one lot "
                             "at the lowest price: no order could pass")

    @property
    def notional_binds(self):
        """True when `max_notional` can refuse an order that passes every other check."""
        return self.max_order_qty * self.price_max > self.max_notional


# The embedded defaults the demo and the benchmark run on.
DEFAULT_SYMBOLS = (
    SymbolSpec(1, "GATE",  tick_size=100, lot_size=1,   price_min=10_0000, price_max=200_0000),
    SymbolSpec(2, "AAPL",  tick_size=100, lot_size=1,   price_min=50_0000, price_max=500_0000),
    SymbolSpec(3, "MSFT",  tick_size=100, lot_size=1,   price_min=50_0000, price_max=900_0000),
    SymbolSpec(4, "PENNY", tick_size=1,   lot_size=100, price_min=1,       price_max=1_0000),
    SymbolSpec(5, "BRKA",  tick_size=10000, lot_size=1, price_min=1_000_0000, price_max=9_000_0000),
)
