"""NASDAQ TotalView-ITCH 5.0 messages used by Gatebook's market-data feed.

# Ref: NASDAQ TotalView-ITCH 5.0 specification, section 1.3 (data types) and
#      sections 4.1-4.6 (the messages below).

Big-endian. Every message starts with the type byte, then stock locate,
tracking number and a 48-bit timestamp (nanoseconds since midnight). Prices
are Price(4): an unsigned count of 1/10000 dollars, the same unit Gatebook
uses internally, so no conversion is ever made.
"""

from .layout import ALPHA, PRICE4, Field, Message, Protocol

__all__ = [
    "SYSTEM_EVENT", "STOCK_DIRECTORY", "STOCK_TRADING_ACTION", "ADD_ORDER",
    "ADD_ORDER_MPID", "ORDER_EXECUTED", "ORDER_EXECUTED_WITH_PRICE",
    "ORDER_CANCEL", "ORDER_DELETE", "ORDER_REPLACE", "TRADE", "ITCH50",
    "BINARYFILE_LENGTH", "BINARYFILE", "BUY", "SELL",
]

BUY, SELL = "B", "S"       # Buy/Sell Indicator values

_HEADER = (
    Field("stock_locate",    2),
    Field("tracking_number", 2),
    Field("timestamp",       6, doc="nanoseconds since midnight"),
)
_REF = Field("order_ref", 8, doc="order reference number")
_STOCK = Field("stock", 8, ALPHA)
_PRICE = Field("price", 4, PRICE4)
_SIDE = Field("side", 1, ALPHA, doc="B or S")
_MATCH = Field("match_number", 8)

SYSTEM_EVENT = Message("system_event", ord("S"), _HEADER + (
    Field("event_code", 1, ALPHA, doc="O start of messages, S start of system hours, "
                                      "Q start of market hours, M end of market hours, "
                                      "E end of system hours, C end of messages"),
))

STOCK_DIRECTORY = Message("stock_directory", ord("R"), _HEADER + (
    _STOCK,
    Field("market_category",            1, ALPHA),
    Field("financial_status_indicator", 1, ALPHA),
    Field("round_lot_size",             4),
    Field("round_lots_only",            1, ALPHA),
    Field("issue_classification",       1, ALPHA),
    Field("issue_sub_type",             2, ALPHA),
    Field("authenticity",               1, ALPHA),
    Field("short_sale_threshold",       1, ALPHA),
    Field("ipo_flag",                   1, ALPHA),
    Field("luld_reference_price_tier",  1, ALPHA),
    Field("etp_flag",                   1, ALPHA),
    Field("etp_leverage_factor",        4),
    Field("inverse_indicator",          1, ALPHA),
))

STOCK_TRADING_ACTION = Message("stock_trading_action", ord("H"), _HEADER + (
    _STOCK,
    Field("trading_state", 1, ALPHA, doc="H halted, P paused, Q quotation only, T trading"),
    Field("reserved",      1, ALPHA),
    Field("reason",        4, ALPHA),
))

ADD_ORDER = Message("add_order", ord("A"), _HEADER + (
    _REF, _SIDE, Field("shares", 4), _STOCK, _PRICE,
))

ADD_ORDER_MPID = Message("add_order_mpid", ord("F"), _HEADER + (
    _REF, _SIDE, Field("shares", 4), _STOCK, _PRICE,
    Field("attribution", 4, ALPHA),
))

ORDER_EXECUTED = Message("order_executed", ord("E"), _HEADER + (
    _REF, Field("executed_shares", 4), _MATCH,
))

ORDER_EXECUTED_WITH_PRICE = Message("order_executed_with_price", ord("C"), _HEADER + (
    _REF, Field("executed_shares", 4), _MATCH,
    Field("printable", 1, ALPHA),
    Field("execution_price", 4, PRICE4),
))

ORDER_CANCEL = Message("order_cancel", ord("X"), _HEADER + (
    _REF, Field("cancelled_shares", 4),
))

ORDER_DELETE = Message("order_delete", ord("D"), _HEADER + (_REF,))

ORDER_REPLACE = Message("order_replace", ord("U"), _HEADER + (
    Field("original_order_ref", 8),
    Field("new_order_ref",      8),
    Field("shares",             4),
    _PRICE,
))

TRADE = Message("trade", ord("P"), _HEADER + (
    _REF, _SIDE, Field("shares", 4), _STOCK, _PRICE, _MATCH,
), doc="Execution against a non-displayed order.")

ITCH50 = Protocol("itch-5.0", "big", (
    SYSTEM_EVENT, STOCK_DIRECTORY, STOCK_TRADING_ACTION, ADD_ORDER, ADD_ORDER_MPID,
    ORDER_EXECUTED, ORDER_EXECUTED_WITH_PRICE, ORDER_CANCEL, ORDER_DELETE,
    ORDER_REPLACE, TRADE,
))

# NASDAQ's historical ITCH files ("BinaryFILE") put this before every message.
BINARYFILE_LENGTH = Message("binaryfile_length", None, (
    Field("message_length", 2),
))
BINARYFILE = Protocol("itch-5.0-binaryfile", "big", (BINARYFILE_LENGTH,))
