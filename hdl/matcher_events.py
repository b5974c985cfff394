"""The matcher's event formatter: one method per record the lane writes.

Each method drives one record of the event port combinationally; the matcher's
states say which records go out in which beat. Every record but ACCEPTED (a
copy of the new order, stamp included) takes `seq` and `ts` from the command
that caused it, through `command_stamp`.
"""

from gatebook.wire import internal, link

from .matcher_records import command_stamp, copy_entry

__all__ = ["EventFormatter"]


class EventFormatter:
    """Drives event records from the command in progress.

    Parameters
    ----------
    m : Module
        Gets the combinational assignments.
    command : data.View of COMMAND
        The command in progress; its stamp goes into every record.
    """

    def __init__(self, m, command):
        self.m = m
        self.stamp = command_stamp(command)

    def _stamped(self, record, message):
        self.m.d.comb += [record.code.eq(message.code),
                          record.seq.eq(self.stamp.seq), record.ts.eq(self.stamp.ts)]

    def accepted(self, record, order):
        """ACCEPTED: the new order as it came in, under ACCEPTED's type byte."""
        self.m.d.comb += [record.eq(order.as_value()), record.code.eq(internal.ACCEPTED.code)]

    def level(self, record, *, symbol, side, price, qty, orders):
        """LEVEL: what rests at one price on one side after the change."""
        self._stamped(record, internal.LEVEL)
        self.m.d.comb += [record.symbol.eq(symbol), record.side.eq(side), record.price.eq(price),
                          record.qty.eq(qty), record.orders.eq(orders)]

    def cancelled(self, record, *, symbol, order_id, user, qty, reason):
        """CANCELLED: `qty` open shares of an order leave the book (or never rest)."""
        self._stamped(record, internal.CANCELLED)
        self.m.d.comb += [record.symbol.eq(symbol), record.order_id.eq(order_id),
                          record.user.eq(user), record.qty.eq(qty), record.reason.eq(reason)]

    def replaced(self, record, *, symbol, entry, qty):
        """REPLACED: a quantity decrease of a window entry, which keeps its priority."""
        self._stamped(record, internal.REPLACED)
        self.m.d.comb += [record.symbol.eq(symbol), record.order_id.eq(entry.order_id),
                          record.user.eq(entry.user), record.price.eq(entry.price),
                          record.qty.eq(qty), record.kept_priority.eq(1)]

    def fill(self, executed, trade, *, match_id, order, side, open_qty, resting, qty):
        """EXECUTED and TRADE of `qty` shares between the aggressor and a resting entry.

        Parameters
        ----------
        match_id : Value
            The fill's (lane-local) match id.
        order : data.View
            The aggressor, a NEW_ORDER; `side` its side, `open_qty` its open
            shares before this fill.
        resting : data.View of ENTRY
            The resting order it trades with, at whose price the fill is.
        """
        self._stamped(executed, internal.EXECUTED)
        self._stamped(trade, internal.TRADE)
        self.m.d.comb += [
            executed.symbol.eq(order.symbol), executed.match_id.eq(match_id),
            executed.price.eq(resting.price), executed.qty.eq(qty),
            executed.aggressor_side.eq(side), executed.aggressor_id.eq(order.order_id),
            executed.aggressor_user.eq(order.user), executed.aggressor_leaves.eq(open_qty - qty),
            executed.resting_id.eq(resting.order_id), executed.resting_user.eq(resting.user),
            executed.resting_leaves.eq(resting.qty - qty),
            trade.symbol.eq(order.symbol), trade.match_id.eq(match_id),
            trade.price.eq(resting.price), trade.qty.eq(qty), trade.aggressor_side.eq(side),
        ]

    def handed_entry(self, record, message, *, symbol, side, entry):
        """SPILL or FLUSH (`message`): a window entry handed to the host, every field."""
        self._stamped(record, message)
        self.m.d.comb += [record.symbol.eq(symbol), record.side.eq(side)]
        copy_entry(self.m, record, entry)

    def punt(self, record, *, symbol, reason, handover, last_price):
        """PUNT: the command is the host's (and with `handover`, the symbol too)."""
        self._stamped(record, link.PUNT)
        self.m.d.comb += [record.symbol.eq(symbol), record.reason.eq(reason),
                          record.handover.eq(handover), record.last_price.eq(last_price)]
