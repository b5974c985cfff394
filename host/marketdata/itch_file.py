"""ITCH 5.0 messages to and from NASDAQ's BinaryFILE layout (length-prefixed)."""

from gatebook.wire import itch50
from gatebook.wire.codec import ProtocolCodec, RecordCodec, WireError

__all__ = ["write_itch_file", "read_itch_file"]

_ITCH = ProtocolCodec(itch50.ITCH50)
_LENGTH = RecordCodec(itch50.BINARYFILE_LENGTH, itch50.BINARYFILE.byte_order)


def write_itch_file(path, records):
    """Write ITCH record tuples to `path`; returns the number written."""
    count = 0
    with open(path, "wb") as file:
        for record in records:
            message = _ITCH.encode(record)
            file.write(_LENGTH.encode((len(message),)))
            file.write(message)
            count += 1
    return count


def read_itch_file(path):
    """The ITCH record tuples in `path`, in order."""
    with open(path, "rb") as file:
        data = file.read()
    records = []
    position = 0
    while position < len(data):
        if position + _LENGTH.size > len(data):
            raise WireError(f"{path}: length prefix cut short at offset {position}")
        (length,) = _LENGTH.decode(data[position:position + _LENGTH.size])
        start = position + _LENGTH.size
        if start + length > len(data):
            raise WireError(f"{path}: message at offset {position} cut short")
        records.append(_ITCH.decode(data[start:start + length]))
        position = start + length
    return records
