"""Read a log directory record by record, changing nothing (`gatebook log dump`, catch-up).

Unlike recovery this never cuts or moves a file: it yields the valid records
in order and then says where and why reading stopped, if it stopped early.
"""

import os
from typing import NamedTuple

from gatebook.wire import internal
from gatebook.wire.codec import ProtocolCodec
from gatebook.wire.wal import COMMIT_VERSION, FORMAT_VERSION, OUTPUT_EVENTS

from .format import (INPUT, SEGMENT_HEADER_SIZE, TRAILER_SIZE, SegmentScan, check_records,
                     decode_segment_header, segment_version, split_input)
from .origins import protocol_name, registered_codecs, split_origin
from .segments import first_seq_of, list_segments

__all__ = ["LogReader", "LoggedOrigin", "decode_payload", "origin_fields", "input_crc"]

_COMMANDS = ProtocolCodec(internal.COMMANDS)
_EVENTS = {version: ProtocolCodec(events) for version, events in OUTPUT_EVENTS.items()}


class LoggedOrigin(NamedTuple):
    """A command's origin as the log holds it: the protocol's id and its own bytes."""
    protocol: int
    data:     bytes


def decode_payload(kind, payload, version=FORMAT_VERSION):
    """The records a log record holds: one command (then its LoggedOrigin, when it
    came from order entry), or its events, as a segment of `version` wrote them."""
    if kind == INPUT:
        _, at = split_input(payload, 0, len(payload))
        out = [_COMMANDS.decode(payload[:at])]
        if at is not None:
            protocol, first, end = split_origin(payload, at, len(payload), version)
            out.append(LoggedOrigin(protocol, bytes(payload[first:end])))
        return out
    return list(_EVENTS[version].decode_stream(payload))


def origin_fields(record, codecs=None):
    """{field: value} of a LoggedOrigin from decode_payload (its protocol's codec, from
    `codecs` or the registered ones, names the fields; without one the bytes are shown
    in hex), or None if `record` is not one."""
    if not isinstance(record, LoggedOrigin):
        return None
    codec = (registered_codecs() if codecs is None else codecs).get(record.protocol)
    name = protocol_name(record.protocol)
    label = record.protocol if name.startswith("protocol ") else name     # 200, or OUCH
    if codec is None:
        return {"type": "origin", "protocol": label, "bytes": record.data.hex()}
    return {**codec.describe_origin(record.data), "protocol": label}


class LogReader:
    """Iterate (segment path, Record) over a log directory from `from_seq` on.

    After iteration `problem` is None when every segment ended cleanly, else
    "<segment>: <reason> at offset <n>" for the first invalid record (or the
    missing segment the last one says comes next); `ending` says how a log
    without a problem ends (its last write's COMMIT record, or none).
    During iteration `version` is the format version of the segment the
    last record came from (`decode_payload` needs it).
    """

    def __init__(self, directory, from_seq=1):
        self.directory = directory
        self.from_seq = from_seq
        self.problem = None
        self.ending = None
        self.end = None             # (segment number, path, offset) after the last valid record
        self.version = FORMAT_VERSION

    def __iter__(self):
        next_seq = None
        output_seen = True
        segments = list_segments(self.directory, allow_gaps=True)
        for index, (number, path) in enumerate(segments):
            if index and number != segments[index - 1][0] + 1:
                self.problem = (f"segment-{segments[index - 1][0] + 1:08d}.wal is missing "
                                f"(the next present is {os.path.basename(path)}) at offset 0")
                return
            with open(path, "rb") as file:
                data = file.read()
            try:
                _, first_seq = decode_segment_header(data)
            except ValueError as error:
                self.problem = f"{os.path.basename(path)}: {error} at offset 0"
                return
            if next_seq is not None and first_seq != next_seq:
                self.problem = (f"{os.path.basename(path)}: starts at seq {first_seq}, "
                                f"expected {next_seq} at offset 0")
                return
            self.version = segment_version(data)
            scan = SegmentScan(data, first_seq)
            scan.output_seen = output_seen
            for record in scan:
                if record.seq >= self.from_seq:
                    yield path, record
            next_seq, output_seen = scan.next_seq, scan.output_seen
            self.end = (number, path, scan.end)
            if scan.damage is not None:
                self.problem = (f"{os.path.basename(path)}: {scan.damage.reason} "
                                f"at offset {scan.damage.offset}")
                return
            if index == len(segments) - 1:
                self._judge(number, path, segment_version(data), scan, next_seq - 1)

    def _judge(self, number, path, version, scan, last_seq):
        """How the last segment ends (recovery.py judges it the same way)."""
        name, marker = os.path.basename(path), scan.marker
        if version < COMMIT_VERSION:
            self.ending = (f"end of log after seq {last_seq} (a version {version} segment: "
                           f"no COMMIT records)")
        elif marker is not None and marker.closed:
            self.problem = (f"{name} says the log goes on in segment-{number + 1:08d}.wal, "
                            f"which is missing, at offset {scan.end}")
        elif marker is not None:
            self.ending = f"end of log: the last write's COMMIT record, seq {marker.seq}"
        elif scan.end > SEGMENT_HEADER_SIZE:
            self.ending = (f"end of log after seq {last_seq}: no COMMIT record (cut at a record "
                           f"boundary, or a write torn by a crash; `gatebook recover` seals it)")
        else:
            self.ending = f"end of log: {name} holds no records yet"


def input_crc(directory, seq):
    """The CRC field of the INPUT record of `seq` (a fingerprint of that command), or None.

    The replication handshake compares the follower's with the primary's to
    make sure the follower's log is a prefix of the primary's. Reads one
    segment; None when the log does not hold `seq` (or a record before it in
    that segment is invalid).
    """
    chosen = None
    for _, path in list_segments(directory):
        try:
            first = first_seq_of(path)
        except ValueError:
            break
        if first > seq:
            break
        chosen = path, first
    if chosen is None:
        return None
    path, first = chosen
    with open(path, "rb") as file:
        data = file.read()
    found = []
    check_records(data, first, output_seen=True, found=found, keep_outputs=False)
    index = 2 * (seq - first) + 1
    if index >= len(found):
        return None
    return int.from_bytes(data[found[index] - TRAILER_SIZE:found[index]], "little")
