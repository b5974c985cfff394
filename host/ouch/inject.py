"""Order flows for `gatebook inject`: scripted, random and deliberately bad.

# Ref: gatebook/wire/ouch.py (message and field names a script uses).

A script has one message per line, `SESSION MESSAGE field=value ...`, with
the message and field names of the order-entry tables; enum fields take
member names (`side=SELL`), price fields take decimals (`price=100.25`) or
integer units, unset fields are 0 or blank. Each line becomes one datagram,
numbered per session from 1:

    7 enter_order order_token=1 stock=GATE side=BUY shares=100 price=100.00
    7 cancel_order order_token=1

The result of every builder is a list of `(session, payload)` datagrams, as
`flow_datagrams` gives for a flow of internal commands. An exchange serves
none of them before a login: `log_in` sends LOGIN_REQUEST from a socket and
waits for the answer, and `under_session` renumbers datagrams into the
session it gave (every one of them then acts for the one account).
"""

import random
import socket
import time
from decimal import Decimal

from gatebook.wire import internal, ouch
from gatebook.wire.layout import ALPHA, PRICE4
from gatebook.wire.positions import CODE, OUCH

from .framing import HEADER_STRUCT, OUTBOUND_CODEC, decode_datagram, encode_datagram

__all__ = ["flow_datagrams", "script_datagrams", "bad_datagrams", "mix_in", "to_frames",
           "ScriptError", "LoginFailed", "log_in", "under_session", "logout_datagram"]

_MESSAGES = ouch.INBOUND.by_name()


class ScriptError(ValueError):
    """A script line that does not name a message or its fields correctly."""


def _parse_value(field, text):
    if field.kind == ALPHA:
        return text
    if field.enum is not None and not text.isdigit():
        try:
            return int(field.enum[text.upper()])
        except KeyError:
            raise ScriptError(f"{field.name}: {text!r} is not one of "
                              f"{', '.join(m.name for m in field.enum)}") from None
    if field.kind == PRICE4 and "." in text:
        return int(Decimal(text) * 10000)
    return int(text, 0)


def script_datagrams(text):
    """Datagrams for a script (see the module docstring)."""
    out, sequences = [], {}
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        try:
            session, message = int(words[0]), _MESSAGES[words[1]]
        except (ValueError, IndexError, KeyError):
            raise ScriptError(f"line {number}: expected SESSION MESSAGE field=value ..., "
                              f"MESSAGE one of {', '.join(_MESSAGES)}") from None
        values = {field.name: ("" if field.kind == ALPHA else 0) for field in message.fields}
        for word in words[2:]:
            name, _, value = word.partition("=")
            if name not in values:
                raise ScriptError(f"line {number}: {message.name} has no field {name!r}")
            try:
                values[name] = _parse_value(message.field(name), value)
            except (ValueError, ArithmeticError) as error:
                raise ScriptError(f"line {number}: {error}") from None
        record = (message.code, *(values[field.name] for field in message.fields))
        sequence = sequences.get(session, 1)
        sequences[session] = sequence + 1
        out.append((session, encode_datagram(session, sequence, [record])))
    return out


def bad_datagrams(count, seed=1):
    """`count` datagrams the ingress must refuse: truncated, oversized, garbage
    and scapy-fuzzed ones, in a seeded mix."""
    from scapy.packet import fuzz

    from ..net.scapy_layers import EnterOrder, OuchInbound
    rng = random.Random(seed)
    saved = random.getstate()           # scapy's fuzz() draws from the global generator
    random.seed(seed)
    try:
        return _bad(count, rng, fuzz, EnterOrder, OuchInbound)
    finally:
        random.setstate(saved)


def _bad(count, rng, fuzz, EnterOrder, OuchInbound):
    good = encode_datagram(1, 1, [(ouch.ENTER_ORDER.code, 1, "GATE", 0, 0, 0, 100, 1_000_000, 0)])
    out = []
    for index in range(count):
        kind = index % 4
        if kind == 0:
            payload = good[:rng.randrange(len(good))]
        elif kind == 1:
            payload = good + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        elif kind == 2:
            payload = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
        else:
            payload = bytes(fuzz(OuchInbound() / EnterOrder()))
        out.append((0, payload))
    return out


def mix_in(datagrams, extra, seed=1):
    """`datagrams` with `extra` spread among them at seeded places; the order
    of each list is kept."""
    rng = random.Random(seed)
    slots = sorted(rng.sample(range(len(datagrams) + len(extra)), len(extra)))
    out, good, bad = [], iter(datagrams), iter(extra)
    marks = set(slots)
    for position in range(len(datagrams) + len(extra)):
        out.append(next(bad) if position in marks else next(good))
    return out


def to_frames(datagrams, src=("127.0.0.1", 0), dst=("127.0.0.1", ouch.UDP_PORT),
              src_mac="02:00:00:00:00:01", dst_mac="02:00:00:00:00:02"):
    """Ethernet frames carrying the datagrams; source port 0 means one port per
    session (base 20000), so replies can find their session's client."""
    from gatebook.dpdk_bridge.udp import udp_frame
    smac, dmac = bytes.fromhex(src_mac.replace(":", "")), bytes.fromhex(dst_mac.replace(":", ""))
    sip, dip = socket.inet_aton(src[0]), socket.inet_aton(dst[0])
    return [udp_frame(dmac, smac, sip, dip, src[1] or 20000 + session % 40000, dst[1],
                      payload, index & 0xFFFF)
            for index, (session, payload) in enumerate(datagrams)]


class LoginFailed(RuntimeError):
    """The exchange rejected a login, or did not answer it."""


def log_in(sock, server, name, password, seconds=5.0):
    """Log in as `name` from `sock` (a `DatagramPort`); the LOGIN_ACCEPTED record
    `(code, session, user_id, next_inbound, next_outbound)`, or LoginFailed."""
    sock.send([(encode_datagram(0, 0, [(ouch.LOGIN_REQUEST.code, name, password, 0)]),
                server)])
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for payload, _ in sock.recv(32):
            try:
                _, _, records = decode_datagram(payload, OUTBOUND_CODEC)
            except ValueError:
                continue
            first = records[0] if records else ()
            if first and first[CODE] == ouch.LOGIN_ACCEPTED.code:
                return first
            if first and first[CODE] == ouch.LOGIN_REJECTED.code:
                reason = ouch.LOGIN_REJECTED.field("reason").enum(first[OUCH.LOGIN_REJECTED.reason])
                raise LoginFailed(f"login as {name} rejected: {reason.text}")
        time.sleep(0.001)
    raise LoginFailed(f"no answer to the login as {name} from {server[0]}:{server[1]} "
                      f"within {seconds:g} s")


def under_session(datagrams, session, first=1):
    """`datagrams` with `session` in their headers, numbered on from `first`."""
    out, number = [], first
    for user, payload in datagrams:
        _, _, count = HEADER_STRUCT.unpack_from(payload)
        out.append((user, HEADER_STRUCT.pack(session, number, count)
                    + payload[HEADER_STRUCT.size:]))
        number += count
    return out


def logout_datagram(session):
    """A LOGOUT_REQUEST for `session`, alone in its datagram."""
    return encode_datagram(session, 0, [(ouch.LOGOUT_REQUEST.code,)])


def flow_datagrams(commands, symbols, batch=1):
    """The datagrams (session, payload) that would carry `commands` (internal
    command tuples) from their users, `batch` messages per datagram at most.

    The session is the command's user; tokens are the order ids. Mass-cancel
    and admin commands have no order-entry message and are left out.
    """
    names = {spec.symbol_id: spec.name for spec in symbols}
    pending, sequences, out = {}, {}, []
    order_fields = internal.NEW_ORDER.field_names
    col = {name: order_fields.index(name) + 1 for name in order_fields}

    def flush(session):
        records = pending.pop(session, [])
        if records:
            first = sequences.get(session, 1)
            sequences[session] = first + len(records)
            out.append((session, encode_datagram(session, first, records)))

    for command in commands:
        code = command[CODE]
        if code == internal.NEW_ORDER.code:
            session = command[col["user"]]
            record = (ouch.ENTER_ORDER.code, command[col["order_id"]],
                      names.get(command[col["symbol"]], "?"),
                      command[col["side"]], command[col["order_type"]], command[col["tif"]],
                      command[col["qty"]], command[col["price"]], command[col["stop_price"]])
        elif code == internal.CANCEL.code:
            _, _, _, order_id, session = command
            record = (ouch.CANCEL_ORDER.code, order_id)
        elif code == internal.REPLACE.code:
            _, _, _, order_id, session, price, qty = command
            record = (ouch.REPLACE_ORDER.code, order_id, order_id, qty, price)
        else:
            continue
        pending.setdefault(session, []).append(record)
        if len(pending[session]) >= batch:
            flush(session)
    for session in list(pending):
        flush(session)
    return out
