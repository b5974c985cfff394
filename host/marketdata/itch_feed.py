"""Engine events to NASDAQ TotalView-ITCH 5.0 messages.

# Ref: NASDAQ TotalView-ITCH 5.0 specification, sections 4.1 (system event),
#      4.2.1 (stock directory), 4.2.2 (trading action), 4.3 (add order),
#      4.4 (order executed), 4.5 (order cancel, delete, replace).

`ItchFeed` is an engine listener. For each command's events it produces the
ITCH messages a full-depth subscriber needs to rebuild every book order by
order, as record tuples of gatebook.wire.itch50 (encode them with
`ProtocolCodec(ITCH50)`):

- an order appears (Add Order) only when it comes to rest, with the shares
  left after its own fills: aggressors, IOC, FOK and market orders never show;
- each execution against a resting order is an Order Executed on that order;
- a cancel is an Order Delete; a replace that keeps priority is an Order
  Cancel of the difference; a replace that loses priority is an Order Replace
  when the order rests again untouched, else an Order Delete before its fills
  and an Add Order if it rests;
- the session opens with system events, the stock directory and a Stock
  Trading Action per symbol; halts and resumes are Stock Trading Actions too.

ITCH order reference numbers are the feed's own, one per displayed order,
because an Order Replace needs a new number and our order ids are the
clients'. Timestamps are nanoseconds since midnight UTC of the event.
"""

from gatebook.wire import internal, itch50
from gatebook.wire.enums import OrderType, Side
from gatebook.wire.positions import CODE, INTERNAL

__all__ = ["ItchFeed", "NANOSECONDS_PER_DAY"]

# self.displayed: order id -> [ITCH order ref, displayed shares, side]
_DISPLAYED_REF, _DISPLAYED_QTY = 0, 1

NANOSECONDS_PER_DAY = 86_400 * 1_000_000_000

_ACCEPTED, _EXECUTED, _CANCELLED = internal.ACCEPTED.code, internal.EXECUTED.code, internal.CANCELLED.code
_REPLACED, _STOP_TRIGGERED, _LEVEL = internal.REPLACED.code, internal.STOP_TRIGGERED.code, internal.LEVEL.code
_TRADING_STATE = internal.TRADING_STATE.code
# Where the listener reads each event's fields (gatebook.wire.positions), bound once.
_ACC, _EXE, _CAN = INTERNAL.ACCEPTED, INTERNAL.EXECUTED, INTERNAL.CANCELLED
_REP, _STOP, _LVL, _STATE = (INTERNAL.REPLACED, INTERNAL.STOP_TRIGGERED, INTERNAL.LEVEL,
                             INTERNAL.TRADING_STATE)
_TS = _ACC.ts
assert _TS == _EXE.ts == _CAN.ts == _REP.ts == _STOP.ts == _LVL.ts == _STATE.ts
_ACC_ORDER_ID = _ACC.order_id
_ACC_ORDER_TYPE = _ACC.order_type
_ACC_PRICE = _ACC.price
_ACC_QTY = _ACC.qty
_ACC_SIDE = _ACC.side
_ACC_SYMBOL = _ACC.symbol
_CAN_ORDER_ID = _CAN.order_id
_CAN_SYMBOL = _CAN.symbol
_EXE_AGGRESSOR_ID = _EXE.aggressor_id
_EXE_AGGRESSOR_LEAVES = _EXE.aggressor_leaves
_EXE_MATCH_ID = _EXE.match_id
_EXE_QTY = _EXE.qty
_EXE_RESTING_ID = _EXE.resting_id
_EXE_RESTING_LEAVES = _EXE.resting_leaves
_EXE_SYMBOL = _EXE.symbol
_LVL_PRICE = _LVL.price
_LVL_SIDE = _LVL.side
_LVL_SYMBOL = _LVL.symbol
_REP_KEPT_PRIORITY = _REP.kept_priority
_REP_ORDER_ID = _REP.order_id
_REP_PRICE = _REP.price
_REP_QTY = _REP.qty
_REP_SYMBOL = _REP.symbol
_STATE_HALTED = _STATE.halted
_STATE_SYMBOL = _STATE.symbol
_STATE_TS = _STATE.ts
_STOP_ORDER_ID = _STOP.order_id

_ITCH_SIDE = {int(Side.BUY): itch50.BUY, int(Side.SELL): itch50.SELL}


def _builder(message):
    """A keyword constructor for `message`'s record tuple, in table order."""
    names = message.field_names

    def build(**fields):
        return (message.code,) + tuple(fields[name] for name in names)
    return build


_system_event = _builder(itch50.SYSTEM_EVENT)
_directory = _builder(itch50.STOCK_DIRECTORY)
_trading_action = _builder(itch50.STOCK_TRADING_ACTION)
_add = _builder(itch50.ADD_ORDER)
_executed = _builder(itch50.ORDER_EXECUTED)
_cancel = _builder(itch50.ORDER_CANCEL)
_delete = _builder(itch50.ORDER_DELETE)
_replace = _builder(itch50.ORDER_REPLACE)


class _InFlight:
    """The order being matched right now: the command's own, or a triggered stop."""

    __slots__ = ("order_id", "symbol", "side", "price", "qty", "old_ref", "filled", "unrest_pending")

    def __init__(self, order_id, symbol, side, price, qty, old_ref=None):
        self.order_id, self.symbol, self.side, self.price, self.qty = order_id, symbol, side, price, qty
        self.old_ref = old_ref              # displayed ref it replaces, until published
        self.filled = False
        self.unrest_pending = old_ref is not None   # the replace's own LEVEL for the old slot


class ItchFeed:
    """Turns engine event lists into ITCH 5.0 record tuples.

    Parameters
    ----------
    specs : iterable of SymbolSpec
        The listed symbols, for the stock directory.
    sink : callable
        Called with the list of ITCH records produced for each command (not
        called when a command produces none).
    """

    def __init__(self, specs, sink):
        self.specs = {spec.symbol_id: spec for spec in specs}
        self.sink = sink
        self.displayed = {}      # order id -> [ref, open shares, side]
        self.stops = {}          # order id -> (symbol, side, order type, limit price, qty)
        self.next_ref = 1
        self.tracking = 0
        self.messages = 0        # records handed to `sink` so far (a checkpoint's position)

    # -- session messages -------------------------------------------------

    def start_of_day(self, ts):
        """System events and the stock directory that open a session."""
        out = [self._system(ts, "O"), self._system(ts, "S")]
        for symbol, spec in sorted(self.specs.items()):
            out.append(_directory(
                stock_locate=symbol, tracking_number=0, timestamp=ts % NANOSECONDS_PER_DAY,
                stock=spec.name, market_category="Q", financial_status_indicator="N",
                round_lot_size=spec.lot_size, round_lots_only="N", issue_classification="C",
                issue_sub_type="Z", authenticity="P", short_sale_threshold="N", ipo_flag="N",
                luld_reference_price_tier="1", etp_flag="N", etp_leverage_factor=0,
                inverse_indicator="N"))
            out.append(self._action(symbol, ts, "T"))
        out.append(self._system(ts, "Q"))
        return out

    def show_book(self, engine, ts):
        """Teach the feed a book it did not see built; return the ITCH records showing it.

        For a feed that starts beside an engine recovered from somewhere else
        (a new session after a restart): an Add Order per resting order, best
        level first and in time priority within a level, and a Stock Trading
        Action per halted symbol. Pending stops are remembered, not shown, as
        they are when the feed sees them accepted.
        """
        stamp = ts % NANOSECONDS_PER_DAY
        out = []
        for symbol, book in sorted(engine.books.items()):
            if book.halted:
                out.append(self._action(symbol, ts, "H"))
            for side in (Side.BUY, Side.SELL):
                for price, orders in book.orders_at(side):
                    for order in orders:
                        ref = self._new_ref()
                        self.displayed[order.order_id] = [ref, order.qty, int(side)]
                        out.append(_add(stock_locate=symbol, tracking_number=self._track(),
                                        timestamp=stamp, order_ref=ref,
                                        side=_ITCH_SIDE[int(side)], shares=order.qty,
                                        stock=self.specs[symbol].name, price=price))
                for order in book.live_stops(side):
                    self.stops[order.order_id] = (symbol, int(side), order.order_type,
                                                  order.price, order.qty)
        return out

    def end_of_day(self, ts):
        """The system events that close a session (end of market hours, of system
        hours, of messages)."""
        return [self._system(ts, "M"), self._system(ts, "E"), self._system(ts, "C")]

    def _system(self, ts, code):
        return _system_event(stock_locate=0, tracking_number=0,
                             timestamp=ts % NANOSECONDS_PER_DAY, event_code=code)

    def _action(self, symbol, ts, state):
        return _trading_action(stock_locate=symbol, tracking_number=0,
                               timestamp=ts % NANOSECONDS_PER_DAY,
                               stock=self.specs[symbol].name, trading_state=state,
                               reserved="", reason="")

    # -- a checkpoint of what the feed remembers between commands ------------

    def export_state(self):
        """What the feed remembers between two commands, as plain lists (checkpoint.py)."""
        return {"next_ref": self.next_ref, "tracking": self.tracking,
                "displayed": [[order_id, ref, shares, side]
                              for order_id, (ref, shares, side) in self.displayed.items()],
                "stops": [[order_id, *stop] for order_id, stop in self.stops.items()]}

    def restore_state(self, state):
        """Take up `export_state()`'s output (checked by its reader, checkpoint.py)."""
        self.next_ref, self.tracking = state["next_ref"], state["tracking"]
        self.displayed = {order_id: [ref, shares, side]
                          for order_id, ref, shares, side in state["displayed"]}
        self.stops = {order_id: tuple(stop) for order_id, *stop in state["stops"]}

    # -- the listener -----------------------------------------------------

    def __call__(self, events):
        out = []
        flight = None
        for event in events:
            code = event[CODE]
            ts = event[_TS] % NANOSECONDS_PER_DAY
            if code == _ACCEPTED:
                order_type = event[_ACC_ORDER_TYPE]
                if order_type == OrderType.LIMIT:
                    flight = _InFlight(event[_ACC_ORDER_ID], event[_ACC_SYMBOL], event[_ACC_SIDE],
                                       event[_ACC_PRICE], event[_ACC_QTY])
                elif order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
                    self.stops[event[_ACC_ORDER_ID]] = (event[_ACC_SYMBOL], event[_ACC_SIDE],
                                                        order_type, event[_ACC_PRICE],
                                                        event[_ACC_QTY])
                else:
                    flight = None
            elif code == _STOP_TRIGGERED:
                symbol, side, order_type, price, qty = self.stops.pop(event[_STOP_ORDER_ID])
                flight = (_InFlight(event[_STOP_ORDER_ID], symbol, side, price, qty)
                          if order_type == OrderType.STOP_LIMIT else None)
            elif code == _EXECUTED:
                symbol = event[_EXE_SYMBOL]
                if flight is not None and flight.order_id == event[_EXE_AGGRESSOR_ID]:
                    self._publish_old_slot_deleted(flight, symbol, ts, out)
                    flight.filled = True
                    flight.qty = event[_EXE_AGGRESSOR_LEAVES]
                ref_and_qty = self.displayed[event[_EXE_RESTING_ID]]
                out.append(_executed(stock_locate=symbol, tracking_number=self._track(),
                                     timestamp=ts, order_ref=ref_and_qty[_DISPLAYED_REF],
                                     executed_shares=event[_EXE_QTY],
                                     match_number=event[_EXE_MATCH_ID]))
                if event[_EXE_RESTING_LEAVES]:
                    ref_and_qty[_DISPLAYED_QTY] = event[_EXE_RESTING_LEAVES]
                else:
                    del self.displayed[event[_EXE_RESTING_ID]]
            elif code == _CANCELLED:
                order_id, symbol = event[_CAN_ORDER_ID], event[_CAN_SYMBOL]
                if flight is not None and flight.order_id == order_id:
                    self._publish_old_slot_deleted(flight, symbol, ts, out)
                    flight = None
                elif order_id in self.displayed:
                    ref = self.displayed.pop(order_id)[0]
                    out.append(_delete(stock_locate=symbol, tracking_number=self._track(),
                                       timestamp=ts, order_ref=ref))
                else:
                    self.stops.pop(order_id, None)
            elif code == _REPLACED:
                order_id, symbol, qty = event[_REP_ORDER_ID], event[_REP_SYMBOL], event[_REP_QTY]
                ref, shares, side = self.displayed[order_id]
                if event[_REP_KEPT_PRIORITY]:
                    if qty < shares:
                        out.append(_cancel(stock_locate=symbol, tracking_number=self._track(),
                                           timestamp=ts, order_ref=ref,
                                           cancelled_shares=shares - qty))
                        self.displayed[order_id][_DISPLAYED_QTY] = qty
                else:
                    del self.displayed[order_id]
                    flight = _InFlight(order_id, symbol, side, event[_REP_PRICE], qty, old_ref=ref)
            elif code == _TRADING_STATE:
                out.append(self._action(event[_STATE_SYMBOL], event[_STATE_TS],
                                        "H" if event[_STATE_HALTED] else "T"))
            elif code == _LEVEL and flight is not None and event[_LVL_SIDE] == flight.side \
                    and event[_LVL_SYMBOL] == flight.symbol:
                if flight.unrest_pending:
                    flight.unrest_pending = False      # the replaced order leaving its old slot
                elif event[_LVL_PRICE] == flight.price:
                    self._publish_rest(flight, ts, out)
                    flight = None
        if out:
            self.messages += len(out)
            self.sink(out)

    def _publish_old_slot_deleted(self, flight, symbol, ts, out):
        if flight.old_ref is not None:
            out.append(_delete(stock_locate=symbol, tracking_number=self._track(),
                               timestamp=ts, order_ref=flight.old_ref))
            flight.old_ref = None

    def _publish_rest(self, flight, ts, out):
        ref = self._new_ref()
        if flight.old_ref is not None and not flight.filled:
            out.append(_replace(stock_locate=flight.symbol, tracking_number=self._track(),
                                timestamp=ts, original_order_ref=flight.old_ref,
                                new_order_ref=ref, shares=flight.qty, price=flight.price))
        else:
            self._publish_old_slot_deleted(flight, flight.symbol, ts, out)
            out.append(_add(stock_locate=flight.symbol, tracking_number=self._track(),
                            timestamp=ts, order_ref=ref, side=_ITCH_SIDE[flight.side],
                            shares=flight.qty, stock=self.specs[flight.symbol].name,
                            price=flight.price))
        self.displayed[flight.order_id] = [ref, flight.qty, flight.side]

    def _new_ref(self):
        ref = self.next_ref
        self.next_ref += 1
        return ref

    def _track(self):
        self.tracking = (self.tracking + 1) & 0xFFFF
        return self.tracking
