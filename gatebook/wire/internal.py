"""Gatebook's internal command and event records.

These are what the sequencer hands the matching engine (commands) and what the
engine emits (events), whether the engine is the Python golden model or the
FPGA pipeline. Every record starts with its type byte, then the sequence
number and timestamp the sequencer stamped on the command that caused it, so
hardware and software runs can be compared event for event.

Little-endian throughout: Amaranth layouts count from bit 0, so byte 0 of a
record is bits 0..7 of its gateware struct and no core swaps bytes.

Prices are unsigned integers in 1/10000 currency units (as ITCH's Price(4));
a symbol's tick size is a multiple of that unit. Quantities are whole shares.
"""

from .enums import (AdminAction, CancelReason, MassCancelScope, OrderType,
                    RejectReason, Side, TimeInForce)
from .layout import Field, Message, Protocol

__all__ = [
    "NEW_ORDER", "CANCEL", "REPLACE", "MASS_CANCEL", "ADMIN", "COMMANDS",
    "ACCEPTED", "REJECTED", "EXECUTED", "CANCELLED", "REPLACED",
    "STOP_TRIGGERED", "TRADE", "LEVEL", "TRADING_STATE", "DONE", "EVENTS",
]

_SEQ    = Field("seq",    8, doc="sequence number of the command")
_TS     = Field("ts",     8, doc="nanoseconds since the epoch, from the sequencer's clock")
_SYMBOL = Field("symbol", 2, doc="symbol id (ITCH stock locate)")
_ORDER  = Field("order_id", 8)
_USER   = Field("user",   4)
_SIDE   = Field("side",   1, enum=Side)
_PRICE  = Field("price",  4, doc="price units; 0 for market and stop orders")
_QTY    = Field("qty",    4, doc="shares")

_ORDER_FIELDS = (
    _SEQ, _TS, _SYMBOL, _ORDER, _USER, _SIDE,
    Field("order_type", 1, enum=OrderType),
    Field("tif",        1, enum=TimeInForce),
    _PRICE,
    Field("stop_price", 4, doc="trigger price of stop and stop-limit orders, else 0"),
    _QTY,
)

# -- commands ---------------------------------------------------------------

NEW_ORDER = Message("new_order", ord("O"), _ORDER_FIELDS)

CANCEL = Message("cancel", ord("X"), (_SEQ, _TS, _ORDER, _USER))

REPLACE = Message("replace", ord("U"), (
    _SEQ, _TS, _ORDER, _USER, _PRICE,
    Field("qty", 4, doc="new open quantity"),
), doc="A decrease of quantity at the same price keeps time priority; any other change loses it.")

MASS_CANCEL = Message("mass_cancel", ord("M"), (
    _SEQ, _TS,
    Field("scope", 1, enum=MassCancelScope),
    _USER, _SYMBOL,
))

ADMIN = Message("admin", ord("H"), (
    _SEQ, _TS,
    Field("action", 1, enum=AdminAction),
    Field("symbol", 2, doc="symbol id, or ALL_SYMBOLS"),
))

COMMANDS = Protocol("gatebook-commands", "little",
                    (NEW_ORDER, CANCEL, REPLACE, MASS_CANCEL, ADMIN))

# -- events -----------------------------------------------------------------

ACCEPTED = Message("accepted", ord("A"), _ORDER_FIELDS,
                   doc="A new order passed validation; it carries the order as entered.")

REJECTED = Message("rejected", ord("J"), (
    _SEQ, _TS,
    Field("command", 1, doc="type byte of the rejected command"),
    _SYMBOL, _ORDER, _USER,
    Field("reason", 1, enum=RejectReason),
))

EXECUTED = Message("executed", ord("E"), (
    _SEQ, _TS, _SYMBOL,
    Field("match_id", 8, doc="increases by one per execution, exchange-wide"),
    Field("price",    4, doc="the resting order's price"),
    _QTY,
    Field("aggressor_side",   1, enum=Side),
    Field("aggressor_id",     8),
    Field("aggressor_user",   4),
    Field("aggressor_leaves", 4, doc="aggressor's open quantity after this fill"),
    Field("resting_id",       8),
    Field("resting_user",     4),
    Field("resting_leaves",   4, doc="resting order's open quantity after this fill"),
))

CANCELLED = Message("cancelled", ord("C"), (
    _SEQ, _TS, _SYMBOL, _ORDER, _USER,
    Field("qty",    4, doc="shares removed from the book"),
    Field("reason", 1, enum=CancelReason),
))

REPLACED = Message("replaced", ord("R"), (
    _SEQ, _TS, _SYMBOL, _ORDER, _USER, _PRICE,
    Field("qty", 4, doc="new open quantity"),
    Field("kept_priority", 1, doc="1 when time priority was kept"),
))

STOP_TRIGGERED = Message("stop_triggered", ord("S"), (
    _SEQ, _TS, _SYMBOL, _ORDER, _USER,
    Field("stop_price",    4),
    Field("trigger_price", 4, doc="price of the trade print that triggered it"),
))

TRADE = Message("trade", ord("P"), (
    _SEQ, _TS, _SYMBOL,
    Field("match_id", 8),
    _PRICE, _QTY,
    Field("aggressor_side", 1, enum=Side),
), doc="The public print of an execution.")

LEVEL = Message("level", ord("L"), (
    _SEQ, _TS, _SYMBOL, _SIDE, _PRICE,
    Field("qty",    8, doc="total open shares at the level; 0 when it empties. Eight bytes: "
                           "a sum of 32-bit order quantities (docs/matching.md, Limits)"),
    Field("orders", 4, doc="number of orders at the level"),
), doc="A price level's aggregate changed (L2).")

TRADING_STATE = Message("trading_state", ord("T"), (
    _SEQ, _TS, _SYMBOL,
    Field("halted", 1, doc="1 when trading in the symbol stops, 0 when it resumes"),
), doc="A symbol halted or resumed (admin HALT, KILL or RESUME); only changes are sent.")

DONE = Message("done", ord("K"), (
    _SEQ, _TS,
    Field("command",  1, doc="type byte of the completed command"),
    Field("affected", 4, doc="orders the command cancelled, expired or changed state of"),
), doc="Closes a mass cancel or admin command, so every command yields at least one event.")

EVENTS = Protocol("gatebook-events", "little", (
    ACCEPTED, REJECTED, EXECUTED, CANCELLED, REPLACED, STOP_TRIGGERED, TRADE, LEVEL,
    TRADING_STATE, DONE,
))
