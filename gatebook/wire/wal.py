"""Write-ahead log, snapshot and replication layouts.

# Ref: RFC 1952 section 8 / ISO 3309 (HDLC) for the CRC: CRC-32/ISO-HDLC,
#      polynomial 0x04C11DB7 reflected, init and xorout 0xFFFFFFFF, as
#      Python's zlib.crc32 and the Ethernet frame check sequence compute it.

A log is a directory of segment files. A segment is SEGMENT_HEADER followed by
records; a record is RECORD_HEADER, `length` bytes of payload, then
RECORD_TRAILER. The payload is one or more internal records (see
`internal`): an INPUT record holds the one stamped command the sequencer
issued and, when the command came from order entry, its origin after it
(version 4: ORIGIN_HEADER, naming the order-entry protocol and the length of
the protocol's own bytes that follow; versions 2 and 3: OUCH's INPUT_ORIGIN
alone). What a protocol puts there is what its gateway needs after a restart
(OUCH: the session, the message's session sequence number, the client
tokens and the sender's address); the log only carries it. An OUTPUT
record holds every event that command caused, back to back (they carry their
own type bytes and fixed sizes, so no length prefixes are needed). The CRC
covers the record header and the payload, so a command and its origin are
durable together or not at all.

Why CRC-32/ISO-HDLC and not CRC-32C: it is in the standard library (zlib, in
C, about a gigabyte a second), so reading the log needs no extra package; it
is the polynomial the FPGA's Ethernet MAC already computes, so gateware can
check log records with the block it has; and it catches what torn writes and
bit rot produce: every burst up to 32 bits, every error of up to 4 flipped
bits in records under 371 bytes (2974 bits: every INPUT record and most
OUTPUT records) and of up to 3 bits under 11 KB (Koopman's tables). CRC-32C's
better Hamming distance, and its x86 instruction, pay off on longer blocks and
faster writers than ours.

A snapshot file is SNAPSHOT_HEADER, then per symbol a SNAPSHOT_BOOK (from
version 4 followed by its SNAPSHOT_BREAKER) followed by its resting orders and then its pending stops (SNAPSHOT_ORDER each, in
priority order), then SNAPSHOT_USED_ID per order id ever accepted, ascending,
then SNAPSHOT_USED_ID per live order id in the engine's registry order (mass
cancels and end-of-day expiry walk live orders in that order, so it decides
the order of their events), then the order-entry protocols' states: version
3 a SNAPSHOT_ENTRIES count and per protocol a SNAPSHOT_ENTRY_STATE and that
many bytes of the protocol's own; version 2 OUCH's alone, bare. OUCH's state
is SNAPSHOT_GATEWAY and its SNAPSHOT_TOKEN, SNAPSHOT_OWNER and
SNAPSHOT_SESSION records (host/ouch/log_origin.py). Version 5 ends with the
pre-trade risk gate's state: SNAPSHOT_RISK and its records.

Versions: 4 puts ORIGIN_HEADER before a command's origin, so any order-entry
protocol's origin fits (snapshot version 3 likewise holds each protocol's
state under its id). 3 ends every write with a COMMIT record (COMMIT_MARKER), so a log
cut at a record boundary, or missing its newest segment, is told from one
that ended cleanly. 2 added INPUT_ORIGIN (OUCH's) and the snapshot's gateway
section. This build reads segment versions 1 to 4 and snapshot versions 1 to
3 (version 1 holds no order-entry state: the gateway starts from nothing for
the commands it carries; in versions 2 and 3 every origin is OUCH's) and
writes version 4 segments and version 3 snapshots; a resumed older segment is
left as it is and the log goes on in a new one.

Replication frames (primary to follower and back over TCP) are REPLICATION
messages; a RECORDS frame is followed by `length` bytes of log records,
exactly as they sit in a segment. A connection opens with the handshake
(AUTH_HELLO, AUTH_CHALLENGE, AUTH_PROOF each way: host/wal/channel.py);
after it every frame, with its RECORDS bytes, is followed by MAC_SIZE bytes
of HMAC-SHA256 under that direction's key over the frame counter (8 bytes,
little-endian, 0 for the first frame each way) and the frame's bytes.

Little-endian throughout, like the internal records they carry.
"""

from dataclasses import replace
from enum import IntEnum

from . import internal
from .enums import OrderEntryProtocol
from .layout import ALPHA, Field, Message, Protocol

__all__ = [
    "RecordKind", "SEGMENT_MAGIC", "ORIGIN_HEADER", "ORIGIN_MAX_BYTES", "LEGACY_ORIGIN_PROTOCOL",
    "SNAPSHOT_ENTRIES", "SNAPSHOT_ENTRY_STATE", "SNAPSHOT_MAGIC", "FORMAT_VERSION", "READABLE_VERSIONS", "COMMIT_VERSION",
    "SNAPSHOT_VERSION", "SNAPSHOT_READABLE_VERSIONS",
    "SEGMENT_HEADER", "RECORD_HEADER", "RECORD_TRAILER", "INPUT_ORIGIN", "COMMIT_MARKER", "WAL",
    "SNAPSHOT_HEADER", "SNAPSHOT_BOOK", "SNAPSHOT_BREAKER", "SNAPSHOT_ORDER", "SNAPSHOT_USED_ID",
    "SNAPSHOT_GATEWAY", "SNAPSHOT_TOKEN", "SNAPSHOT_OWNER", "SNAPSHOT_SESSION", "SNAPSHOT",
    "SNAPSHOT_RISK", "SNAPSHOT_RISK_FEE", "SNAPSHOT_RISK_LIMITS", "SNAPSHOT_RISK_CASH",
    "SNAPSHOT_RISK_POSITION",
    "HELLO", "HEARTBEAT", "RECORDS", "APPLIED", "RefuseReason", "REFUSE", "REPLICATION",
    "REPLICATION_VERSION", "NONCE_SIZE", "MAC_SIZE", "RECORDS_MAX_BYTES",
    "AUTH_HELLO", "AUTH_CHALLENGE", "AUTH_PROOF", "AUTH_TRAILER_BYTES",
    "OUTPUT_EVENTS",
]

SEGMENT_MAGIC = "GBWAL"
SNAPSHOT_MAGIC = "GBSNAP"
FORMAT_VERSION = 4                 # of segments: 4 added ORIGIN_HEADER, 3 COMMIT records
READABLE_VERSIONS = (1, 2, 3, 4)
COMMIT_VERSION = 3                 # the first segment version with COMMIT records
SNAPSHOT_VERSION = 5               # 5: SNAPSHOT_RISK; 4: SNAPSHOT_BREAKER; 3: protocols' states
SNAPSHOT_READABLE_VERSIONS = (1, 2, 3, 4, 5)


# The events an OUTPUT record holds, by segment version. Segments before
# version 3 were written when a LEVEL's total was 32 bits wide.
_LEVEL_32 = replace(internal.LEVEL, fields=tuple(
    replace(field, width=4) if field.name == "qty" else field for field in internal.LEVEL.fields))
_EVENTS_32 = replace(internal.EVENTS, messages=tuple(
    _LEVEL_32 if message is internal.LEVEL else message for message in internal.EVENTS.messages))
OUTPUT_EVENTS = {1: _EVENTS_32, 2: _EVENTS_32, 3: internal.EVENTS, 4: internal.EVENTS}


class RecordKind(IntEnum):
    INPUT  = ord("I")   # a stamped command: replaying these rebuilds the engine
    OUTPUT = ord("O")   # the events that command caused: the audit trail
    COMMIT = ord("C")   # version 3: closes every write; a log ending without one was cut


_SEQ = Field("seq", 8, doc="sequence number of the command the record belongs to")
_CRC = Field("crc", 4, doc="CRC-32/ISO-HDLC")

# -- the log ------------------------------------------------------------------

SEGMENT_HEADER = Message("wal_segment_header", None, (
    Field("magic",     8, ALPHA, doc="GBWAL"),
    Field("version",   2),
    Field("segment",   4, doc="segment number, 0 for the first"),
    Field("first_seq", 8, doc="sequence number the segment starts at"),
    Field("crc",       4, doc="CRC-32/ISO-HDLC of the fields above"),
))

RECORD_HEADER = Message("wal_record_header", None, (
    Field("length", 4, doc="payload bytes"),
    _SEQ,
    Field("ts",     8, doc="the sequencer's timestamp, nanoseconds since the epoch"),
    Field("kind",   1, enum=RecordKind),
))

RECORD_TRAILER = Message("wal_record_trailer", None, (
    Field("crc", 4, doc="CRC-32/ISO-HDLC of the record header and the payload"),
))

_PEER = (
    Field("peer_ip",   4, doc="IPv4 address the session's replies go to, as a big-endian "
                              "number (10.0.0.1 is 0x0A000001); 0 with port 0: none known"),
    Field("peer_port", 2),
)

ORIGIN_MAX_BYTES = 0xFFFF          # a protocol's origin bytes: ORIGIN_HEADER's length

ORIGIN_HEADER = Message("input_origin_header", ord("p"), (
    Field("protocol", 1, enum=OrderEntryProtocol,
          doc="the order-entry protocol the command came through (gatebook.wire.enums; "
              "128..255: protocols Gatebook does not ship)"),
    Field("length",   2, doc="bytes of the protocol's own origin that follow"),
), doc="After the command in an INPUT record (version 4) when the command came from order "
       "entry; commands from elsewhere (admin tools, loads) have none.")

# Segments of versions 2 and 3 hold an INPUT_ORIGIN without ORIGIN_HEADER: OUCH's.
LEGACY_ORIGIN_PROTOCOL = OrderEntryProtocol.OUCH

INPUT_ORIGIN = Message("input_origin", ord("g"), (
    Field("message",  1, doc="the order-entry message (gatebook.wire.ouch code): "
                             "O enter, U replace, X cancel"),
    Field("session",  4),
    Field("number",   8, doc="the message's session sequence number"),
    Field("token",    8, doc="the client token it names (a replace: the replacement token)"),
    Field("previous", 8, doc="a replace: the token it replaces; otherwise 0"),
) + _PEER, doc="OUCH's origin of a command (host/ouch/log_origin.py): in version 4 the "
              "protocol's bytes after an ORIGIN_HEADER, in versions 2 and 3 alone after "
              "the command.")

COMMIT_MARKER = Message("wal_commit_marker", None, (
    Field("synced_seq", 8, doc="every seq up to this one was fdatasync'ed before this write"),
    Field("closed",     1, doc="1: the segment is full and the log goes on in the next one, "
                               "which was created (and synced) before this marker was written"),
), doc="The payload of a COMMIT record (version 3), the last record of every write: its "
       "header's seq is the last INPUT seq written so far, its ts 0. A log whose last "
       "segment does not end with one lost the end of a write: torn by a crash, or cut.")

WAL = Protocol("gatebook-wal", "little", (SEGMENT_HEADER, RECORD_HEADER, RECORD_TRAILER,
                                          ORIGIN_HEADER, INPUT_ORIGIN, COMMIT_MARKER))

# -- snapshots ----------------------------------------------------------------

SNAPSHOT_HEADER = Message("snapshot_header", None, (
    Field("magic",     8, ALPHA, doc="GBSNAP"),
    Field("version",   2),
    Field("last_seq",  8, doc="the last command whose effects the snapshot holds"),
    Field("last_ts",   8, doc="that command's timestamp"),
    Field("match_id",  8),
    Field("books",     2),
    Field("used_ids",  8, doc="count of SNAPSHOT_USED_ID records of used order ids"),
    Field("live_ids",  8, doc="count of SNAPSHOT_USED_ID records of live orders, at the end"),
    Field("self_trade_prevention", 1),
    Field("body_length", 8, doc="bytes after this header"),
    Field("crc",       4, doc="CRC-32/ISO-HDLC of the fields above and the body"),
))

SNAPSHOT_BOOK = Message("snapshot_book", None, (
    Field("symbol",           2),
    Field("halted",           1),
    Field("last_trade_price", 4),
    Field("orders",           4, doc="resting orders that follow, best level first"),
    Field("stops",            4, doc="pending stops that follow, in trigger order"),
))

SNAPSHOT_BREAKER = Message("snapshot_breaker", None, (
    Field("reference",  4, doc="the circuit breaker's reference price (docs/matching.md)"),
    Field("window_end", 8, doc="ts at which its window ends; 0: none open"),
    Field("resume_at",  8, doc="ts from which its halt lifts; 0: no timed halt"),
), doc="After each SNAPSHOT_BOOK from snapshot version 4: all 0 for a symbol without a breaker.")

SNAPSHOT_ORDER = Message("snapshot_order", None, (
    Field("order_id",   8),
    Field("user",       4),
    Field("side",       1),
    Field("order_type", 1),
    Field("tif",        1),
    Field("price",      4),
    Field("stop_price", 4),
    Field("qty",        4, doc="open quantity"),
    Field("seq",        8, doc="sequence number that gave the order its time priority"),
))

SNAPSHOT_USED_ID = Message("snapshot_used_id", None, (Field("order_id", 8),))

SNAPSHOT_ENTRIES = Message("snapshot_entries", None, (
    Field("protocols", 2, doc="SNAPSHOT_ENTRY_STATE records that follow (version 3)"),
))

SNAPSHOT_ENTRY_STATE = Message("snapshot_entry_state", None, (
    Field("protocol", 1, enum=OrderEntryProtocol),
    Field("length",   8, doc="bytes of the protocol's own state that follow"),
))

# OUCH's gateway state (bare in version 2; in version 3 the bytes of its
# SNAPSHOT_ENTRY_STATE): see host/ouch/gateway_state.py and log_origin.py.
SNAPSHOT_GATEWAY = Message("snapshot_gateway", None, (
    Field("next_order_id", 8, doc="the exchange order id the gateway gives the next new token"),
    Field("tokens",        8, doc="SNAPSHOT_TOKEN records that follow"),
    Field("owners",        8, doc="SNAPSHOT_OWNER records after them"),
    Field("sessions",      8, doc="SNAPSHOT_SESSION records after those, at the end"),
))

SNAPSHOT_TOKEN = Message("snapshot_token", None, (
    Field("session",  4),
    Field("token",    8),
    Field("order_id", 8, doc="the order the client token names"),
))

SNAPSHOT_OWNER = Message("snapshot_owner", None, (
    Field("order_id", 8),
    Field("session",  4),
    Field("token",    8, doc="the token replies about the order carry"),
))

SNAPSHOT_SESSION = Message("snapshot_session", None, (
    Field("session",       4),
    Field("known",         1, doc="bit 0: expected is set, bit 1: next_reply, bit 2: the peer"),
    Field("expected",      8, doc="next inbound message number, low 64 bits"),
    Field("expected_high", 8, doc="bits 64 and up (a datagram numbered past 2**64 - 1)"),
    Field("next_reply",    8, doc="next outbound reply number"),
) + _PEER)

# Pre-trade risk (host/risk/), version 5, after the order-entry states: what the gate
# in front of the engine holds that the books do not (its limits and fees, which
# replay must decide with, and each account's cash and positions). Signed amounts
# are 64-bit two's complement.
SNAPSHOT_RISK = Message("snapshot_risk", None, (
    Field("present",   1, doc="0: no gate (nothing follows), 1: the records below follow"),
    Field("defaults",  1, doc="1: the first SNAPSHOT_RISK_LIMITS is the default (user 0)"),
    Field("limits",    8, doc="SNAPSHOT_RISK_LIMITS records after the four SNAPSHOT_RISK_FEE"),
    Field("cash",      8, doc="SNAPSHOT_RISK_CASH records after those"),
    Field("positions", 8, doc="SNAPSHOT_RISK_POSITION records after those, at the end"),
))

SNAPSHOT_RISK_FEE = Message("snapshot_risk_fee", None, (
    Field("per_share", 8, doc="signed; buy maker, buy taker, sell maker, sell taker in turn"),
    Field("rate_ppm",  8, doc="signed"),
))

SNAPSHOT_RISK_LIMITS = Message("snapshot_risk_limits", None, (
    Field("user",               4),
    Field("buying_power",       8),
    Field("max_position",       8),
    Field("max_order_qty",      8),
    Field("max_order_notional", 8),
))

SNAPSHOT_RISK_CASH = Message("snapshot_risk_cash", None, (
    Field("account", 8, doc="signed: the fee account is -1"),
    Field("amount",  8, doc="signed"),
))

SNAPSHOT_RISK_POSITION = Message("snapshot_risk_position", None, (
    Field("user",   4),
    Field("symbol", 2),
    Field("qty",    8, doc="signed"),
))

SNAPSHOT = Protocol("gatebook-snapshot", "little",
                    (SNAPSHOT_HEADER, SNAPSHOT_BOOK, SNAPSHOT_BREAKER, SNAPSHOT_ORDER,
                     SNAPSHOT_USED_ID,
                     SNAPSHOT_ENTRIES, SNAPSHOT_ENTRY_STATE, SNAPSHOT_GATEWAY, SNAPSHOT_TOKEN,
                     SNAPSHOT_OWNER, SNAPSHOT_SESSION, SNAPSHOT_RISK, SNAPSHOT_RISK_FEE,
                     SNAPSHOT_RISK_LIMITS, SNAPSHOT_RISK_CASH, SNAPSHOT_RISK_POSITION))

# -- replication --------------------------------------------------------------

HELLO = Message("hello", ord("H"), (
    Field("next_seq", 8, doc="first sequence number the follower still needs"),
    Field("epoch",    4, doc="the follower's log epoch (1 until a failover; see host/wal/epoch.py)"),
    Field("last_crc", 4, doc="CRC field of the follower's INPUT record of seq next_seq - 1 "
                             "(0 for an empty log): the primary checks it holds the same record"),
), doc="Follower to primary, the first authenticated frame of every connection.")

HEARTBEAT = Message("heartbeat", ord("B"), (
    Field("durable_seq", 8, doc="the primary's last durable sequence number"),
    Field("ts",          8, doc="the primary's wall clock, nanoseconds"),
    Field("epoch",       4, doc="the primary's log epoch"),
), doc="Primary to follower: first thing after HELLO, then every heartbeat interval when idle.")

RECORDS = Message("records", ord("R"), (
    Field("length", 4, doc="bytes of log records that follow"),
), doc="Primary to follower: durable log records, byte for byte as in the segment.")

APPLIED = Message("applied", ord("A"), (
    _SEQ,
), doc="Follower to primary: every record up to `seq` is applied and logged.")


class RefuseReason(IntEnum):
    DIVERGED = 1    # the follower's log is not a prefix of the primary's
    PRUNED   = 2    # the primary no longer has the records the follower needs


REFUSE = Message("refuse", ord("X"), (
    Field("reason", 1, enum=RefuseReason),
    _SEQ,
), doc="Primary to follower, then the connection closes: it will not be served. `seq` is "
       "the follower's last seq (DIVERGED) or the primary's first (PRUNED).")

# The handshake: both ends prove they hold the shared secret, over fresh
# nonces from both, before anything else is said (host/wal/channel.py).
REPLICATION_VERSION = 1
NONCE_SIZE = 32         # bytes of a handshake nonce (os.urandom)
MAC_SIZE = 32           # bytes of an HMAC-SHA256 proof or frame MAC
RECORDS_MAX_BYTES = 1 << 26     # a RECORDS frame's `length` above this is refused

AUTH_HELLO = Message("auth_hello", ord("N"), (
    Field("version", 1, doc="REPLICATION_VERSION"),
), doc="Follower to primary, first on every connection; followed by NONCE_SIZE bytes: "
       "the follower's fresh random nonce.")

AUTH_CHALLENGE = Message("auth_challenge", ord("C"), (
    Field("version", 1, doc="REPLICATION_VERSION"),
), doc="Primary to follower, the answer to AUTH_HELLO; followed by NONCE_SIZE bytes: the "
       "primary's fresh random nonce.")

AUTH_PROOF = Message("auth_proof", ord("P"), (), doc=(
    "Each way once: the follower's first, then (only if it was right) the primary's. "
    "Followed by MAC_SIZE bytes: HMAC-SHA256 under the secret of the sender's role label "
    "and both nonces."))

AUTH_TRAILER_BYTES = {AUTH_HELLO.code: NONCE_SIZE, AUTH_CHALLENGE.code: NONCE_SIZE,
                      AUTH_PROOF.code: MAC_SIZE}

REPLICATION = Protocol("gatebook-replication", "little",
                       (HELLO, HEARTBEAT, RECORDS, APPLIED, REFUSE,
                        AUTH_HELLO, AUTH_CHALLENGE, AUTH_PROOF))
