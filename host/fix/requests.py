"""FIX order requests to the engine's commands: NewOrderSingle, cancel, replace, mass cancel.

# Ref: FIX 4.4 Volume 4 (single/general order handling), gatebook/wire/internal.py.

`Requests.command(user, fields, out_before)` reads one application message
(fields by tag, already checked against the dictionary's required tags) and
returns `(stamped command, FixOrigin)`, or `(None, reply)`: a report that
refuses it without a command (a price finer than the price unit, an unknown
OrigClOrdID, a ClOrdID of a live order, a value FIX allows that the engine
has no match for). Prices are read as exact decimals into the engine's
integer price units, never through a float; the engine checks the tick.

Mapping: OrdType 1 market, 2 limit, 3 stop, 4 stop-limit; TimeInForce 0 day
(also when absent), 1 GTC, 3 IOC, 4 FOK (others refused: the engine has no
at-the-open, good-till-date or at-the-close). A replace's OrderQty is the total
order quantity: the engine's REPLACE takes the open quantity, OrderQty minus
CumQty; a replace to at most CumQty becomes a CANCEL of what is open.
"""

import re

from gatebook.wire.enums import MassCancelScope, OrderType, Side, TimeInForce, ALL_SYMBOLS

from .dictionary import MASS_CANCEL_TYPE, ORD_TYPE, SIDE, TAG, TIME_IN_FORCE
from .state import CANCEL, MASS, NEW, REPLACE, FixOrigin, cancel_reject

__all__ = ["Requests", "RequestError", "parse_price", "MAX_CLORDID"]

MAX_CLORDID = 64
_PRICE = re.compile(r"(\d{1,10})(?:\.(\d{1,12}))?")
_QTY = re.compile(r"\d{1,10}")
_SIDES = {SIDE["BUY"]: Side.BUY, SIDE["SELL"]: Side.SELL}
_TYPES = {ORD_TYPE["MARKET"]: OrderType.MARKET, ORD_TYPE["LIMIT"]: OrderType.LIMIT,
          ORD_TYPE["STOP"]: OrderType.STOP, ORD_TYPE["STOP_LIMIT"]: OrderType.STOP_LIMIT}
_TIFS = {TIME_IN_FORCE["DAY"]: TimeInForce.DAY,
         TIME_IN_FORCE["GOOD_TILL_CANCEL"]: TimeInForce.GTC,
         TIME_IN_FORCE["IMMEDIATE_OR_CANCEL"]: TimeInForce.IOC,
         TIME_IN_FORCE["FILL_OR_KILL"]: TimeInForce.FOK}
_MASS = {MASS_CANCEL_TYPE["CANCEL_ORDERS_FOR_A_SECURITY"]: MassCancelScope.USER_SYMBOL,
         MASS_CANCEL_TYPE["CANCEL_ALL_ORDERS"]: MassCancelScope.USER}


class RequestError(ValueError):
    """A request refused before any command: `kind` for the counters."""

    def __init__(self, kind, text):
        super().__init__(text)
        self.kind = kind


def parse_price(text):
    """Engine price units (1/10000) of a FIX price, exactly; RequestError if it is finer
    than the unit or not a plain non-negative decimal."""
    match = _PRICE.fullmatch(text)
    if match is None:
        raise RequestError("bad_price", f"price {text[:20]!r} is not a plain decimal")
    whole, fraction = match.group(1), (match.group(2) or "").rstrip("0")
    if len(fraction) > 4:
        raise RequestError("off_tick", f"price {text} is finer than the price unit 0.0001")
    return int(whole) * 10_000 + int(fraction.ljust(4, "0") or 0)


def _qty(text):
    if not _QTY.fullmatch(text):
        raise RequestError("bad_qty", f"OrderQty {text[:20]!r} is not a whole number of shares")
    return int(text)


def _clordid(text):
    if len(text) > MAX_CLORDID or not text.isascii() or not text.isprintable():
        raise RequestError("bad_clordid", f"ClOrdID is 1..{MAX_CLORDID} printable ASCII "
                                          "characters")
    return text


class Requests:
    """Turns one user's FIX order requests into stamped commands (see the module docstring).

    Parameters
    ----------
    state : FixState
    symbols : iterable of SymbolSpec
    sequencer, order_ids
        The exchange's (EntryContext).
    """

    def __init__(self, state, symbols, sequencer, order_ids):
        self.state, self.sequencer, self.order_ids = state, sequencer, order_ids
        self.symbol_ids = {spec.name: spec.symbol_id for spec in symbols}

    def command(self, user, msg_type, fields, in_seq, out_before):
        """(command, FixOrigin) or raise RequestError (the caller reports it)."""
        clordid = _clordid(fields[TAG.ClOrdID])
        side = _SIDES.get(fields.get(TAG.Side))
        if side is None and msg_type != MASS:
            raise RequestError("bad_side", f"Side {fields.get(TAG.Side)!r} is not 1 or 2")
        if msg_type == NEW:
            return self._new(user, clordid, side, fields, in_seq, out_before)
        if msg_type == MASS:
            return self._mass(user, clordid, fields, in_seq, out_before)
        orig = _clordid(fields[TAG.OrigClOrdID])
        order_id = self.state.ids.get((user, orig))
        if order_id is None:
            raise RequestError("unknown_order", f"OrigClOrdID {orig} names no live order")
        origin = FixOrigin(user, in_seq, out_before, msg_type, clordid, orig, int(side))
        if msg_type == CANCEL:
            return self.sequencer.cancel(order_id, user), origin
        order = self.state.orders[order_id]
        total = _qty(fields.get(TAG.OrderQty, ""))
        kind = _TYPES.get(fields[TAG.OrdType])
        if kind != order.ord_type or side != order.side \
                or self.symbol_ids.get(fields.get(TAG.Symbol)) != order.symbol:
            raise RequestError("bad_replace", "a replace keeps the order's OrdType, Side "
                                              "and Symbol")
        price = parse_price(fields[TAG.Price]) if TAG.Price in fields else order.price
        if total <= order.cum:
            return self.sequencer.cancel(order_id, user), origin
        return self.sequencer.replace(order_id, user, price, total - order.cum), origin

    def _new(self, user, clordid, side, fields, in_seq, out_before):
        if (user, clordid) in self.state.ids:
            raise RequestError("duplicate_clordid", f"ClOrdID {clordid} names a live order")
        kind = _TYPES.get(fields[TAG.OrdType])
        if kind is None:
            raise RequestError("bad_ord_type", f"OrdType {fields[TAG.OrdType]!r} is not "
                                               "market, limit, stop or stop-limit")
        tif = _TIFS.get(fields.get(TAG.TimeInForce, TIME_IN_FORCE["DAY"]))
        if tif is None:
            raise RequestError("bad_tif", f"TimeInForce {fields[TAG.TimeInForce]!r} is not "
                                          "day, GTC, IOC or FOK")
        symbol = self.symbol_ids.get(fields.get(TAG.Symbol, ""))
        if symbol is None:
            raise RequestError("unknown_symbol", f"Symbol {fields.get(TAG.Symbol, '')[:16]!r} "
                                                 "is not listed")
        qty = _qty(fields.get(TAG.OrderQty, ""))
        price = parse_price(fields[TAG.Price]) if TAG.Price in fields else 0
        stop = parse_price(fields[TAG.StopPx]) if TAG.StopPx in fields else 0
        command = self.sequencer.new_order(symbol, self.order_ids.take(), user, side, kind,
                                           tif, price, qty, stop)
        return command, FixOrigin(user, in_seq, out_before, NEW, clordid, "", int(side))

    def _mass(self, user, clordid, fields, in_seq, out_before):
        request_type = fields[TAG.MassCancelRequestType]
        scope = _MASS.get(request_type)
        if scope is None:
            raise RequestError("bad_mass_cancel", f"MassCancelRequestType {request_type!r}: "
                                                  "only 1 (a security) and 7 (all) are served")
        symbol = ALL_SYMBOLS
        if scope == MassCancelScope.USER_SYMBOL:
            symbol = self.symbol_ids.get(fields.get(TAG.Symbol, ""))
            if symbol is None:
                raise RequestError("unknown_symbol", "Symbol is not listed")
        return (self.sequencer.mass_cancel(scope, user, symbol),
                FixOrigin(user, in_seq, out_before, MASS, clordid, request_type, 0))

    def refusal(self, user, msg_type, fields, error):
        """(user, MsgType, body) answering a request refused with `error`."""
        clordid = fields.get(TAG.ClOrdID, "NONE")[:MAX_CLORDID]
        if msg_type in (CANCEL, REPLACE):
            orig = fields.get(TAG.OrigClOrdID, "")[:MAX_CLORDID]
            order = self.state.orders.get(self.state.ids.get((user, orig)))
            return cancel_reject(user, clordid, orig, order, msg_type,
                                 1 if error.kind == "unknown_order" else 99, str(error))
        if msg_type == MASS:
            return user, "r", [(TAG.ClOrdID, clordid), (TAG.OrderID, "NONE"),
                               (TAG.MassCancelRequestType,
                                fields.get(TAG.MassCancelRequestType, "7")[:1]),
                               (TAG.MassCancelResponse, "0"), (TAG.Text, str(error))]
        exec_id = f"R{user}.{self.state.numbers_of(user)[1]}"     # unique: its MsgSeqNum
        return user, "8", [(TAG.OrderID, "NONE"), (TAG.ClOrdID, clordid),
                           (TAG.ExecID, exec_id), (TAG.ExecType, "8"),
                           (TAG.OrdStatus, "8"), (TAG.Symbol, fields.get(TAG.Symbol, "?")[:16]),
                           (TAG.Side, fields.get(TAG.Side, "1")[:1]), (TAG.LeavesQty, 0),
                           (TAG.CumQty, 0), (TAG.AvgPx, 0), (TAG.OrdRejReason, 99),
                           (TAG.Text, str(error))]
