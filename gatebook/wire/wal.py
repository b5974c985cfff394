"""Write-ahead log, snapshot and replication layouts.

# Ref: RFC 1952 section 8 / ISO 3309 (HDLC) for the CRC: CRC-32/ISO-HDLC,
#      polynomial 0x04C11DB7 reflected, init and xorout 0xFFFFFFFF, as
#      Python's zlib.crc32 and the Ethernet frame check sequence compute it.

A log is a directory of segment files. A segment is SEGMENT_HEADER followed by
records; a record is RECORD_HEADER, `length` bytes of payload, then
RECORD_TRAILER. The payload is one or more internal records (see
`internal`): an INPUT record holds the one stamped command the sequencer
issued, an OUTPUT record holds every event that command caused, back to back
(they carry their own type bytes and fixed sizes, so no length prefixes are
needed). The CRC covers the record header and the payload.

Why CRC-32/ISO-HDLC and not CRC-32C: it is in the standard library (zlib, in
C, about a gigabyte a second), so reading the log needs no extra package; it
is the polynomial the FPGA's Ethernet MAC already computes, so gateware can
check log records with the block it has; and it catches what torn writes and
bit rot produce: every burst up to 32 bits, every error of up to 4 flipped
bits in records under 371 bytes (2974 bits: every INPUT record and most
OUTPUT records) and of up to 3 bits under 11 KB (Koopman's tables). CRC-32C's
better Hamming distance, and its x86 instruction, pay off on longer blocks and
faster writers than ours.

A snapshot file is SNAPSHOT_HEADER, then per symbol a SNAPSHOT_BOOK followed
by its resting orders and then its pending stops (SNAPSHOT_ORDER each, in
priority order), then SNAPSHOT_USED_ID per order id ever accepted, ascending,
then SNAPSHOT_USED_ID per live order id in the engine's registry order (mass
cancels and end-of-day expiry walk live orders in that order, so it decides
the order of their events).

Replication frames (primary to follower and back over TCP) are REPLICATION
messages; a RECORDS frame is followed by `length` bytes of log records,
exactly as they sit in a segment.

Little-endian throughout, like the internal records they carry.
"""

from enum import IntEnum

from .layout import ALPHA, Field, Message, Protocol

__all__ = [
    "RecordKind", "SEGMENT_MAGIC", "SNAPSHOT_MAGIC", "FORMAT_VERSION",
    "SEGMENT_HEADER", "RECORD_HEADER", "RECORD_TRAILER", "WAL",
    "SNAPSHOT_HEADER", "SNAPSHOT_BOOK", "SNAPSHOT_ORDER", "SNAPSHOT_USED_ID", "SNAPSHOT",
    "HELLO", "HEARTBEAT", "RECORDS", "APPLIED", "RefuseReason", "REFUSE", "REPLICATION",
]

SEGMENT_MAGIC = "GBWAL"
SNAPSHOT_MAGIC = "GBSNAP"
FORMAT_VERSION = 1


class RecordKind(IntEnum):
    INPUT  = ord("I")   # a stamped command: replaying these rebuilds the engine
    OUTPUT = ord("O")   # the events that command caused: the audit trail


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

WAL = Protocol("gatebook-wal", "little", (SEGMENT_HEADER, RECORD_HEADER, RECORD_TRAILER))

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

SNAPSHOT = Protocol("gatebook-snapshot", "little",
                    (SNAPSHOT_HEADER, SNAPSHOT_BOOK, SNAPSHOT_ORDER, SNAPSHOT_USED_ID))

# -- replication --------------------------------------------------------------

HELLO = Message("hello", ord("H"), (
    Field("next_seq", 8, doc="first sequence number the follower still needs"),
    Field("epoch",    4, doc="the follower's log epoch (1 until a failover; see host/wal/epoch.py)"),
    Field("last_crc", 4, doc="CRC field of the follower's INPUT record of seq next_seq - 1 "
                             "(0 for an empty log): the primary checks it holds the same record"),
), doc="Follower to primary, once per connection.")

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

REPLICATION = Protocol("gatebook-replication", "little",
                       (HELLO, HEARTBEAT, RECORDS, APPLIED, REFUSE))
