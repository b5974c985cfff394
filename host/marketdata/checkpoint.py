"""The feed checkpoint: where the MoldUDP64 session stood at an engine snapshot's command.

# Ref: NASDAQ MoldUDP64 1.00 (a session's numbering goes on); GLIMPSE 5.0
#      (a book as ITCH messages, then the sequence number to go on from).

A restarted exchange rebuilds its feed by replaying the log (resume.py).
Without a checkpoint that replay starts at seq 1; with one it starts after
the newest engine snapshot. Each time the log takes a snapshot at command
seq S, `FeedCheckpointer` notes the feed's own state at S (ITCH order
references of the displayed orders, pending stops, the next reference and
tracking number) and the MoldUDP64 sequence number the next message after S
will have; once the publisher has sent exactly that far (replies and market
data wait for the log's acknowledgement), it takes the subscribers' book and
the retransmission store's messages as of the same message, and a thread
writes them beside the snapshot as `mdcheckpoint-<S>.gbmd`.

The file, all of it covered by a CRC-32 (ISO-HDLC) in its last line:

    GBMDCKPT 1\\n
    {JSON header: session, command seq, next sequence, counts, the feed's state}\\n
    the book: ITCH 5.0 messages in BinaryFILE framing, then End of Snapshot
    the store's messages in BinaryFILE framing
    \\nCRC xxxxxxxx

`read_checkpoint` refuses a file that is cut short, fails its CRC, or whose
header or messages are not what this module writes (`CheckpointError`,
with a `kind` to count it by); `resume.py` also refuses one that does not
match the engine snapshot at its seq, and then replays the log from seq 1.
"""

import json
import logging
import os
import threading
import zlib

from gatebook.wire import itch50
from gatebook.wire.codec import ProtocolCodec, RecordCodec, WireError

from .snapshot import decode_snapshot, encode_snapshot

__all__ = ["FeedCheckpointer", "FeedCheckpoint", "CheckpointError", "read_checkpoint",
           "encode_checkpoint", "list_checkpoints", "checkpoint_name", "MAGIC"]

_log = logging.getLogger("gatebook.marketdata")

MAGIC = b"GBMDCKPT 1\n"
_CRC_LINE = b"\nCRC "
_CRC_DIGITS = 8
_NAME_PREFIX, _NAME_SUFFIX = "mdcheckpoint-", ".gbmd"
_ITCH = ProtocolCodec(itch50.ITCH50)
_LENGTH = RecordCodec(itch50.BINARYFILE_LENGTH, itch50.BINARYFILE.byte_order)
assert _LENGTH.size == 2            # _split_frames reads the big-endian length inline
_SIZE_OF = {message.code: message.size for message in itch50.ITCH50.messages}
# A header holds a few numbers and the feed's state: ~30 bytes per resting order.
MAX_HEADER = 256 << 20


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; `kind` says why, in one word, for counting."""

    def __init__(self, kind, detail):
        super().__init__(detail)
        self.kind = kind


class FeedCheckpoint:
    """A checkpoint read back: everything `resume.py` needs to go on from `command_seq`."""

    def __init__(self, session, command_seq, next_sequence, feed_state, book, messages):
        self.session, self.command_seq = session, command_seq
        self.next_sequence, self.feed_state = next_sequence, feed_state
        self.book, self.messages = book, messages


def checkpoint_name(command_seq):
    """The file name of the checkpoint taken after command `command_seq`."""
    return f"{_NAME_PREFIX}{command_seq:020d}{_NAME_SUFFIX}"


def list_checkpoints(directory):
    """[(command seq, path), ...] newest first."""
    found = []
    for name in os.listdir(directory):
        digits = name[len(_NAME_PREFIX):-len(_NAME_SUFFIX)]
        if name.startswith(_NAME_PREFIX) and name.endswith(_NAME_SUFFIX) \
                and len(digits) == 20 and digits.isdigit():
            found.append((int(digits), os.path.join(directory, name)))
    return sorted(found, reverse=True)


def _frames(messages):
    return b"".join(_LENGTH.encode((len(message),)) + message for message in messages)


def encode_checkpoint(session, command_seq, feed_state, book, next_sequence, held):
    """The file's bytes. `held` is (first sequence, messages): bytes, or ITCH record tuples
    (a replayed session's store keeps records until asked)."""
    first, messages = held
    messages = [message if isinstance(message, bytes) else _ITCH.encode(message)
                for message in messages]
    if first + len(messages) != next_sequence:
        raise ValueError(f"the store ends at {first + len(messages)}, not {next_sequence}")
    header = {"session": session, "command_seq": command_seq, "next_sequence": next_sequence,
              "book_messages": len(book), "store_messages": len(messages), "feed": feed_state}
    body = (MAGIC + json.dumps(header, separators=(",", ":")).encode() + b"\n"
            + encode_snapshot(book, next_sequence) + _frames(messages))
    return body + _CRC_LINE + f"{zlib.crc32(body):08x}".encode()


def _split_frames(data, count, name):
    """`count` BinaryFILE-framed ITCH messages filling `data` exactly."""
    out, position, size_of, end = [], 0, _SIZE_OF, len(data)
    prefix = _LENGTH.size
    for _ in range(count):
        if position + prefix > end:
            raise CheckpointError("truncated", f"{name}: store message cut short")
        length = (data[position] << 8) | data[position + 1]
        message = data[position + prefix:position + prefix + length]
        # Each message whole and of its type's size: nothing else is resent as ITCH.
        if len(message) != length or not length or size_of.get(message[0]) != length:
            raise CheckpointError("format", f"{name}: store message at offset {position} "
                                            f"is not ITCH 5.0")
        out.append(message)
        position += prefix + length
    if position != end:
        raise CheckpointError("format", f"{name}: {end - position} bytes after its last message")
    return out


def _int(value, low=0, high=(1 << 64) - 1):
    if type(value) is not int or not low <= value <= high:
        raise ValueError(f"{value!r} is not an integer in {low}..{high}")
    return value


def _check_feed_state(feed):
    """The feed's state with every value of the kind `ItchFeed.restore_state` expects."""
    if not isinstance(feed, dict) or set(feed) != {"next_ref", "tracking", "displayed", "stops"}:
        raise ValueError("the feed's state has other fields")
    _int(feed["next_ref"], 1)
    _int(feed["tracking"], 0, 0xFFFF)
    for row in feed["displayed"]:
        if not isinstance(row, list) or len(row) != 4:
            raise ValueError(f"displayed order {row!r}")
        for value in row:
            _int(value)
    for row in feed["stops"]:
        if not isinstance(row, list) or len(row) != 6:
            raise ValueError(f"stop {row!r}")
        for value in row:
            _int(value)
    return feed


def read_checkpoint(path):
    """The `FeedCheckpoint` in file `path`; raises `CheckpointError` saying why not."""
    name = os.path.basename(path)
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as error:
        raise CheckpointError("unreadable", f"{name}: {error}") from None
    tail = len(_CRC_LINE) + _CRC_DIGITS
    if not data.startswith(MAGIC):
        raise CheckpointError("truncated" if MAGIC.startswith(data) else "format",
                              f"{name}: not a feed checkpoint (no {MAGIC[:-1].decode()})")
    if len(data) < len(MAGIC) + tail or data[-tail:-_CRC_DIGITS] != _CRC_LINE:
        raise CheckpointError("truncated", f"{name}: cut short (no CRC line at its end)")
    body, digits = data[:-tail], data[-_CRC_DIGITS:]
    if f"{zlib.crc32(body):08x}".encode() != digits:
        raise CheckpointError("crc", f"{name}: CRC does not match (damaged or altered)")
    end = body.find(b"\n", len(MAGIC), len(MAGIC) + MAX_HEADER)
    try:
        header = json.loads(body[len(MAGIC):end]) if end > 0 else None
        if not isinstance(header, dict):
            raise ValueError("no header")
        session = header["session"]
        if not isinstance(session, str) or not 0 < len(session) <= 10 \
                or not session.isascii() or not session.isprintable():
            raise ValueError(f"session {session!r}")
        command_seq = _int(header["command_seq"], 1)
        next_sequence = _int(header["next_sequence"], 1)
        book_count = _int(header["book_messages"], 0, 1 << 32)
        store_count = _int(header["store_messages"], 0, next_sequence - 1)
        feed = _check_feed_state(header["feed"])
    except (ValueError, KeyError, TypeError, RecursionError) as error:
        raise CheckpointError("format", f"{name}: header: {error}") from None
    view = memoryview(body)
    position, book_end = end + 1, end + 1
    try:
        # The book is a snapshot stream: book_count messages, then End of Snapshot.
        for _ in range(book_count + 1):
            (length,) = _LENGTH.decode(bytes(view[book_end:book_end + _LENGTH.size]))
            book_end += _LENGTH.size + length
        book, book_next = decode_snapshot(bytes(view[position:book_end]))
    except WireError as error:
        raise CheckpointError("format", f"{name}: book: {error}") from None
    if len(book) != book_count or book_next != next_sequence:
        raise CheckpointError("format", f"{name}: the book does not match its header")
    messages = _split_frames(bytes(view[book_end:]), store_count, name)
    return FeedCheckpoint(session, command_seq, next_sequence, feed, book, messages)


def _write_atomically(directory, name, data):
    path = os.path.join(directory, name)
    temporary = path + ".partial"
    with open(temporary, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FeedCheckpointer:
    """Writes a feed checkpoint for each engine snapshot the log takes.

    Parameters
    ----------
    directory : str
        The log's directory (the checkpoints go beside its snapshots).
    feed : ItchFeed
    publisher : MoldPublisher
    next_sequence : int
        The sequence number the feed's next record will have, counting what
        is yet to be published before it (a new session's opening).
    keep : int
        Checkpoints kept; older ones are deleted.

    Attributes
    ----------
    written, skipped : int
        Checkpoints written; snapshots for which none was (the previous still
        being written, or the publisher never reached the snapshot's command).
    error : Exception or None
        The last failure to write one (a missing checkpoint costs restart time only).
    """

    def __init__(self, directory, feed, publisher, next_sequence, keep=2):
        self.directory, self.feed, self.publisher = directory, feed, publisher
        self.keep = max(1, keep)
        self._offset = next_sequence - feed.messages
        self._pending = None
        self._thread = None
        self.written = self.skipped = 0
        self.error = None
        publisher.on_published = self._published
        for name in os.listdir(directory):          # a write a crash interrupted
            if name.startswith(_NAME_PREFIX) and name.endswith(_NAME_SUFFIX + ".partial"):
                os.unlink(os.path.join(directory, name))

    def snapshot_taken(self, command_seq, between_bursts=True):
        """The log captured its engine after `command_seq` (on the exchange's thread).

        Only a snapshot taken between bursts (`between_bursts`: the exchange
        hands the log its entries' states) is one the feed has seen every
        event of; another gets no checkpoint."""
        if self._pending is not None or not between_bursts:
            self.skipped += 1
        if not between_bursts:
            self._pending = None
            return
        target = self._offset + self.feed.messages
        self._pending = (command_seq, self.feed.export_state(), target)
        with self.publisher.lock:
            if self.publisher.next_sequence == target:      # nothing held back
                self._published()

    def _published(self):
        """After a publish, under the publisher's lock: is this the checkpoint's moment?"""
        pending = self._pending
        if pending is None:
            return
        command_seq, feed_state, target = pending
        publisher = self.publisher
        if publisher.next_sequence < target:
            return
        self._pending = None
        if publisher.next_sequence > target or (self._thread is not None
                                                and self._thread.is_alive()):
            self.skipped += 1
            return
        book, next_sequence, held = publisher.checkpoint()
        self._thread = threading.Thread(
            target=self._write, name="gatebook-md-checkpoint", daemon=True,
            args=(publisher.session, command_seq, feed_state, book, next_sequence, held))
        self._thread.start()

    def _write(self, session, command_seq, feed_state, book, next_sequence, held):
        try:
            data = encode_checkpoint(session, command_seq, feed_state, book, next_sequence, held)
            _write_atomically(self.directory, checkpoint_name(command_seq), data)
            self.written += 1
            for _, path in list_checkpoints(self.directory)[self.keep:]:
                os.unlink(path)
        except (OSError, ValueError, WireError) as error:
            self.error = error
            _log.warning("feed checkpoint at seq %d not written: %s", command_seq, error)

    def close(self):
        """Wait for a checkpoint being written."""
        if self._thread is not None:
            self._thread.join()
