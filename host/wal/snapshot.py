"""Engine snapshots: everything `state_hash` covers, tagged with the last sequence number.

A snapshot is taken between two commands on the matching thread, so it is
consistent by construction: `capture` copies the engine's public state into
plain tuples (the only part that pauses matching), and `encode` plus
`write_snapshot` can then run on any thread. Restoring rests the orders again
level by level in time order and pushes the stops back with their original
sequence numbers, which gives the same priorities and the same `state_hash`;
then it puts the engine's order registry back in its captured order, which
`state_hash` does not cover but the order of mass-cancel events depends on.

A snapshot also holds each order-entry protocol's state as of the same
command (`SnapshotState.entry_states`: protocol id -> the protocol's own
bytes, which its log-origin codec writes and reads; origins.py): the
exchange hands them over when it asks for the snapshot, between two bursts.
From version 5 it also holds the pre-trade risk gate's state (`SnapshotState.risk`:
its limits and fees, each account's cash and positions), which the books cannot
give back; the gate's holds for open orders follow from the books.

The snapshot file is written under a temporary name, fdatasync'ed, renamed
and the directory synced, so a crash leaves either the whole snapshot or
none. A snapshot is only ever written once the log is durable up to its
`last_seq` (see journal.py), so recovery never finds one ahead of its log
unless the log itself was cut short.
"""

import os
import re
import struct
import zlib
from dataclasses import dataclass

from gatebook.wire.codec import RecordCodec
from gatebook.wire.wal import (LEGACY_ORIGIN_PROTOCOL, SNAPSHOT, SNAPSHOT_BOOK, SNAPSHOT_BREAKER,
                               SNAPSHOT_ENTRIES, SNAPSHOT_RISK, SNAPSHOT_RISK_CASH,
                               SNAPSHOT_RISK_FEE, SNAPSHOT_RISK_LIMITS, SNAPSHOT_RISK_POSITION,
                               SNAPSHOT_ENTRY_STATE, SNAPSHOT_HEADER, SNAPSHOT_MAGIC,
                               SNAPSHOT_ORDER, SNAPSHOT_READABLE_VERSIONS, SNAPSHOT_USED_ID,
                               SNAPSHOT_VERSION)
from gatebook.host.book import RestingOrder
from gatebook.host.engine import MatchingEngine

from .format import struct_of
from .segments import sync_directory

__all__ = ["SnapshotState", "SnapshotError", "capture", "encode", "decode", "restore",
           "write_snapshot", "read_snapshot", "list_snapshots", "snapshot_name"]

_HEADER = RecordCodec(SNAPSHOT_HEADER, SNAPSHOT.byte_order)
_BOOK = struct_of(SNAPSHOT_BOOK, SNAPSHOT.byte_order)
_BREAKER = struct_of(SNAPSHOT_BREAKER, SNAPSHOT.byte_order)
_NO_BREAKER = (0, 0, 0)                 # before version 4: no breaker state was kept
_ORDER = struct_of(SNAPSHOT_ORDER, SNAPSHOT.byte_order)
_ID_FORMAT = struct_of(SNAPSHOT_USED_ID, SNAPSHOT.byte_order).format   # "<Q"
_ENTRIES = struct_of(SNAPSHOT_ENTRIES, SNAPSHOT.byte_order)
_ENTRY_STATE = struct_of(SNAPSHOT_ENTRY_STATE, SNAPSHOT.byte_order)
_RISK = struct_of(SNAPSHOT_RISK, SNAPSHOT.byte_order)
_RISK_FEE = struct_of(SNAPSHOT_RISK_FEE, SNAPSHOT.byte_order)
_RISK_LIMITS = struct_of(SNAPSHOT_RISK_LIMITS, SNAPSHOT.byte_order)
_RISK_CASH = struct_of(SNAPSHOT_RISK_CASH, SNAPSHOT.byte_order)
_RISK_POSITION = struct_of(SNAPSHOT_RISK_POSITION, SNAPSHOT.byte_order)
_RISK_FEES = 4                          # buy maker, buy taker, sell maker, sell taker
_SIGN = 1 << 63
_WORD = 1 << 64
_SNAPSHOT_PATTERN = re.compile(r"snapshot-(\d{20})\.snap")


class SnapshotError(ValueError):
    """A snapshot file that cannot be used; the message names the file and why."""


@dataclass
class SnapshotState:
    last_seq: int
    last_ts: int
    match_id: int
    self_trade_prevention: bool
    books: list             # [(symbol, halted, last_trade_price, [order tuple], [stop tuple],
                            #   (breaker reference, window end, resume at))]
    used_ids: list          # any order when captured; encode and decode keep them ascending
    live_ids: list          # the engine's registry order
    # protocol id -> its state's bytes (or a callable returning them, which `encode`
    # calls: the state may be exported off the matching thread); {} in version 1
    entry_states: dict = None
    # The pre-trade risk gate's own state (version 5), or None without a gate:
    # (default limits tuple or None, {user: limits tuple}, ((per_share, rate_ppm) x 4),
    #  {account: cash}, {(user, symbol): shares}); a limits tuple is (buying_power,
    # max_position, max_order_qty, max_order_notional). See gatebook.host.risk.
    risk: tuple = None


def _order_tuple(order):
    return (order.order_id, order.user, order.side, order.order_type, order.tif,
            order.price, order.stop_price, order.qty, order.seq)


def capture(engine, last_ts=0, entry_states=None, risk=None):
    """Copy the engine's state; call between commands, on the matching thread.
    `entry_states` are the order-entry protocols' states as of the same command
    ({protocol id: bytes, or a callable that returns them later: see
    `OrderEntry.export_state`}), or None for none; `risk` the risk gate's state
    (`SnapshotState.risk`, already a copy), or None without a gate.

    Only copies: sorting the used ids (the bulk of a big snapshot) is left to
    `encode`, off the matching thread.
    """
    books = []
    for symbol in sorted(engine.books):
        book = engine.books[symbol]
        orders = [_order_tuple(order) for side in (0, 1)
                  for _, level in book.orders_at(side) for order in level]
        stops = [_order_tuple(order) for side in (0, 1) for order in book.live_stops(side)]
        breaker = (book.breaker_reference, book.breaker_window_end, book.resume_at)
        books.append((symbol, book.halted, book.last_trade_price, orders, stops, breaker))
    return SnapshotState(engine.last_seq, last_ts, engine.match_id,
                         engine.self_trade_prevention, books, list(engine.used_ids),
                         list(engine.orders), dict(entry_states or {}), risk)


def encode(state, version=SNAPSHOT_VERSION):
    """A snapshot file's bytes. `version` 3 or 4 writes what an older build wrote (for tests
    of reading it), refusing a state that version cannot hold."""
    if version not in (3, 4, SNAPSHOT_VERSION):
        raise ValueError(f"cannot write snapshot version {version}")
    parts = []
    for symbol, halted, last_trade_price, orders, stops, breaker in state.books:
        parts.append(_BOOK.pack(symbol, halted, last_trade_price, len(orders), len(stops)))
        if version >= 4:
            parts.append(_BREAKER.pack(*breaker))
        elif any(breaker):
            raise ValueError(f"snapshot version {version} holds no breaker state "
                             f"(symbol {symbol} has one)")
        parts.extend(_ORDER.pack(*order) for order in orders)
        parts.extend(_ORDER.pack(*order) for order in stops)
    ids, live = sorted(state.used_ids), state.live_ids
    parts.append(_ids_struct(len(ids)).pack(*ids))
    parts.append(_ids_struct(len(live)).pack(*live))
    entries = sorted((state.entry_states or {}).items())
    parts.append(_ENTRIES.pack(len(entries)))
    for protocol, data in entries:
        data = data() if callable(data) else data
        parts.append(_ENTRY_STATE.pack(protocol, len(data)))
        parts.append(data)
    if version >= 5:
        parts.extend(_encode_risk(state.risk))
    elif state.risk is not None:
        raise ValueError(f"snapshot version {version} holds no risk gate state")
    body = b"".join(parts)
    fields = (SNAPSHOT_MAGIC, version, state.last_seq, state.last_ts, state.match_id,
              len(state.books), len(ids), len(live), int(state.self_trade_prevention), len(body))
    head = _HEADER.encode(fields + (0,))[:-4]
    return _HEADER.encode(fields + (zlib.crc32(body, zlib.crc32(head)),)) + body


def _ids_struct(count):
    """`count` SNAPSHOT_USED_ID records as one struct: a million ids pack in one call."""
    return struct.Struct(_ID_FORMAT[0] + str(count) + _ID_FORMAT[1:])


def decode(data, name="snapshot"):
    """SnapshotState from a snapshot file's bytes; SnapshotError if it is not whole and valid."""
    if len(data) < _HEADER.size:
        raise SnapshotError(f"{name}: {len(data)} bytes, shorter than its header")
    try:
        (magic, version, last_seq, last_ts, match_id, book_count, id_count, live_count, stp,
         body_length, crc) = _HEADER.decode(bytes(data[:_HEADER.size]))
    except ValueError as error:
        raise SnapshotError(f"{name}: header unreadable: {error}") from None
    if magic != SNAPSHOT_MAGIC or version not in SNAPSHOT_READABLE_VERSIONS:
        raise SnapshotError(f"{name}: not a Gatebook snapshot of version "
                            f"{' or '.join(map(str, SNAPSHOT_READABLE_VERSIONS))}")
    body = memoryview(data)[_HEADER.size:]
    if len(body) != body_length:
        raise SnapshotError(f"{name}: body is {len(body)} bytes, header says {body_length}")
    if crc != zlib.crc32(body, zlib.crc32(data[:_HEADER.size - 4])):
        raise SnapshotError(f"{name}: CRC mismatch")
    try:
        books, offset = _decode_books(body, book_count, version)
    except struct.error:
        # Only a snapshot written with a valid CRC by something else gets here.
        raise SnapshotError(f"{name}: its books do not fit in its body") from None
    ids_end = offset + 8 * (id_count + live_count)
    if ids_end != len(body) if version == 1 else ids_end > len(body):
        raise SnapshotError(f"{name}: body length does not match its counts")
    ids = list(_ids_struct(id_count).unpack_from(body, offset))
    live = list(_ids_struct(live_count).unpack_from(body, offset + 8 * id_count))
    end = len(body)
    if version == 1:
        entry_states = {}
    elif version == 2:                      # OUCH's gateway section, bare
        entry_states = {int(LEGACY_ORIGIN_PROTOCOL): bytes(body[ids_end:])}
    else:
        entry_states, end = _decode_entry_states(body, ids_end, name)
    risk = None
    if version >= 5:
        risk, end = _decode_risk(body, end, name)
    if version >= 3 and end != len(body):
        raise SnapshotError(f"{name}: body length does not match its order-entry and risk "
                            f"counts")
    return SnapshotState(last_seq, last_ts, match_id, bool(stp), books, ids, live, entry_states,
                         risk)


def _signed(value):
    return value - _WORD if value >= _SIGN else value


def _encode_risk(risk):
    """SNAPSHOT_RISK and its records (signed amounts as two's complement)."""
    if risk is None:
        return [_RISK.pack(0, 0, 0, 0, 0)]
    default, limits, fees, cash, positions = risk
    rows = ([(0,) + tuple(default)] if default is not None else []) + \
        [(user,) + tuple(values) for user, values in sorted(limits.items())]
    parts = [_RISK.pack(1, int(default is not None), len(rows), len(cash), len(positions))]
    parts += [_RISK_FEE.pack(per_share % _WORD, rate % _WORD) for per_share, rate in fees]
    parts += [_RISK_LIMITS.pack(*row) for row in rows]
    parts += [_RISK_CASH.pack(account % _WORD, amount % _WORD)
              for account, amount in sorted(cash.items())]
    parts += [_RISK_POSITION.pack(user, symbol, qty % _WORD)
              for (user, symbol), qty in sorted(positions.items())]
    return parts


def _decode_risk(body, offset, name):
    """(SnapshotState.risk, offset after it) of a version 5 snapshot's risk section."""
    try:
        present, has_default, limit_count, cash_count, position_count = \
            _RISK.unpack_from(body, offset)
        offset += _RISK.size
        if not present:
            return None, offset
        sizes = (_RISK_FEES * _RISK_FEE.size + limit_count * _RISK_LIMITS.size
                 + cash_count * _RISK_CASH.size + position_count * _RISK_POSITION.size)
        if offset + sizes > len(body) or limit_count < has_default:
            raise ValueError
        fees = []
        for _ in range(_RISK_FEES):
            per_share, rate = _RISK_FEE.unpack_from(body, offset)
            fees.append((_signed(per_share), _signed(rate)))
            offset += _RISK_FEE.size
        rows = [_RISK_LIMITS.unpack_from(body, offset + index * _RISK_LIMITS.size)
                for index in range(limit_count)]
        offset += limit_count * _RISK_LIMITS.size
        default = rows.pop(0)[1:] if has_default else None
        cash = {}
        for _ in range(cash_count):
            account, amount = _RISK_CASH.unpack_from(body, offset)
            cash[_signed(account)] = _signed(amount)
            offset += _RISK_CASH.size
        positions = {}
        for _ in range(position_count):
            user, symbol, qty = _RISK_POSITION.unpack_from(body, offset)
            positions[user, symbol] = _signed(qty)
            offset += _RISK_POSITION.size
    except (struct.error, ValueError):
        raise SnapshotError(f"{name}: risk section does not match its counts") from None
    return (default, {row[0]: row[1:] for row in rows}, tuple(fees), cash, positions), offset


def _decode_books(body, book_count, version):
    """([book tuple], offset after the books) of a snapshot body (struct.error if cut short)."""
    books, offset = [], 0
    for _ in range(book_count):
        symbol, halted, last_trade_price, order_count, stop_count = _BOOK.unpack_from(body, offset)
        offset += _BOOK.size
        breaker = _NO_BREAKER
        if version >= 4:
            breaker = _BREAKER.unpack_from(body, offset)
            offset += _BREAKER.size
        entries = [_ORDER.unpack_from(body, offset + index * _ORDER.size)
                   for index in range(order_count + stop_count)]
        offset += (order_count + stop_count) * _ORDER.size
        books.append((symbol, bool(halted), last_trade_price, entries[:order_count],
                      entries[order_count:], breaker))
    return books, offset


def _decode_entry_states(body, offset, name):
    """({protocol: bytes}, offset after them): a version 3+ snapshot's order-entry section."""
    try:
        (count,) = _ENTRIES.unpack_from(body, offset)
        offset += _ENTRIES.size
        found = {}
        for _ in range(count):
            protocol, length = _ENTRY_STATE.unpack_from(body, offset)
            offset += _ENTRY_STATE.size
            if offset + length > len(body) or protocol in found:
                raise ValueError
            found[protocol] = bytes(body[offset:offset + length])
            offset += length
    except (struct.error, ValueError):
        raise SnapshotError(f"{name}: order-entry section does not match its counts") from None
    return found, offset


def restore(state, symbols):
    """A new engine holding exactly the captured state."""
    engine = MatchingEngine(symbols, self_trade_prevention=state.self_trade_prevention)
    for symbol, halted, last_trade_price, orders, stops, breaker in state.books:
        book = engine.books.get(symbol)
        if book is None:
            raise SnapshotError(f"snapshot at seq {state.last_seq} holds symbol {symbol}, "
                                f"which this exchange does not list")
        book.halted = halted
        book.last_trade_price = last_trade_price
        book.breaker_reference, book.breaker_window_end, book.resume_at = breaker
        for order_id, user, side, order_type, tif, price, stop_price, qty, seq in orders:
            engine.restore_resting(RestingOrder(order_id, user, symbol, side, order_type, tif,
                                                price, stop_price, qty, seq))
        for order_id, user, side, order_type, tif, price, stop_price, qty, seq in stops:
            engine.restore_stop(RestingOrder(order_id, user, symbol, side, order_type, tif,
                                             price, stop_price, qty, seq))
    registry = engine.orders                # shared with the books: reorder it in place
    if sorted(registry) != sorted(state.live_ids):
        raise SnapshotError(f"snapshot at seq {state.last_seq}: live order list does not "
                            f"match its books")
    ordered = [(order_id, registry[order_id]) for order_id in state.live_ids]
    registry.clear()
    registry.update(ordered)
    engine.used_ids = set(state.used_ids)
    engine.match_id = state.match_id
    engine.last_seq = state.last_seq
    return engine


def snapshot_name(last_seq):
    return f"snapshot-{last_seq:020d}.snap"


def write_snapshot(directory, data, last_seq):
    """Write encoded snapshot bytes atomically; return the path."""
    path = os.path.join(directory, snapshot_name(last_seq))
    temporary = path + ".partial"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except OSError:
        os.close(fd)
        os.unlink(temporary)            # a full disk must not also keep half a snapshot
        raise
    os.close(fd)
    os.replace(temporary, path)
    sync_directory(directory)
    return path


def read_snapshot(path):
    with open(path, "rb") as file:
        return decode(file.read(), os.path.basename(path))


def list_snapshots(directory):
    """[(last_seq, path), ...] newest first."""
    found = [(int(match.group(1)), os.path.join(directory, name))
             for name in os.listdir(directory)
             if (match := _SNAPSHOT_PATTERN.fullmatch(name))]
    return sorted(found, reverse=True)
