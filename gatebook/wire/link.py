"""Host <-> matching-pipeline link records (docs/hardware.md).

The FPGA pipeline reads the internal commands (gatebook.wire.internal) and
writes the internal events; these extra records move symbol ownership and
book windows between the host and the pipeline, and hand the host whatever
the pipeline does not match itself. They never leave the host/FPGA link.

Commands to the pipeline:
  LOAD  one resting order appended to the window of the symbol being loaded
        (the host sends them best first per side, whole price levels only);
  OWN   the pipeline takes ownership of a symbol, with the best prices the
        host still holds below the window;
  HOST  a marker in the command stream for a command the host front end
        handles itself (a rejected order, an admin or mass-cancel command):
        the pipeline answers PUNT in order, flushing first if asked to;
  ROUTE for a pipeline of several lanes (gatebook.hdl.multi_lane): the records
        that follow and name no symbol a lane holds (CANCEL, REPLACE, a HOST
        marker for ALL_SYMBOLS) go to the lane holding this symbol; no event.
Events from the pipeline:
  FLUSH one window order handed back to the host, best first, bids then asks;
  SPILL one order of the worst whole level of a full window side, given to the
        host so an order that rests better fits (eviction; newest first); the
        symbol stays the pipeline's;
  PUNT  the command with this seq is the host's to process (the host keeps
        every command in flight, so it is not sent back); with `handover`
        set, the flushed window and the symbol's ownership came with it.

Little-endian, like gatebook.wire.internal. Type codes are lower-case
letters so they can never collide with an internal command or event.
"""

from enum import IntEnum

from .layout import Field, Message, Protocol

__all__ = [
    "PuntReason", "LOAD", "OWN", "HOST", "ROUTE", "FLUSH", "SPILL", "PUNT",
    "LINK_COMMANDS", "LINK_EVENTS", "ENTRY_FIELDS",
]


class PuntReason(IntEnum):
    NOT_OWNED     = 1   # the pipeline does not own the command's symbol
    HOST          = 2   # the front end marked the command as the host's (HOST record)
    STOP          = 3   # stop and stop-limit orders live on the host
    WINDOW_FULL   = 4   # the remainder would rest but the window side is full
    BEYOND_WINDOW = 5   # the remainder would rest at or behind the host's deeper orders
    SWEEP         = 6   # the order would trade through the window into the host's orders
    NOT_IN_WINDOW = 7   # cancel or replace of an order the window does not hold
    NOT_OWNER     = 8   # cancel of a window order by another user (host rejects it)
    REPLACE       = 9   # replace in an owned symbol (not handled in hardware yet)


_SEQ    = Field("seq",    8, doc="sequence number of the command")
_TS     = Field("ts",     8, doc="timestamp of the command")
_SYMBOL = Field("symbol", 2)

# A resting order as the window stores it (plus its symbol and side).
ENTRY_FIELDS = (
    _SYMBOL,
    Field("side",       1),
    Field("order_id",   8),
    Field("user",       4),
    Field("order_type", 1, doc="LIMIT, or STOP_LIMIT once triggered"),
    Field("tif",        1),
    Field("price",      4),
    Field("stop_price", 4),
    Field("qty",        4, doc="open shares"),
    Field("prio_seq",   8, doc="sequence number that gave the order its time priority"),
)

LOAD = Message("load", ord("l"), ENTRY_FIELDS,
               doc="Append one order to the window being loaded; no event.")

OWN = Message("own", ord("w"), (
    _SYMBOL,
    Field("bid_deep",   4, doc="best bid price the host keeps below the window; 0: none"),
    Field("ask_deep",   4, doc="best ask price the host keeps below the window; 0: none"),
    Field("last_price", 4, doc="price of the symbol's last trade print; 0: none"),
), doc="The pipeline owns the symbol from the next command on; no event.")

HOST = Message("host", ord("h"), (
    _SEQ, _TS,
    Field("symbol",   2, doc="symbol the command touches, or ALL_SYMBOLS"),
    Field("handover", 1, doc="1: flush and hand over the symbol if the pipeline owns it"),
))

ROUTE = Message("route", ord("r"), (
    _SEQ, _TS,
    Field("symbol", 2, doc="the symbol whose lane takes the records that name no held symbol"),
), doc="Selects a lane of a multi-symbol pipeline for CANCEL and REPLACE, which carry no "
       "symbol; no event. seq and ts are those of the record it routes (a lane's stamped "
       "commands share their bits: hdl/matcher_records.py).")

FLUSH = Message("flush", ord("f"), (_SEQ, _TS) + ENTRY_FIELDS)

SPILL = Message("spill", ord("s"), (_SEQ, _TS) + ENTRY_FIELDS,
                doc="An evicted window order; the level's orders come newest first, before "
                    "the events of the command that made room, and the host keeps them.")

PUNT = Message("punt", ord("p"), (
    _SEQ, _TS, _SYMBOL,
    Field("reason",     1, enum=PuntReason),
    Field("handover",   1, doc="1: the FLUSH records before this were the whole window"),
    Field("last_price", 4, doc="last trade print of the handed-over symbol, else 0"),
))

LINK_COMMANDS = Protocol("gatebook-link-commands", "little", (LOAD, OWN, HOST, ROUTE))
LINK_EVENTS = Protocol("gatebook-link-events", "little", (FLUSH, SPILL, PUNT))
