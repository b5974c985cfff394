"""Recovery's hot loops: apply the INPUT records of one segment to the engine.

`check_records` (format.py) has already checked every record and listed the
(offset, end) pairs of the INPUT records (and of the OUTPUT records too, for
`replay_verified`); these loops unpack each command with its type's struct
straight off the segment bytes, apply it, and replay its origin and events
into the order-entry protocols' states (origins.py). A CRC-valid record that
holds no valid command is refused as `CorruptLog`, naming the record; an
origin of a protocol no codec reads, as `UnknownOrigin`.
"""

import itertools
import struct

from gatebook.wire.codec import WireError
from gatebook.wire.positions import INTERNAL

from .errors import CorruptLog
from .format import (COMMAND_STRUCTS, HEADER_SIZE, INPUT, TRAILER_SIZE, encode_output,
                     segment_version, split_input)
from .origins import UnknownOrigin, split_origin

__all__ = ["replay_inputs", "replay_verified"]

_SEQ = INTERNAL.NEW_ORDER.seq       # every command's (gatebook.wire.positions)

# Type byte -> (unpack_from of that command's struct, its size).
_command_layout = {code: (layout.unpack_from, layout.size)
                   for code, layout in COMMAND_STRUCTS.items()}


def _output_of(events, version):
    """What a segment of `version` holds for `events`, or None where it could not
    have held them (a LEVEL total past 32 bits before version 3)."""
    try:
        return encode_output(events, version)
    except WireError:
        return None


def _decode(view, offset, stop, seq, path, version, states):
    """(command, protocol, origin or None) in the INPUT record at view[offset:stop],
    which must carry `seq`."""
    payload = offset + HEADER_SIZE
    body_end = stop - TRAILER_SIZE
    try:
        command, at = split_input(view, payload, body_end)
        protocol = origin = None
        if at is not None:
            protocol, first, end = split_origin(view, at, body_end, version)
            origin = states.decode(view, first, end, protocol, seq)
    except UnknownOrigin:
        raise
    except (KeyError, IndexError, ValueError, struct.error):
        raise CorruptLog(path, offset, f"INPUT record seq {seq} holds no valid command") from None
    if command[_SEQ] != seq:
        raise CorruptLog(path, offset, f"record seq {seq} holds command seq {command[_SEQ]}")
    return command, protocol, origin


def replay_inputs(engine, report, path, data, found, first_seq, last):
    """Apply the INPUT records at `found` (offset, end pairs) newer than the snapshot.

    The hot loop of recovery: one struct unpack and one `engine.apply` per
    command, then the order-entry states' `replay` of its origin (decoded by
    its protocol's codec) and events.
    """
    skip = max(0, report.snapshot_seq + 1 - first_seq)
    if skip * 2 >= len(found):
        return (None, None) if found else last
    view = memoryview(data)
    version = segment_version(data)
    states = report.states
    apply, replay = engine.apply, states.replay
    layouts = _command_layout
    seq = first_seq + skip
    command = events = None
    positions = iter(found)
    if skip:
        positions = itertools.islice(positions, 2 * skip, None)
    origins = 0
    for offset, stop in zip(positions, positions):
        payload = offset + HEADER_SIZE
        body_end = stop - TRAILER_SIZE
        try:
            unpack, size = layouts[view[payload]]
            end = payload + size
            command = unpack(view, payload)
            protocol = origin = None
            if end != body_end:
                protocol, first, end = split_origin(view, end, body_end, version)
                origin = states.decode(view, first, end, protocol, seq)
                origins += 1
        except UnknownOrigin:
            raise
        except (KeyError, IndexError, ValueError, struct.error):
            _decode(view, offset, stop, seq, path, version, states)     # raises, naming it
        if command[_SEQ] != seq:
            _decode(view, offset, stop, seq, path, version, states)
        events = apply(command)
        replay(command, protocol, origin, events)
        seq += 1
    report.origins += origins
    report.replayed += seq - first_seq - skip
    return command, events


def replay_verified(engine, report, path, data, found, first_seq, last):
    """Apply INPUT records newer than the snapshot, comparing each OUTPUT record with the replay."""
    view = memoryview(data)
    version = segment_version(data)
    snapshot_seq = report.snapshot_seq
    command, events = last
    seq = first_seq
    positions = iter(found)
    for offset, stop in zip(positions, positions):
        if view[offset + HEADER_SIZE - 1] == INPUT:
            if seq > snapshot_seq:
                command, protocol, origin = _decode(view, offset, stop, seq, path, version,
                                                    report.states)
                events = engine.apply(command)
                report.states.replay(command, protocol, origin, events)
                report.origins += origin is not None
                report.replayed += 1
            else:
                command = None
            seq += 1
        else:
            if command is not None:
                if view[offset + HEADER_SIZE:stop - TRAILER_SIZE] != _output_of(events, version):
                    raise CorruptLog(path, offset, f"replaying seq {seq - 1} gives other events "
                                                   f"than its OUTPUT record holds")
                report.verified += 1
            command = None
    return command, events
