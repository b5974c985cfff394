"""scapy layers generated from the wire tables agree with the codecs byte for byte."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from gatebook.wire import itch50, moldudp64, ouch
from gatebook.wire.codec import ProtocolCodec, RecordCodec
from gatebook.wire.layout import ALPHA
from gatebook.host.net import scapy_layers as layers
from gatebook.host.net.defaults import MOLDUDP64_PORT, OUCH_PORT
from gatebook.host.ouch.framing import OUTBOUND_CODEC, encode_datagram

CASES = [(itch50.ITCH50, layers.ITCH_LAYERS), (ouch.INBOUND, layers.OUCH_INBOUND_LAYERS),
         (ouch.OUTBOUND, layers.OUCH_OUTBOUND_LAYERS)]
MESSAGES = [(protocol, message, classes[message.code])
            for protocol, classes in CASES for message in protocol.messages]


def _value(field, draw):
    if field.kind == ALPHA:
        return draw(st.text(alphabet="ABCXYZ019", min_size=0, max_size=field.width))
    if field.enum is not None:
        return int(draw(st.sampled_from(list(field.enum))))
    return draw(st.integers(0, 2 ** field.bits - 1))


@pytest.mark.parametrize("protocol, message, cls", MESSAGES,
                         ids=[f"{p.name}:{m.name}" for p, m, _ in MESSAGES])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_every_message_matches_the_codec(protocol, message, cls, data):
    values = {field.name: _value(field, data.draw) for field in message.fields}
    record = (message.code,) + tuple(values[field.name] for field in message.fields)
    wire = ProtocolCodec(protocol).encode(record)
    assert bytes(cls(**values)) == wire                     # scapy builds what we encode
    parsed = cls(wire)                                      # and reads it back
    for field in message.fields:
        got = getattr(parsed, field.name)
        if field.kind == ALPHA:
            got = got.rstrip(b" ").decode()
        assert got == values[field.name], field.name
    assert parsed.type == message.code


def test_every_table_message_has_a_layer():
    for protocol, classes in CASES:
        assert sorted(classes) == sorted(message.code for message in protocol.messages)
    assert "EnterOrder" in layers.__all__ and "ItchAddOrder" in layers.__all__


def _itch_records():
    return [(ord("S"), 0, 0, 1000, "O"),
            (ord("A"), 3, 0, 2000, 11, "B", 100, "AAPL", 1_500_000),
            (ord("E"), 3, 0, 3000, 11, 40, 7),
            (ord("D"), 3, 0, 4000, 11)]


def test_moldudp64_packet_matches_header_and_block_codecs():
    itch = ProtocolCodec(itch50.ITCH50)
    blocks = [itch.encode(record) for record in _itch_records()]
    expected = (RecordCodec(moldudp64.HEADER, "big").encode(("GATEBOOK01", 41, len(blocks)))
                + b"".join(len(block).to_bytes(2, "big") + block for block in blocks))
    packet = layers.MoldUDP64(session="GATEBOOK01", sequence_number=41, messages=[
        layers.MoldBlock(message=layers.ITCH_LAYERS[block[0]](block)) for block in blocks])
    assert bytes(packet) == expected
    frame = Ether(bytes(Ether() / IP() / UDP() / packet))
    assert frame[UDP].dport == MOLDUDP64_PORT
    mold = frame[layers.MoldUDP64]
    assert mold.message_count == 4
    assert [bytes(block.message) for block in mold.messages] == blocks
    assert isinstance(mold.messages[1].message, layers.ItchAddOrder)
    assert mold.messages[1].message.price == 1_500_000


def test_moldudp64_heartbeat_has_no_blocks():
    packet = layers.MoldUDP64(bytes(layers.MoldUDP64(session="S", sequence_number=9,
                                                     message_count=0)))
    assert packet.messages == [] and packet.sequence_number == 9


def test_order_entry_datagram_matches_encode_datagram():
    records = [(ord("O"), 5, "MSFT", 1, 0, 2, 300, 4_000_000, 0), (ord("X"), 5)]
    frame = (Ether() / IP() / UDP()
             / layers.OuchInbound(session=7, sequence_number=12)
             / layers.EnterOrder(order_token=5, stock="MSFT", side=1, time_in_force=2,
                                 shares=300, price=4_000_000)
             / layers.CancelOrder(order_token=5))
    assert bytes(frame[layers.OuchInbound]) == encode_datagram(7, 12, records)
    parsed = Ether(bytes(frame))
    assert parsed[UDP].dport == OUCH_PORT
    assert parsed[layers.OuchInbound].message_count == 2
    assert parsed[layers.CancelOrder].order_token == 5


def test_outbound_replies_dissect_by_source_port():
    records = [(ord("E"), 99, 5, 100, 4_000_000, "R", 1, 200), (ord("J"), 99, 6, 14)]
    payload = encode_datagram(7, 1, records, OUTBOUND_CODEC)
    parsed = Ether(bytes(Ether() / IP() / UDP(sport=OUCH_PORT, dport=40000) / payload))
    assert parsed[layers.Executed].leaves_shares == 200
    assert parsed[layers.Rejected].reason == 14


def test_show_is_readable():
    text = (layers.OuchInbound(session=1, sequence_number=1)
            / layers.EnterOrder(order_token=1, stock="AAPL", shares=100, price=1_500_000)
            ).show(dump=True)
    assert "price     = 150.0000 (1500000)" in text
    assert "side      = BUY" in text and "time_in_force= DAY" in text
    assert "stock     = 'AAPL'" in text and "'O' enter_order" in text
    assert "message_count= 1" in layers.OuchInbound(bytes(layers.OuchInbound()
                                                          / layers.CancelOrder())).show(dump=True)


def test_the_session_messages_have_layers_that_match_the_codec():
    login = (layers.OuchInbound(session=0, sequence_number=0)
             / layers.LoginRequest(username="alice", password="secret"))
    assert bytes(login) == encode_datagram(0, 0, [(ord("L"), "alice", "secret", 0)])
    records = [(ord("L"), 0xDEADBEEF, 7, 3, 5), (ord("R"), 2)]
    parsed = Ether(bytes(Ether() / IP() / UDP(sport=OUCH_PORT, dport=40000)
                         / encode_datagram(7, 0, records, OUTBOUND_CODEC)))
    accepted = parsed[layers.LoginAccepted]
    assert (accepted.session, accepted.user_id, accepted.next_inbound,
            accepted.next_outbound) == (0xDEADBEEF, 7, 3, 5)
    assert parsed[layers.Refused].reason == 2
    for name in ("LogoutRequest", "MassCancel", "Admin", "LoginRejected", "LoggedOut"):
        assert name in layers.__all__
