"""The sequencer: the single point that orders the exchange's inputs.

It stamps each command with the next sequence number and a timestamp from
its clock and passes it on. Everything downstream (the log, the engine, the
FPGA) sees only stamped commands, which is what makes replay exact.
"""

from enum import IntEnum

from gatebook.wire import internal
from gatebook.wire.enums import OrderType, TimeInForce
from gatebook.wire.records import make

__all__ = ["Sequencer", "new_order", "cancel", "replace", "mass_cancel", "admin"]

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

    def stamped(self, command: "tuple[int, ...]") -> "tuple[int, ...]":
        """`command` (from `new_order`, `cancel`, ...) with the next seq and a ts from the clock.

        Whatever seq and ts the command carried are replaced: the sequencer alone
        orders the inputs.

        Raises
        ------
        ValueError
            `command` is not a tuple or its type byte names no command.
        """
        if not isinstance(command, tuple) or not command or command[0] not in _COMMANDS_BY_CODE:
            raise ValueError(f"not an unstamped command: {command!r:.80}")
        message = _COMMANDS_BY_CODE[command[0]]
        # Positions by name: +1 for the type byte that leads every record.
        seq_at, ts_at = message.field_names.index("seq") + 1, message.field_names.index("ts") + 1
        values = list(command)
        values[seq_at] = self.next_seq
        values[ts_at] = self.clock()
        self.next_seq += 1
        return tuple(values)


# -- unstamped commands, by field name ------------------------------------------
# seq and ts are 0 until `Sequencer.stamped` fills them in: only the sequencer
# knows the next sequence number, so a command built anywhere else carries none.

_COMMANDS_BY_CODE = internal.COMMANDS.by_code()


def _plain(value):
    # The project's enums go in as the plain ints the hot path carries; anything
    # else goes in as given, for the engine's validation to judge.
    return int(value) if isinstance(value, IntEnum) else value


def _unstamped(message, **fields) -> "tuple[int, ...]":
    return make(message, seq=0, ts=0, **{name: _plain(value) for name, value in fields.items()})


def new_order(*, symbol: int, order_id: int, user: int, side: int, price: int, qty: int,
              order_type: int = OrderType.LIMIT, tif: int = TimeInForce.DAY,
              stop_price: int = 0) -> "tuple[int, ...]":
    """An unstamped NEW_ORDER: a day limit order unless `order_type`/`tif` say otherwise.

    Parameters
    ----------
    symbol, order_id, user : int
    side : Side or int
    price, stop_price : int
        Price units of 1/10000; `price` is 0 for market and stop orders.
    qty : int
        Shares, a multiple of the symbol's lot size.
    order_type : OrderType or int
    tif : TimeInForce or int
    """
    return _unstamped(internal.NEW_ORDER, symbol=symbol, order_id=order_id, user=user,
                      side=side, order_type=order_type, tif=tif, price=price,
                      stop_price=stop_price, qty=qty)


def cancel(*, order_id: int, user: int) -> "tuple[int, ...]":
    """An unstamped CANCEL of `user`'s order `order_id`."""
    return _unstamped(internal.CANCEL, order_id=order_id, user=user)


def replace(*, order_id: int, user: int, price: int, qty: int) -> "tuple[int, ...]":
    """An unstamped REPLACE: `qty` is the new open quantity."""
    return _unstamped(internal.REPLACE, order_id=order_id, user=user, price=price, qty=qty)


def mass_cancel(*, scope: int, user: int, symbol: int) -> "tuple[int, ...]":
    """An unstamped MASS_CANCEL (`scope`: MassCancelScope; `symbol` may be ALL_SYMBOLS)."""
    return _unstamped(internal.MASS_CANCEL, scope=scope, user=user, symbol=symbol)


def admin(*, action: int, symbol: int) -> "tuple[int, ...]":
    """An unstamped ADMIN command (`action`: AdminAction; `symbol` may be ALL_SYMBOLS)."""
    return _unstamped(internal.ADMIN, action=action, symbol=symbol)
