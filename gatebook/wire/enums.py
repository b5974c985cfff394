"""Enumerations shared by every codec, the engine and the gateware.

Values are small integers so the gateware can compare them in a few LUTs and
index coverage arrays with them; protocols that spell a value as a letter
(ITCH's 'B'/'S') map it in their own table module.
"""

from enum import IntEnum

__all__ = [
    "Side", "OrderType", "TimeInForce", "RejectReason", "CancelReason",
    "MassCancelScope", "AdminAction", "ALL_SYMBOLS", "Role", "LoginRejectReason",
    "SessionRefusal", "LogoutReason", "OrderEntryProtocol", "PRIVATE_PROTOCOLS",
]

# Symbol id that addresses every symbol in admin and mass-cancel commands.
ALL_SYMBOLS = 0xFFFF


class _Described(IntEnum):
    """An IntEnum whose members carry a sentence for people, set beside the value."""

    def __new__(cls, value, text=""):
        member = int.__new__(cls, value)
        member._value_ = value
        member.text = text
        return member


class Side(IntEnum):
    BUY  = 0
    SELL = 1


class OrderType(IntEnum):
    LIMIT      = 0
    MARKET     = 1
    STOP       = 2   # becomes a market order when triggered
    STOP_LIMIT = 3   # becomes a limit order when triggered


class TimeInForce(IntEnum):
    DAY = 0          # rests until END_OF_DAY
    GTC = 1          # rests until cancelled
    IOC = 2          # fills what it can now; the remainder is cancelled
    FOK = 3          # fills completely now or not at all


class RejectReason(_Described):
    UNKNOWN_SYMBOL            = 1,  "symbol is not listed"
    INVALID_QUANTITY          = 2,  "quantity must be a positive whole number of shares"
    QUANTITY_NOT_LOT_MULTIPLE = 3,  "quantity is not a multiple of the symbol's lot size"
    QUANTITY_TOO_LARGE        = 4,  "quantity does not fit the 32-bit quantity field"
    INVALID_PRICE             = 5,  "limit price must be a positive integer number of price units"
    PRICE_NOT_ON_TICK         = 6,  "price is not a multiple of the symbol's tick size"
    PRICE_OUTSIDE_BAND        = 7,  "price is outside the symbol's price band"
    PRICE_NOT_ALLOWED         = 8,  "market and stop orders carry no limit price"
    INVALID_STOP_PRICE        = 9,  "stop price is missing, off the tick grid or outside the band"
    INVALID_SIDE              = 10, "side is neither buy nor sell"
    INVALID_ORDER_TYPE        = 11, "order type is not limit, market, stop or stop-limit"
    INVALID_TIME_IN_FORCE     = 12, "time in force is not DAY, GTC, IOC or FOK"
    DUPLICATE_ORDER_ID        = 13, "order id has already been used"
    UNKNOWN_ORDER             = 14, "no order has this id"
    ORDER_NOT_LIVE            = 15, "order is already filled, cancelled or expired"
    NOT_OWNER                 = 16, "order belongs to another user"
    SYMBOL_HALTED             = 17, "trading in the symbol is halted"
    NOT_REPLACEABLE           = 18, "a stop order waiting for its trigger cannot be replaced"
    INVALID_SCOPE             = 19, "mass-cancel scope is not user, symbol or user-and-symbol"
    INVALID_ADMIN_ACTION      = 20, "admin action is not halt, resume, end-of-day or kill"
    UNKNOWN_COMMAND           = 21, "command type is not known"
    INVALID_ORDER_ID          = 22, "order id must be a positive 64-bit integer"
    INVALID_USER              = 23, "user must be a 32-bit unsigned integer"
    # 24..31: the engine's per-symbol limits and command stamps (host/engine.py).
    QUANTITY_ABOVE_LIMIT      = 24, "quantity is above the symbol's maximum order size"
    NOTIONAL_ABOVE_LIMIT      = 25, "price times quantity is above the symbol's maximum notional"
    INVALID_STAMP             = 26, "sequence number and timestamp must be 64-bit unsigned integers"
    # 32..39: pre-trade risk (host/risk/), per account, in front of the engine.
    INSUFFICIENT_BUYING_POWER = 32, "the order's cost and fees exceed the account's buying power left"
    POSITION_LIMIT            = 33, "the order could take the account's position past its limit"
    ORDER_SIZE_LIMIT          = 34, "quantity is above the account's maximum order size"
    ORDER_NOTIONAL_LIMIT      = 35, "price times quantity is above the account's maximum notional"
    NO_RISK_LIMITS            = 36, "the account has no risk limits set"


class CancelReason(_Described):
    USER          = 1, "cancelled at the owner's request"
    IOC_REMAINDER = 2, "unfilled remainder of an IOC or market order"
    FOK_KILL      = 3, "fill-or-kill order could not be filled in full"
    SELF_TRADE    = 4, "would have traded with an order of the same user"
    HALT          = 5, "cancelled by a kill switch or halt"
    MASS_CANCEL   = 6, "cancelled by a mass cancel"
    EXPIRED       = 7, "DAY order expired at end of day"
    PROTECTION    = 8, "market or stop order's remainder is beyond its protection limit"


class MassCancelScope(IntEnum):
    USER        = 0  # every order of the user, all symbols
    SYMBOL      = 1  # every order in the symbol, all users
    USER_SYMBOL = 2  # the user's orders in one symbol


class AdminAction(IntEnum):
    HALT       = 0   # reject new orders; resting orders stay and may be cancelled
    RESUME     = 1
    END_OF_DAY = 2   # expire DAY orders, resting or waiting as stops; GTC stays
    KILL       = 3   # halt and cancel every resting and pending order


class Role(IntEnum):
    """What an order-entry account may do (host/net/accounts.py)."""
    TRADER = 0       # its own orders: enter, cancel, replace, mass-cancel
    ADMIN  = 1       # also halts, resumes, kill switch, end of day, anyone's mass cancel


class LoginRejectReason(_Described):
    NOT_AUTHORIZED = 1, "user name or password is not right"
    TABLE_FULL     = 2, "the exchange holds as many sessions as it may; try again later"
    TOO_MANY_TRIES = 3, "too many failed logins from this address; wait before trying again"
    BUSY           = 4, "too many logins are being checked; try again later"


class SessionRefusal(_Described):
    """Why the exchange refused a datagram (the REFUSED reply's reason)."""
    UNKNOWN_SESSION = 1, "no session has this id: log in first"
    WRONG_PEER      = 2, "the session was opened from another address"
    EXPIRED         = 3, "the session expired after a silence: log in again"
    LOGGED_OUT      = 4, "the session ended (logged out, or replaced by a newer login)"
    MALFORMED       = 5, "the datagram is not a header and the messages it counts"
    NOT_ALONE       = 6, "a login, logout, mass cancel or admin message travels alone"
    NOT_ADMIN       = 7, "only an admin may do this"
    OUT_OF_RANGE    = 8, "sequence number too large"
    INVALID         = 9, "a field of the message has a value it may not have"
    RATE_LIMITED    = 10, "the user sent more messages a second than allowed: send again later"
    TOO_MANY_LIVE_ORDERS = 11, "the user has as many live orders as allowed: cancel some first"


class LogoutReason(_Described):
    REQUESTED = 1, "the client logged out"
    REPLACED  = 2, "a newer login of the same user took over"


class OrderEntryProtocol(IntEnum):
    """Which order-entry protocol a logged command came through (the log's origin records,
    gatebook/wire/wal.py ORIGIN_HEADER; the snapshot's per-protocol state)."""
    OUCH = 1         # the OUCH-style datagram protocol (gatebook/wire/ouch.py, host/ouch/)
    FIX  = 2         # FIX 4.4 over TCP (issue 11)


# Protocol ids 128..255 are for protocols Gatebook does not ship (in-house ones, tests): the
# log carries them like any other, and recovery needs their codec registered.
PRIVATE_PROTOCOLS = range(128, 256)
