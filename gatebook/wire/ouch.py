"""Gatebook's binary order-entry protocol over UDP, modelled on NASDAQ OUCH.

# Ref: NASDAQ OUCH 4.2 specification, sections 2 (inbound: Enter Order 'O',
#      Replace Order 'U', Cancel Order 'X') and 3 (outbound: Accepted 'A',
#      Replaced 'U', Canceled 'C', Executed 'E', Rejected 'J'); the session
#      header borrows MoldUDP64's sequence-number-of-first-message idea
#      (NASDAQ MoldUDP64 1.00), since OUCH itself relies on SoupBinTCP.

Every datagram is one SESSION_HEADER followed by `message_count` messages,
back to back; each message is fixed-width and its leading type byte says
which. Clients number their messages from 1 per session and per direction;
the exchange numbers its replies to each session the same way, so either end
detects a gap (sequence ahead of the expected) or a duplicate (behind it).

Departures from OUCH 4.2, all to map one-to-one onto Gatebook's commands and
events: order tokens are 64-bit integers (the client's order id) rather than
14 ASCII characters; side, order type and time in force are the internal
enums' values; there is a stop price for stop orders; a cancel carries no
"intended shares" (it removes the whole order); an Executed also carries the
order's open quantity after the fill. Big-endian, as every NASDAQ protocol.

# Ref: NASDAQ SoupBinTCP 4.1 (Login Request 'L', Login Accepted 'A', Login
#      Rejected 'J', Logout Request 'O', End of Session 'Z') and NASDAQ's
#      UDP order entry: the session messages below.

Sessions. A client first sends LOGIN_REQUEST (user name, password) in a
datagram of its own, header session 0; the exchange answers LOGIN_ACCEPTED
with the session id it assigned (unguessable, nonzero), the user id, the
next inbound message number it expects and the next reply number, or
LOGIN_REJECTED with a reason. Every later datagram carries that session id
and must come from the address the login came from; numbering belongs to
the user, so a new session goes on where the last one stopped. An empty
datagram (message_count 0) is the heartbeat. LOGOUT_REQUEST ends the
session (answered by LOGGED_OUT); MASS_CANCEL and ADMIN are numbered like
orders but also travel alone. A refused datagram is answered, when the
answer is not larger than it, by REFUSED with the reason. The replies'
header carries the user id in `session`: reply numbering is the user's.
"""

from .enums import (AdminAction, CancelReason, LoginRejectReason, LogoutReason,
                    MassCancelScope, OrderType, RejectReason, SessionRefusal, Side,
                    TimeInForce)
from .layout import ALPHA, PRICE4, Field, Message, Protocol

__all__ = [
    "SESSION_HEADER", "ENTER_ORDER", "REPLACE_ORDER", "CANCEL_ORDER", "LOGIN_REQUEST",
    "LOGOUT_REQUEST", "MASS_CANCEL", "ADMIN", "INBOUND", "ORDER_MESSAGES", "SESSION_MESSAGES",
    "ACCEPTED", "REPLACED", "CANCELED", "EXECUTED", "REJECTED", "LOGIN_ACCEPTED",
    "LOGIN_REJECTED", "LOGGED_OUT", "REFUSED", "OUTBOUND",
    "UDP_PORT", "ADDED_LIQUIDITY", "REMOVED_LIQUIDITY",
]

# The exchange's order-entry UDP port; clients send to it, replies come from it.
UDP_PORT = 15000

ADDED_LIQUIDITY, REMOVED_LIQUIDITY = "A", "R"      # Executed.liquidity_flag

SESSION_HEADER = Message("ouch_session_header", None, (
    Field("session",         4, doc="inbound: the session id LOGIN_ACCEPTED gave (0 in a "
                                   "login); outbound: the user id whose replies these are"),
    Field("sequence_number", 8, doc="sequence number of the first message in the datagram"),
    Field("message_count",   2, doc="messages that follow; 0 is a heartbeat"),
))

_TOKEN     = Field("order_token", 8, doc="the client's order id, unique within its session")
_STOCK     = Field("stock",       8, ALPHA)
_SHARES    = Field("shares",      4)
_PRICE     = Field("price",       4, PRICE4, doc="limit price; 0 for market and stop orders")
_STOP      = Field("stop_price",  4, PRICE4, doc="trigger price of stop orders, else 0")
_TIMESTAMP = Field("timestamp",   8, doc="nanoseconds since the epoch, exchange clock")
_REF       = Field("order_ref",   8, doc="the exchange's order reference number")

# -- inbound: client to exchange ----------------------------------------------

ENTER_ORDER = Message("enter_order", ord("O"), (
    _TOKEN, _STOCK,
    Field("side",          1, enum=Side),
    Field("order_type",    1, enum=OrderType),
    Field("time_in_force", 1, enum=TimeInForce),
    _SHARES, _PRICE, _STOP,
))

REPLACE_ORDER = Message("replace_order", ord("U"), (
    Field("existing_order_token",    8),
    Field("replacement_order_token", 8, doc="may equal the existing token"),
    Field("shares", 4, doc="new open quantity"),
    _PRICE,
))

CANCEL_ORDER = Message("cancel_order", ord("X"), (_TOKEN,))

LOGIN_REQUEST = Message("login_request", ord("L"), (
    Field("username", 16, ALPHA, doc="the account's name"),
    Field("password", 32, ALPHA, doc="its password (trailing spaces are padding)"),
    Field("requested_sequence_number", 8,
          doc="the next reply number the client wants; 0: the next new one"),
), doc="In a datagram of its own, header session 0.")

LOGOUT_REQUEST = Message("logout_request", ord("Z"), (), doc="Ends the session.")

MASS_CANCEL = Message("mass_cancel", ord("Q"), (
    Field("scope",   1, enum=MassCancelScope),
    Field("user_id", 4, doc="whose orders (an admin's choice); 0: the sender's own"),
    _STOCK,
), doc="Cancels a user's orders, in a symbol or all; scope SYMBOL (everyone's) is an admin's.")

ADMIN = Message("admin", ord("W"), (
    Field("action", 1, enum=AdminAction),
    Field("stock",  8, ALPHA, doc="the symbol; blank: every symbol"),
), doc="Halt, resume, end of day or kill switch: an admin's only.")

INBOUND = Protocol("gatebook-ouch-inbound", "big", (
    ENTER_ORDER, REPLACE_ORDER, CANCEL_ORDER, LOGIN_REQUEST, LOGOUT_REQUEST, MASS_CANCEL, ADMIN))

# Messages that may share a datagram (the gateway's), and those that travel alone
# (the session layer's, host/ouch/sessions.py).
ORDER_MESSAGES   = (ENTER_ORDER, REPLACE_ORDER, CANCEL_ORDER)
SESSION_MESSAGES = (LOGIN_REQUEST, LOGOUT_REQUEST, MASS_CANCEL, ADMIN)

# -- outbound: exchange to client ---------------------------------------------

ACCEPTED = Message("accepted", ord("A"), (
    _TIMESTAMP, _TOKEN, _STOCK,
    Field("side",          1, enum=Side),
    Field("order_type",    1, enum=OrderType),
    Field("time_in_force", 1, enum=TimeInForce),
    _SHARES, _PRICE, _STOP, _REF,
))

REPLACED = Message("replaced", ord("U"), (
    _TIMESTAMP,
    Field("replacement_order_token", 8),
    Field("previous_order_token",    8),
    Field("shares", 4, doc="new open quantity"),
    _PRICE, _REF,
    Field("kept_priority", 1, doc="1 when time priority was kept"),
))

CANCELED = Message("canceled", ord("C"), (
    _TIMESTAMP, _TOKEN,
    Field("decrement_shares", 4, doc="shares removed from the book"),
    Field("reason",           1, enum=CancelReason),
))

EXECUTED = Message("executed", ord("E"), (
    _TIMESTAMP, _TOKEN,
    Field("executed_shares", 4),
    Field("execution_price", 4, PRICE4),
    Field("liquidity_flag",  1, ALPHA, doc="A added (resting), R removed (aggressor)"),
    Field("match_number",    8),
    Field("leaves_shares",   4, doc="the order's open quantity after this fill"),
))

REJECTED = Message("rejected", ord("J"), (
    _TIMESTAMP, _TOKEN,
    Field("reason", 1, enum=RejectReason),
))

LOGIN_ACCEPTED = Message("login_accepted", ord("L"), (
    Field("session",       4, doc="the session id every later datagram carries"),
    Field("user_id",       4, doc="the account's user id (the replies' header session)"),
    Field("next_inbound",  8, doc="the message number the exchange expects next"),
    Field("next_outbound", 8, doc="the number of the next reply it will send"),
))

LOGIN_REJECTED = Message("login_rejected", ord("K"), (
    Field("reason", 1, enum=LoginRejectReason),
))

LOGGED_OUT = Message("logged_out", ord("Z"), (
    Field("reason", 1, enum=LogoutReason),
))

REFUSED = Message("refused", ord("R"), (
    Field("reason", 1, enum=SessionRefusal),
), doc="A datagram refused; the header echoes its session and sequence number.")

OUTBOUND = Protocol("gatebook-ouch-outbound", "big",
                    (ACCEPTED, REPLACED, CANCELED, EXECUTED, REJECTED,
                     LOGIN_ACCEPTED, LOGIN_REJECTED, LOGGED_OUT, REFUSED))
