"""The sequencer: the single point that orders the exchange's inputs.

It stamps each command with the next sequence number and a timestamp from
its clock and passes it on. Everything downstream (the log, the engine, the
FPGA) sees only stamped commands, which is what makes replay exact.
"""

from gatebook.wire import internal

__all__ = ["Sequencer"]

_NEW_ORDER, _CANCEL, _REPLACE = internal.NEW_ORDER.code, internal.CANCEL.code, internal.REPLACE.code
_MASS_CANCEL, _ADMIN = internal.MASS_CANCEL.code, internal.ADMIN.code


class Sequencer:
    """Builds stamped command tuples (type code, seq, ts, fields in table order).

    Parameters
    ----------
    clock : callable returning int nanoseconds
    next_seq : int
        Sequence number of the next command (recovery resumes from the log's last + 1).
    """

    def __init__(self, clock, next_seq=1):
        self.clock = clock
        self.next_seq = next_seq

    def stamp(self, code, *fields):
        seq = self.next_seq
        self.next_seq = seq + 1
        return (code, seq, self.clock()) + fields

    def new_order(self, symbol, order_id, user, side, order_type, tif, price, qty, stop_price=0):
        return self.stamp(_NEW_ORDER, symbol, order_id, user, side, order_type, tif,
                          price, stop_price, qty)

    def cancel(self, order_id, user):
        return self.stamp(_CANCEL, order_id, user)

    def replace(self, order_id, user, price, qty):
        return self.stamp(_REPLACE, order_id, user, price, qty)

    def mass_cancel(self, scope, user, symbol):
        return self.stamp(_MASS_CANCEL, scope, user, symbol)

    def admin(self, action, symbol):
        return self.stamp(_ADMIN, action, symbol)
