"""The part of the FIX 4.4 data dictionary Gatebook speaks: tags, message types, values.

# Ref: FIX 4.4 specification; QuickFIX's FIX44 data dictionary as Debian's
#      libquickfix-dev ships it generated (FixFieldNumbers.h, FixValues.h and the
#      fix44/<Message>.h constructors, which name each message's required fields).

A hand-kept subset, checked against Debian's QuickFIX headers by
tests/test_fix_dictionary.py (every tag number, every enum value, every
message's required fields): Debian does not ship FIX44.xml itself, only the
headers QuickFIX generates from it. Everything else in host/fix/ takes tags,
types and values from here, by name.
"""

__all__ = ["TAG", "FIELD_TYPES", "MESSAGES", "REQUIRED", "HEADER_TAGS", "ORD_TYPE", "SIDE",
           "TIME_IN_FORCE", "EXEC_TYPE", "ORD_STATUS", "SESSION_REJECT", "CXL_REJ_RESPONSE_TO",
           "MASS_CANCEL_TYPE", "MASS_CANCEL_RESPONSE", "BEGIN_STRING"]

BEGIN_STRING = "FIX.4.4"


class _Tags:
    """Tag numbers by FIX field name (TAG.ClOrdID == 11)."""

    def __init__(self, table):
        self.__dict__.update({name: tag for tag, (name, _) in table.items()})


# tag: (FIX name, type) -- types as the dictionary names them.
FIELD_TYPES = {
    1: ("Account", "STRING"), 6: ("AvgPx", "PRICE"), 7: ("BeginSeqNo", "SEQNUM"),
    8: ("BeginString", "STRING"), 9: ("BodyLength", "LENGTH"), 10: ("CheckSum", "CHECKSUM"),
    11: ("ClOrdID", "STRING"), 14: ("CumQty", "QTY"), 16: ("EndSeqNo", "SEQNUM"),
    17: ("ExecID", "STRING"), 31: ("LastPx", "PRICE"), 32: ("LastQty", "QTY"),
    34: ("MsgSeqNum", "SEQNUM"), 35: ("MsgType", "STRING"), 36: ("NewSeqNo", "SEQNUM"),
    37: ("OrderID", "STRING"), 38: ("OrderQty", "QTY"), 39: ("OrdStatus", "CHAR"),
    40: ("OrdType", "CHAR"), 41: ("OrigClOrdID", "STRING"), 43: ("PossDupFlag", "BOOLEAN"),
    44: ("Price", "PRICE"), 45: ("RefSeqNum", "SEQNUM"), 49: ("SenderCompID", "STRING"),
    52: ("SendingTime", "UTCTIMESTAMP"), 54: ("Side", "CHAR"), 55: ("Symbol", "STRING"),
    56: ("TargetCompID", "STRING"), 58: ("Text", "STRING"), 59: ("TimeInForce", "CHAR"),
    60: ("TransactTime", "UTCTIMESTAMP"), 97: ("PossResend", "BOOLEAN"),
    98: ("EncryptMethod", "INT"), 99: ("StopPx", "PRICE"), 102: ("CxlRejReason", "INT"),
    103: ("OrdRejReason", "INT"), 108: ("HeartBtInt", "INT"), 112: ("TestReqID", "STRING"),
    122: ("OrigSendingTime", "UTCTIMESTAMP"), 123: ("GapFillFlag", "BOOLEAN"),
    141: ("ResetSeqNumFlag", "BOOLEAN"), 150: ("ExecType", "CHAR"),
    151: ("LeavesQty", "QTY"), 371: ("RefTagID", "INT"), 372: ("RefMsgType", "STRING"),
    373: ("SessionRejectReason", "INT"), 434: ("CxlRejResponseTo", "CHAR"),
    530: ("MassCancelRequestType", "CHAR"), 531: ("MassCancelResponse", "CHAR"),
    533: ("TotalAffectedOrders", "INT"),
    553: ("Username", "STRING"), 554: ("Password", "STRING"),
}
TAG = _Tags(FIELD_TYPES)

# The standard header's tags: they may not appear in a body.
HEADER_TAGS = frozenset((8, 9, 34, 35, 43, 49, 52, 56, 97, 122))

# MsgType: (name, the body's required tags as FIX 4.4 says, plus the header's
# SenderCompID, TargetCompID, MsgSeqNum, SendingTime every message needs).
MESSAGES = {
    "0": ("Heartbeat", ()), "1": ("TestRequest", (112,)),
    "2": ("ResendRequest", (7, 16)), "3": ("Reject", (45,)),
    "4": ("SequenceReset", (36,)), "5": ("Logout", ()), "A": ("Logon", (98, 108)),
    "D": ("NewOrderSingle", (11, 54, 60, 40)),
    "F": ("OrderCancelRequest", (41, 11, 54, 60)),
    "G": ("OrderCancelReplaceRequest", (41, 11, 54, 60, 40)),
    "q": ("OrderMassCancelRequest", (11, 530, 60)),
    "8": ("ExecutionReport", (37, 17, 150, 39, 54, 151, 14, 6)),
    "9": ("OrderCancelReject", (37, 11, 41, 39, 434)),
    "r": ("OrderMassCancelReport", (37, 530, 531)),
}
REQUIRED = {msg_type: frozenset(tags) | {34, 49, 52, 56}
            for msg_type, (_, tags) in MESSAGES.items()}

# Values, by our name -> the FIX character (FixValues.h's <Field>_<NAME>).
SIDE = {"BUY": "1", "SELL": "2"}
ORD_TYPE = {"MARKET": "1", "LIMIT": "2", "STOP": "3", "STOP_LIMIT": "4"}
TIME_IN_FORCE = {"DAY": "0", "GOOD_TILL_CANCEL": "1", "IMMEDIATE_OR_CANCEL": "3",
                 "FILL_OR_KILL": "4"}
EXEC_TYPE = {"NEW": "0", "CANCELED": "4", "REPLACED": "5", "REJECTED": "8", "EXPIRED": "C",
             "TRADE": "F", "TRIGGERED_OR_ACTIVATED_BY_SYSTEM": "L"}
ORD_STATUS = {"NEW": "0", "PARTIALLY_FILLED": "1", "FILLED": "2", "CANCELED": "4",
              "REJECTED": "8", "EXPIRED": "C"}
CXL_REJ_RESPONSE_TO = {"ORDER_CANCEL_REQUEST": "1", "ORDER_CANCEL_REPLACE_REQUEST": "2"}
MASS_CANCEL_TYPE = {"CANCEL_ORDERS_FOR_A_SECURITY": "1", "CANCEL_ALL_ORDERS": "7"}
MASS_CANCEL_RESPONSE = {"CANCEL_REQUEST_REJECTED": "0", "CANCEL_ORDERS_FOR_A_SECURITY": "1",
                        "CANCEL_ALL_ORDERS": "7"}
# SessionRejectReason (373).
SESSION_REJECT = {"REQUIRED_TAG_MISSING": 1, "TAG_NOT_DEFINED_FOR_THIS_MESSAGE_TYPE": 2,
                  "VALUE_IS_INCORRECT": 5, "INCORRECT_DATA_FORMAT_FOR_VALUE": 6,
                  "COMPID_PROBLEM": 9, "SENDINGTIME_ACCURACY_PROBLEM": 10,
                  "INVALID_MSGTYPE": 11, "TAG_APPEARS_MORE_THAN_ONCE": 13, "OTHER": 99}
