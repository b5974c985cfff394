"""What FIX order entry knows about its orders and sessions, and the reports events make.

# Ref: FIX 4.4 Volume 4 (ExecutionReport, OrderCancelReject, OrderMassCancelReport;
#      the order state change matrices), docs/fix.md.

`FixState` is both the live entry's state and what the log rebuilds
(`replay`, an `OriginState`): each live FIX order's ClOrdID, FIX quantities
(OrderQty is the total ordered, CumQty what filled, the notional behind AvgPx)
and each user's session numbers. `reports(events, origin)` turns one
command's events into the FIX messages each owner gets; the live entry sends
them and the log's replay counts them, so both number a user's outbound
messages alike (the origin of each logged command carries the user's next
outbound number when it came, which covers session messages in between).
"""

from typing import NamedTuple

from gatebook.wire import internal
from gatebook.wire.enums import CancelReason, OrderType, RejectReason, Side, TimeInForce
from gatebook.wire.positions import CODE, INTERNAL

from .dictionary import (CXL_REJ_RESPONSE_TO, EXEC_TYPE, MASS_CANCEL_RESPONSE, ORD_STATUS,
                         ORD_TYPE, SIDE, TAG, TIME_IN_FORCE)

__all__ = ["FixOrder", "FixOrigin", "FixState", "price_text", "NEW", "CANCEL", "REPLACE", "MASS"]

NEW, CANCEL, REPLACE, MASS = "D", "F", "G", "q"      # the FIX MsgType a command came from

_A, _J, _E, _C, _R, _S, _K = (internal.ACCEPTED.code, internal.REJECTED.code,
                              internal.EXECUTED.code, internal.CANCELLED.code,
                              internal.REPLACED.code, internal.STOP_TRIGGERED.code,
                              internal.DONE.code)
_NEW_CMD = internal.NEW_ORDER.code
A, J, E, C, R, S, K = (INTERNAL.ACCEPTED, INTERNAL.REJECTED, INTERNAL.EXECUTED,
                       INTERNAL.CANCELLED, INTERNAL.REPLACED, INTERNAL.STOP_TRIGGERED,
                       INTERNAL.DONE)
_SEQ = A.seq
_FIX_SIDE = {int(Side.BUY): SIDE["BUY"], int(Side.SELL): SIDE["SELL"]}
_FIX_TYPE = {int(OrderType.MARKET): ORD_TYPE["MARKET"], int(OrderType.LIMIT): ORD_TYPE["LIMIT"],
             int(OrderType.STOP): ORD_TYPE["STOP"],
             int(OrderType.STOP_LIMIT): ORD_TYPE["STOP_LIMIT"]}
_FIX_TIF = {int(TimeInForce.DAY): TIME_IN_FORCE["DAY"],
            int(TimeInForce.GTC): TIME_IN_FORCE["GOOD_TILL_CANCEL"],
            int(TimeInForce.IOC): TIME_IN_FORCE["IMMEDIATE_OR_CANCEL"],
            int(TimeInForce.FOK): TIME_IN_FORCE["FILL_OR_KILL"]}
# OrdRejReason (103) / CxlRejReason (102) of the engine's and the risk gate's reasons;
# 3 is "order exceeds limit", 0 "broker / exchange option", 99 "other".
_ORD_REJ = {int(RejectReason.UNKNOWN_SYMBOL): 1, int(RejectReason.SYMBOL_HALTED): 2,
            int(RejectReason.DUPLICATE_ORDER_ID): 6, int(RejectReason.UNKNOWN_ORDER): 5,
            int(RejectReason.QUANTITY_ABOVE_LIMIT): 13, int(RejectReason.INVALID_PRICE): 99,
            int(RejectReason.NOTIONAL_ABOVE_LIMIT): 3,
            int(RejectReason.INSUFFICIENT_BUYING_POWER): 3, int(RejectReason.POSITION_LIMIT): 3,
            int(RejectReason.ORDER_SIZE_LIMIT): 3, int(RejectReason.ORDER_NOTIONAL_LIMIT): 3,
            int(RejectReason.NO_RISK_LIMITS): 0}
_CXL_REJ = {int(RejectReason.UNKNOWN_ORDER): 1, int(RejectReason.ORDER_NOT_LIVE): 0}


def price_text(units):
    """Engine price units (1/10000) as an exact FIX decimal: 1005000 -> "100.5"."""
    whole, fraction = divmod(units, 10_000)
    return f"{whole}.{fraction:04d}".rstrip("0").rstrip(".") if fraction else str(whole)


def _average(notional, qty):
    """AvgPx of `notional` (price units x shares) over `qty`, exact to 8 decimals
    (rounded half up): an average need not be a finite decimal."""
    if not qty:
        return "0"
    scaled = (notional * 10_000 * 2 + qty) // (2 * qty)      # 1e-8 currency units
    whole, fraction = divmod(scaled, 100_000_000)
    return f"{whole}.{fraction:08d}".rstrip("0").rstrip(".") if fraction else str(whole)


class FixOrigin(NamedTuple):
    """What the log keeps of a FIX request: whose, its numbers, its ClOrdIDs."""

    user:         int
    in_seq:       int   # the request's MsgSeqNum
    out_before:   int   # the user's next outbound MsgSeqNum when it came
    kind:         str   # NEW, CANCEL, REPLACE or MASS
    clordid:      str
    orig_clordid: str   # a cancel's or replace's OrigClOrdID; a mass cancel's request type
    side:         int   # the request's Side (gatebook.wire.enums.Side)


class FixOrder:
    """One live FIX order: its ClOrdID and FIX quantities."""

    __slots__ = ("order_id", "user", "clordid", "symbol", "side", "qty", "cum", "notional",
                 "price", "ord_type", "tif", "stop_price")

    def __init__(self, order_id, user, clordid, symbol, side, qty, cum=0, notional=0,
                 price=0, ord_type=0, tif=0, stop_price=0):
        self.order_id, self.user, self.clordid, self.symbol = order_id, user, clordid, symbol
        self.side, self.qty, self.cum, self.notional = side, qty, cum, notional
        self.price, self.ord_type, self.tif, self.stop_price = price, ord_type, tif, stop_price

    def row(self):
        return [getattr(self, name) for name in self.__slots__]


class FixState:
    """Live FIX orders by id and by (user, ClOrdID), and each user's session numbers.

    Attributes
    ----------
    orders : dict
        order id -> FixOrder, while the order lives.
    ids : dict
        (user, ClOrdID) -> order id of a live order (its latest ClOrdID).
    numbers : dict
        user -> [next inbound MsgSeqNum expected, next outbound MsgSeqNum].
    names : dict
        symbol id -> symbol name (for reports; not part of the logged state).
    """

    def __init__(self, orders=(), numbers=None):
        self.orders = {order.order_id: order for order in orders}
        self.ids = {(o.user, o.clordid): o.order_id for o in self.orders.values()}
        self.numbers = {user: list(pair) for user, pair in (numbers or {}).items()}
        self.names = {}

    def copy(self):
        twin = FixState([FixOrder(*order.row()) for order in self.orders.values()],
                        self.numbers)
        twin.names = self.names
        return twin

    def __eq__(self, other):
        return (isinstance(other, FixState) and self.numbers == other.numbers
                and {k: o.row() for k, o in self.orders.items()}
                == {k: o.row() for k, o in other.orders.items()})

    def numbers_of(self, user):
        found = self.numbers.get(user)
        if found is None:
            found = self.numbers[user] = [1, 1]
        return found

    # -- the log's side ---------------------------------------------------------

    def replay(self, command, origin, events):
        """One logged command (an OriginState): numbers and orders as the live entry had them."""
        if origin is not None:
            # As the request found them: after a ResetSeqNumFlag logon they are lower.
            self.numbers[origin.user] = [origin.in_seq + 1, origin.out_before]
        for user, _, _ in self.reports(events, origin):
            self.numbers_of(user)[1] += 1

    # -- events to FIX messages -------------------------------------------------

    def reports(self, events, origin):
        """[(user, MsgType, body pairs)] of one command's events; updates the orders."""
        out = []
        for index, event in enumerate(events):
            code = event[CODE]
            if code == _A:
                if origin is not None and event[A.user] == origin.user:
                    self._accepted(event, origin, out, index)
            elif code == _E:
                for at, leaves in ((E.aggressor_id, E.aggressor_leaves),
                                   (E.resting_id, E.resting_leaves)):
                    order = self.orders.get(event[at])
                    if order is not None:       # ExecIDs differ when both sides are FIX's
                        self._filled(order, event, event[leaves], out,
                                     index if at == E.aggressor_id else f"{index}r")
            elif code == _C:
                order = self.orders.get(event[C.order_id])
                if order is not None:
                    self._cancelled(order, event, origin, out, index)
            elif code == _R:
                order = self.orders.get(event[R.order_id])
                if order is not None and origin is not None:
                    self._replaced(order, event, origin, out, index)
            elif code == _S:
                order = self.orders.get(event[S.order_id])
                if order is not None:
                    out.append(self._report(order, event, index, "TRIGGERED_OR_ACTIVATED_BY_SYSTEM",
                                            order.qty - order.cum))
            elif code == _J and origin is not None and event[J.user] == origin.user:
                self._rejected(event, origin, out, index)
            elif code == _K and origin is not None and origin.kind == MASS:
                out.append((origin.user, "r", [
                    (TAG.ClOrdID, origin.clordid), (TAG.OrderID, f"M{event[K.seq]}"),
                    (TAG.MassCancelRequestType, origin.orig_clordid or "7"),
                    (TAG.MassCancelResponse, origin.orig_clordid or "7"),
                    (TAG.TotalAffectedOrders, event[K.affected])]))
        return out

    def _accepted(self, event, origin, out, index):
        order = FixOrder(event[A.order_id], origin.user, origin.clordid, event[A.symbol],
                         event[A.side], event[A.qty], price=event[A.price],
                         ord_type=event[A.order_type], tif=event[A.tif],
                         stop_price=event[A.stop_price])
        self.orders[order.order_id] = order
        self.ids[(order.user, order.clordid)] = order.order_id
        out.append(self._report(order, event, index, "NEW", order.qty))

    def _filled(self, order, event, leaves, out, index):
        qty, price = event[E.qty], event[E.price]
        order.cum += qty
        order.notional += qty * price
        out.append(self._report(order, event, index, "TRADE", leaves,
                                status="FILLED" if not leaves else "PARTIALLY_FILLED",
                                extra=[(TAG.LastQty, qty), (TAG.LastPx, price_text(price))]))
        if not leaves:
            self._gone(order)

    def _cancelled(self, order, event, origin, out, index):
        reason = event[C.reason]
        # The order the request named (not another the same command cancelled: STP).
        mine = (origin is not None and origin.user == order.user
                and origin.orig_clordid == order.clordid)
        if mine and origin.kind == REPLACE:
            # A replace to no more than the filled quantity: the rest is cancelled and
            # the order is done, reported as replaced (FIX 4.4: filled when CumQty >= qty).
            clordid, origclordid = origin.clordid, order.clordid
            order.qty = order.cum
            out.append(self._report(order, event, index, "REPLACED", 0,
                                    status="FILLED" if order.cum else "CANCELED",
                                    clordid=clordid, orig=origclordid))
        else:
            expired = reason == CancelReason.EXPIRED
            clordid = origin.clordid if mine and origin.kind == CANCEL else order.clordid
            text = CancelReason(reason).text if reason in CancelReason._value2member_map_ else ""
            out.append(self._report(order, event, index, "EXPIRED" if expired else "CANCELED",
                                    0, clordid=clordid,
                                    orig=order.clordid if clordid != order.clordid else None,
                                    extra=[(TAG.Text, text)] if text else ()))
        self._gone(order)

    def _replaced(self, order, event, origin, out, index):
        old = order.clordid
        self.ids.pop((order.user, old), None)
        order.clordid, order.price = origin.clordid, event[R.price]
        order.qty = order.cum + event[R.qty]        # FIX's OrderQty: the total
        self.ids[(order.user, order.clordid)] = order.order_id
        out.append(self._report(order, event, index, "REPLACED", event[R.qty], orig=old))

    def _rejected(self, event, origin, out, index):
        reason = event[J.reason]
        text = RejectReason(reason).text if reason in RejectReason._value2member_map_ \
            else f"reason {reason}"
        if event[J.command] == _NEW_CMD:
            out.append((origin.user, "8", [
                (TAG.OrderID, "NONE"), (TAG.ClOrdID, origin.clordid),
                (TAG.ExecID, f"{event[_SEQ]}.{index}"), (TAG.ExecType, EXEC_TYPE["REJECTED"]),
                (TAG.OrdStatus, ORD_STATUS["REJECTED"]),
                (TAG.Symbol, self.names.get(event[J.symbol], "?")),
                (TAG.Side, _FIX_SIDE.get(origin.side, "1")), (TAG.LeavesQty, 0),
                (TAG.CumQty, 0), (TAG.AvgPx, 0),
                (TAG.OrdRejReason, _ORD_REJ.get(reason, 99)), (TAG.Text, text)]))
        elif origin.kind in (CANCEL, REPLACE):
            order = self.orders.get(event[J.order_id])
            out.append(cancel_reject(origin.user, origin.clordid, origin.orig_clordid,
                                     order, origin.kind, _CXL_REJ.get(reason, 99), text))
        elif origin.kind == MASS:
            out.append((origin.user, "r", [
                (TAG.ClOrdID, origin.clordid), (TAG.OrderID, "NONE"),
                (TAG.MassCancelRequestType, origin.orig_clordid or "7"),
                (TAG.MassCancelResponse, MASS_CANCEL_RESPONSE["CANCEL_REQUEST_REJECTED"]),
                (TAG.Text, text)]))

    def _gone(self, order):
        self.orders.pop(order.order_id, None)
        if self.ids.get((order.user, order.clordid)) == order.order_id:
            del self.ids[(order.user, order.clordid)]

    def _report(self, order, event, index, exec_type, leaves, status=None, clordid=None,
                orig=None, extra=()):
        if status is None:
            status = {"NEW": "NEW", "CANCELED": "CANCELED", "EXPIRED": "EXPIRED"}.get(
                exec_type, "PARTIALLY_FILLED" if order.cum else "NEW")
        body = [(TAG.OrderID, order.order_id), (TAG.ClOrdID, clordid or order.clordid)]
        if orig:
            body.append((TAG.OrigClOrdID, orig))
        body += [(TAG.ExecID, f"{event[_SEQ]}.{index}"), (TAG.ExecType, EXEC_TYPE[exec_type]),
                 (TAG.OrdStatus, ORD_STATUS[status]),
                 (TAG.Symbol, self.names.get(order.symbol, "?")),
                 (TAG.Side, _FIX_SIDE.get(order.side, "1")), (TAG.OrderQty, order.qty),
                 (TAG.OrdType, _FIX_TYPE.get(order.ord_type, "2"))]
        if order.price:
            body.append((TAG.Price, price_text(order.price)))
        if order.stop_price:
            body.append((TAG.StopPx, price_text(order.stop_price)))
        body += [(TAG.TimeInForce, _FIX_TIF.get(order.tif, "0")), (TAG.LeavesQty, leaves),
                 (TAG.CumQty, order.cum), (TAG.AvgPx, _average(order.notional, order.cum))]
        body += list(extra)
        return order.user, "8", body


def cancel_reject(user, clordid, orig_clordid, order, kind, reason, text):
    """(user, "9", body) of an OrderCancelReject."""
    status = (ORD_STATUS["PARTIALLY_FILLED"] if order is not None and order.cum
              else ORD_STATUS["NEW"] if order is not None else ORD_STATUS["REJECTED"])
    return user, "9", [
        (TAG.OrderID, order.order_id if order is not None else "NONE"),
        (TAG.ClOrdID, clordid), (TAG.OrigClOrdID, orig_clordid or "NONE"),
        (TAG.OrdStatus, status),
        (TAG.CxlRejResponseTo, CXL_REJ_RESPONSE_TO["ORDER_CANCEL_REQUEST"] if kind == CANCEL
         else CXL_REJ_RESPONSE_TO["ORDER_CANCEL_REPLACE_REQUEST"]),
        (TAG.CxlRejReason, reason), (TAG.Text, text)]
