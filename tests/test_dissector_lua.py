"""The generated Lua dissectors, run by Debian's tshark on a pcap we write."""

import json
import random
import shutil
import subprocess

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from gatebook.cli import main
from gatebook.wire import itch50, ouch
from gatebook.wire.codec import ProtocolCodec
from gatebook.wire.layout import ALPHA
from gatebook.host.net import scapy_layers as layers
from gatebook.host.net.defaults import MOLDUDP64_PORT, OUCH_CLIENT_PORT, OUCH_PORT
from gatebook.host.ouch.framing import OUTBOUND_CODEC, encode_datagram

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None,
                                reason="tshark is not installed (Debian: apt-get install tshark)")


def _record(message, rng):
    values = []
    for field in message.fields:
        if field.kind == ALPHA:
            values.append("".join(rng.choice("ABCXYZ") for _ in range(rng.randint(1, field.width))))
        elif field.enum is not None:
            values.append(int(rng.choice(list(field.enum))))
        else:
            values.append(rng.randrange(2 ** field.bits))
    return (message.code, *values)


def _itch_frame(seq, records):
    itch = ProtocolCodec(itch50.ITCH50)
    blocks = [layers.MoldBlock(message=layers.ITCH_LAYERS[r[0]](itch.encode(r))) for r in records]
    return (Ether() / IP(src="127.0.0.1", dst="127.0.0.1")
            / UDP(sport=MOLDUDP64_PORT, dport=MOLDUDP64_PORT)
            / layers.MoldUDP64(session="GATEBOOK01", sequence_number=seq, messages=blocks))


def _ouch_frame(records, inbound):
    codec = ProtocolCodec(ouch.INBOUND if inbound else ouch.OUTBOUND)
    payload = encode_datagram(3, 1, records, codec)
    ports = (OUCH_CLIENT_PORT, OUCH_PORT) if inbound else (OUCH_PORT, OUCH_CLIENT_PORT)
    return Ether() / IP() / UDP(sport=ports[0], dport=ports[1]) / payload


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    """A pcap with every ITCH and order-entry message once, and the records in it."""
    rng = random.Random(5)
    tmp = tmp_path_factory.mktemp("dissect")
    assert main(["dissectors", "-o", str(tmp)]) == 0
    itch = [_record(m, rng) for m in itch50.ITCH50.messages]
    inbound = [_record(m, rng) for m in ouch.INBOUND.messages]
    outbound = [_record(m, rng) for m in ouch.OUTBOUND.messages]
    frames = [_itch_frame(100, itch[:6]), _itch_frame(106, itch[6:]),
              _ouch_frame(inbound, True), _ouch_frame(outbound, False)]
    wrpcap(str(tmp / "flow.pcap"), frames)
    return tmp, itch, inbound, outbound


def _tshark(tmp, *args):
    done = subprocess.run(["tshark", "-n", "-r", str(tmp / "flow.pcap"),
                           "-X", f"lua_script:{tmp / 'gatebook.lua'}", *args],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Lua: Error" not in done.stderr, done.stderr
    return done.stdout


def _fields(node, out):
    """Every `gb_*` field in tshark's JSON tree, as name -> list of string values.
    tshark repeats keys within an object, so objects arrive as lists of pairs."""
    if isinstance(node, tuple):
        key, value = node
        if key.startswith("gb_") and isinstance(value, str):
            out.setdefault(key, []).append(value)
        _fields(value, out)
    elif isinstance(node, list):
        for item in node:
            _fields(item, out)
    return out


def _expected(protocol_name, protocol, records):
    out = {}
    by_code = protocol.by_code()
    for record in records:
        message = by_code[record[0]]
        for field, value in zip(message.fields, record[1:]):
            out.setdefault(f"{protocol_name}.{message.name}.{field.name}", []).append(str(value))
    return out


def test_every_field_of_every_message_decodes(capture):
    tmp, itch, inbound, outbound = capture
    got = _fields(json.loads(_tshark(tmp, "-T", "json"), object_pairs_hook=list), {})
    expected = _expected("gb_itch50", itch50.ITCH50, itch)
    expected.update(_expected("gb_ouch", ouch.INBOUND, inbound))
    expected.update(_expected("gb_ouch", ouch.OUTBOUND, outbound))
    for name, values in expected.items():
        assert got.get(name) == values, name
    assert got["gb_moldudp64.sequence_number"] == ["100", "106"]
    assert got["gb_moldudp64.message_count"] == ["6", str(len(itch) - 6)]
    assert got["gb_ouch.session"] == ["3", "3"]


def test_summary_lines_and_verbose_text(capture):
    tmp, itch, inbound, outbound = capture
    summary = _tshark(tmp).splitlines()
    assert "MoldUDP64 seq=100 n=6 system_event,stock_directory" in summary[0]
    assert "in session=3 seq=1 enter_order,replace_order,cancel_order" in summary[2]
    assert "out session=3 seq=1 accepted,replaced,canceled,executed,rejected" in summary[3]
    verbose = _tshark(tmp, "-V", "-Y", "gb_ouch")
    price = inbound[0][1 + ouch.ENTER_ORDER.field_names.index("price")]
    assert f"Price: {price} ({price / 10000:.4f})" in verbose
    side = inbound[0][1 + ouch.ENTER_ORDER.field_names.index("side")]
    assert f"Side: {('BUY', 'SELL')[side]} ({side})" in verbose


def test_wiresharks_own_moldudp64_hands_blocks_to_our_itch(capture):
    tmp, itch, _, _ = capture
    out = _tshark(tmp, "-d", f"udp.port=={MOLDUDP64_PORT},moldudp64",
                  "-d", "moldudp64.payload,gb_itch50", "-Y", "moldudp64",
                  "-T", "fields", "-e", "moldudp64.sequence", "-e", "moldudp64.count",
                  "-e", "gb_itch50.add_order.order_ref")
    add_order = next(r for r in itch if r[0] == itch50.ADD_ORDER.code)
    assert out.splitlines()[0] == f"100\t6\t{add_order[4]}"


def test_truncated_message_is_flagged_not_crashed(tmp_path):
    main(["dissectors", "-o", str(tmp_path)])
    good = encode_datagram(1, 1, [(ord("X"), 5)])
    wrpcap(str(tmp_path / "flow.pcap"), [
        Ether() / IP() / UDP(sport=OUCH_CLIENT_PORT, dport=OUCH_PORT) / good[:-3],
        Ether() / IP() / UDP(sport=OUCH_PORT, dport=OUCH_CLIENT_PORT)
        / encode_datagram(1, 1, [(ord("J"), 1, 2, 3)], OUTBOUND_CODEC)[:-1] / b""])
    out = _tshark(tmp_path, "-V")
    assert "Expert Info (Error/Malformed): cancel_order truncated: 6 of 9 bytes" in out
    assert "rejected truncated: 17 of 18 bytes" in out
    assert "MALFORMED" in _tshark(tmp_path)


def test_link_frames_decode_field_by_field(tmp_path):
    from gatebook.wire import internal, link
    from gatebook.wire import link_frame as lf
    from gatebook.wire.layout import Protocol
    from gatebook.host.engine import MatchingEngine
    from gatebook.host.flow import generate_flow
    from gatebook.host.net.link import pack_frames
    from gatebook.host.symbols import DEFAULT_SYMBOLS
    from scapy.utils import PcapWriter
    main(["dissectors", "-o", str(tmp_path)])
    flow = generate_flow(40, seed=3)
    engine = MatchingEngine(DEFAULT_SYMBOLS)
    events = [event for command in flow for event in engine.apply(command)]
    a, b = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
    frames = (pack_frames(b, a, lf.COMMANDS, 0, flow)
              + pack_frames(a, b, lf.EVENTS, 0, events, answered=1))
    done = pack_frames(a, b, lf.EVENTS, len(frames), [(internal.DONE.code, 9, 5, 77, 0)],
                       answered=2)[0]
    frames.append(done.ljust(60, b"\x00"))            # Ethernet pads short frames on the wire
    writer = PcapWriter(str(tmp_path / "flow.pcap"), linktype=1)
    for frame in frames:
        writer.write(frame)
    writer.close()
    got = _fields(json.loads(_tshark(tmp_path, "-T", "json"), object_pairs_hook=list), {})
    commands = Protocol("c", "little", internal.COMMANDS.messages + link.LINK_COMMANDS.messages)
    event_tables = Protocol("e", "little", internal.EVENTS.messages + link.LINK_EVENTS.messages)
    expected = _expected("gb_link", commands, flow)
    expected.update(_expected("gb_link", event_tables,
                              events + [(internal.DONE.code, 9, 5, 77, 0)]))
    for name, values in expected.items():
        assert got.get(name) == values, name
    assert "MALFORMED" not in _tshark(tmp_path)
    assert got["gb_link.channel"][0] == "0" and got["gb_link.channel"][-1] == "1"
    assert got["gb_link.answered"][-1] == "2"


def test_the_session_messages_are_named_with_their_reasons(capture):
    tmp, _, inbound, outbound = capture
    summary = _tshark(tmp).splitlines()
    assert "login_request,logout_request,mass_cancel,admin" in summary[2]
    assert "login_accepted,login_rejected,logged_out,refused" in summary[3]
    verbose = _tshark(tmp, "-V", "-Y", "gb_ouch")
    refused = next(r for r in outbound if r[0] == ouch.REFUSED.code)
    reason = ouch.REFUSED.field("reason").enum(refused[1])
    assert f"Reason: {reason.name} ({int(reason)})" in verbose
    login = next(r for r in inbound if r[0] == ouch.LOGIN_REQUEST.code)
    assert f"Username: {login[1]}" in verbose
