"""FIX 4.4 tag=value framing over a byte stream: whole messages out, or why not.

# Ref: FIX 4.4 specification, Volume 2 ("Message format", BodyLength, CheckSum).

`split` takes a connection's buffered bytes and cuts off every complete
message, checking what simplefix's parser does not: the BeginString, that
BodyLength ends exactly at the CheckSum field, the CheckSum itself, and a size
limit. A stream that does not start with a message cannot be resynchronised
safely (FIX has no frame marker), so a framing error ends the connection.
`parse` reads a framed message into {tag: value}; `encode` builds one with
simplefix, which computes BodyLength and CheckSum.
"""

import re
from datetime import datetime, timezone

import simplefix

from .dictionary import BEGIN_STRING, TAG

__all__ = ["FramingError", "split", "parse", "encode", "fix_time", "MAX_MESSAGE"]

MAX_MESSAGE = 8192                   # bytes; an order is a few hundred
_PREFIX = re.compile(rb"8=([^\x01]{1,16})\x019=(\d{1,5})\x01")


class FramingError(ValueError):
    """The stream is not FIX 4.4 framing; `kind` names why (for the counters)."""

    def __init__(self, kind, text):
        super().__init__(text)
        self.kind = kind


def split(buffer):
    """(messages, bytes consumed) of the complete messages at the start of `buffer`.

    Raises FramingError when the bytes cannot be (the start of) a message.
    """
    messages, at, size = [], 0, len(buffer)
    while at < size:
        head = _PREFIX.match(buffer, at)
        if head is None:
            if size - at >= 24 or not _could_start(buffer[at:]):
                raise FramingError("garbage", "the stream does not start with 8=FIX.4.4|9=")
            break
        if head.group(1) != BEGIN_STRING.encode():
            raise FramingError("begin_string", f"BeginString {head.group(1)!r}, not FIX.4.4")
        body = int(head.group(2))
        end = head.end() + body + 7             # "10=nnn\x01"
        if end - at > MAX_MESSAGE:
            raise FramingError("too_large", f"a {end - at}-byte message (at most {MAX_MESSAGE})")
        if size < end:
            break
        trailer = buffer[end - 7:end]
        if trailer[:3] != b"10=" or trailer[-1:] != b"\x01" or buffer[end - 8:end - 7] != b"\x01":
            raise FramingError("body_length", f"BodyLength {body} does not end at CheckSum")
        if not trailer[3:6].isdigit() or int(trailer[3:6]) != sum(buffer[at:end - 7]) % 256:
            raise FramingError("checksum", f"CheckSum {trailer[3:6]!r} is wrong")
        messages.append(bytes(buffer[at:end]))
        at = end
    return messages, at


def _could_start(tail):
    prefix = b"8=" + BEGIN_STRING.encode() + b"\x019="
    return prefix.startswith(tail[:len(prefix)]) and all(
        48 <= c <= 57 for c in tail[len(prefix):])


def parse(message):
    """({tag: text}, [tags seen twice]) of a framed message (simplefix's parser);
    ValueError if it is not tag=value throughout."""
    parser = simplefix.FixParser()
    parser.append_buffer(message)
    parsed = parser.get_message()
    if parsed is None or parser.get_message() is not None:
        raise ValueError("not one tag=value message")
    fields, twice = {}, []
    for tag, value in parsed.pairs:
        if not tag.isdigit() or not value:
            raise ValueError(f"field {tag[:8]!r}={value[:8]!r} is not tag=value")
        number = int(tag)
        if number in fields:
            twice.append(number)
        fields[number] = value.decode("latin-1")
    return fields, twice


def fix_time(nanoseconds):
    """A UTCTimestamp with milliseconds (YYYYMMDD-HH:MM:SS.sss) of a clock reading."""
    moment = datetime.fromtimestamp(nanoseconds // 1_000_000 / 1000, timezone.utc)
    return moment.strftime("%Y%m%d-%H:%M:%S.") + f"{nanoseconds // 1_000_000 % 1000:03d}"


def encode(msg_type, seq, sender, target, sending_time, body=(), poss_dup_of=None):
    """A message's bytes: header, `body` ((tag, value) pairs), trailer.

    `poss_dup_of`: the original SendingTime of a message sent again (PossDupFlag Y).
    """
    message = simplefix.FixMessage()
    message.append_pair(TAG.BeginString, BEGIN_STRING, header=True)
    message.append_pair(TAG.MsgType, msg_type, header=True)
    message.append_pair(TAG.SenderCompID, sender, header=True)
    message.append_pair(TAG.TargetCompID, target, header=True)
    message.append_pair(TAG.MsgSeqNum, seq, header=True)
    message.append_pair(TAG.SendingTime, sending_time, header=True)
    if poss_dup_of is not None:
        message.append_pair(TAG.PossDupFlag, "Y", header=True)
        message.append_pair(TAG.OrigSendingTime, poss_dup_of, header=True)
    for tag, value in body:
        message.append_pair(tag, value)
    return message.encode()
