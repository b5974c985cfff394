"""Two order-entry protocols side by side on one journaled exchange, and through a restart.

OUCH (host/ouch/) and the text protocol of tests/text_order_entry.py (string client
order ids, its own protocol id 200) each on a real UDP socket on loopback, one
`Exchange` polling both, every command logged with its protocol's origin (segment
version 4) and snapshots holding both protocols' states (snapshot version 3). Order ids
come from one allocator, each protocol replies only for its own orders, and after a
restart from the log both know their clients' ids again. A log whose origins need a
codec the reader lacks is refused, naming the protocol.
"""

import pytest

from gatebook.dpdk_bridge.udp import SocketUdp
from gatebook.host.clock import ManualClock
from gatebook.host.net.exchange_server import Acknowledgements, Exchange
from gatebook.host.net.order_entry_api import OrderEntry
from gatebook.host.ouch import OUCH_LOG, OuchEntry
from gatebook.host.ouch.framing import OUTBOUND_CODEC, decode_datagram, encode_datagram
from gatebook.host.ouch.inject import script_datagrams
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.host.wal import JournaledExchange, UnknownOrigin, recover
from gatebook.wire import ouch
from gatebook.wire.enums import OrderEntryProtocol

from ouch_login import accounts, as_session, login
from text_order_entry import TEXT_LOG, TEXT_PROTOCOL, TextEntry, TextState
from waiting import wait_for

OUCH = OrderEntryProtocol.OUCH
CODECS = {int(OUCH): OUCH_LOG, TEXT_PROTOCOL: TEXT_LOG}
TRADER = 7                          # the OUCH user
TEXTER = 8                          # the text protocol's user
_BY_CODE = ouch.OUTBOUND.by_code()


class Life:
    """One life of the exchange: a journal on `directory`, OUCH and text entries on the ports."""

    def __init__(self, directory, ouch_port, text_port, snapshot_every=4):
        self.acks = Acknowledgements()
        self.journal = JournaledExchange(directory, DEFAULT_SYMBOLS, clock=ManualClock(1, 1),
                                         on_ack=self.acks, snapshot_every=snapshot_every,
                                         origin_codecs=CODECS)
        self.acks(self.journal.acked_seq)
        self.ouch = OuchEntry(ouch_port, accounts((TRADER,)),
                              session_options=dict(check_in_thread=False))
        self.text = TextEntry(text_port)
        assert isinstance(self.ouch, OrderEntry) and isinstance(self.text, OrderEntry)
        self.exchange = Exchange(ouch_port, DEFAULT_SYMBOLS, ManualClock(1, 1),
                                 journal=self.journal, acks=self.acks,
                                 order_entry=(self.ouch, self.text))

    def close(self):
        self.exchange.close(end_of_day=False)
        self.journal.close()


class Client:
    """A socket of one protocol, keeping everything it received."""

    def __init__(self, server):
        self.sock, self.server, self.got = SocketUdp(), server, []

    def take(self):
        self.got += [payload for payload, _ in self.sock.recv(64)]
        return self.got


def _ouch_messages(payloads):
    return [(_BY_CODE[record[0]].name, record) for payload in payloads
            for record in decode_datagram(payload, OUTBOUND_CODEC)[2]]


def _ouch_send(client, session, number, line):
    payload = as_session(script_datagrams(f"{TRADER} {line}")[0][1], session)
    client.sock.send([(payload[:4] + number.to_bytes(8, "big") + payload[12:], client.server)])


def _until(life, condition, what):
    def poll():
        life.exchange.poll()
        life.exchange.release()             # what the journal acknowledged since (as `run` does)
        return condition()
    return wait_for(poll, what, poll=0.001)


def _text_lines(client):
    return [payload.decode() for payload in client.take()]


@pytest.fixture
def ports():
    """(OUCH's port, the text protocol's port, a client of each): real sockets, closed after."""
    with SocketUdp() as ouch_port, SocketUdp() as text_port:
        trader, texter = Client(ouch_port.address), Client(text_port.address)
        try:
            yield ouch_port, text_port, trader, texter
        finally:
            trader.sock.close()
            texter.sock.close()


def test_two_protocols_share_order_ids_keep_their_replies_and_survive_a_restart(tmp_path,
                                                                               ports, capsys):
    directory = str(tmp_path)
    ouch_port, text_port, trader, texter = ports
    life = Life(directory, ouch_port, text_port)
    session = login(trader.sock, ouch_port.address, TRADER, pump=life.exchange.poll).session
    # The text user's buy rests; OUCH's sell takes it: a trade across the two protocols.
    texter.sock.send([(f"NEW {TEXTER} buy-1 GATE BUY 100 1000000".encode(), texter.server)])
    _until(life, lambda: "ACK buy-1 1" in _text_lines(texter), "the text order's ACK")
    _ouch_send(trader, session, 1, "enter_order order_token=1 stock=GATE side=SELL shares=100 "
                                   "price=100.00")
    _until(life, lambda: len(_ouch_messages(trader.take())) >= 2, "OUCH's accepted and executed")
    _until(life, lambda: "FILL buy-1 100 1000000 0" in _text_lines(texter), "the text fill")
    # Two more resting orders, one each.
    texter.sock.send([(f"NEW {TEXTER} buy-2 GATE BUY 50 990000".encode(), texter.server)])
    _until(life, lambda: any(line.startswith("ACK buy-2 ") for line in _text_lines(texter)),
           "buy-2's ACK")
    _ouch_send(trader, session, 2, "enter_order order_token=2 stock=GATE side=SELL shares=70 "
                                   "price=101.00")
    _until(life, lambda: len(_ouch_messages(trader.take())) >= 3, "token 2's accepted")
    # One allocator: the text orders and the OUCH orders never share an id.
    text_ids = {int(line.split()[2]) for line in _text_lines(texter) if line.startswith("ACK")}
    ouch_ids = {record[-1] for name, record in _ouch_messages(trader.take())
                if name == "accepted"}                      # order_ref: the exchange's id
    assert text_ids == {1, 3} and ouch_ids == {2, 4}
    # Each client got only its own protocol's replies, about its own orders.
    assert _text_lines(texter) == ["ACK buy-1 1", "FILL buy-1 100 1000000 0", "ACK buy-2 3"]
    assert [(name, record[2]) for name, record in _ouch_messages(trader.take())] == [
        ("accepted", 1), ("executed", 1), ("accepted", 2)]         # (message, order_token)
    life.close()

    # The restart: both protocols' client ids come back from the log (a snapshot and its tail).
    life = Life(directory, ouch_port, text_port)
    assert life.journal.recovery.snapshot, "a snapshot with both protocols' states was used"
    assert life.journal.states[TEXT_PROTOCOL].order_ids == {(TEXTER, "buy-2"): 3}
    assert life.journal.states[OUCH].order_ids == {(TRADER, 2): 4}
    texter.got.clear()
    texter.sock.send([(f"CANCEL {TEXTER} buy-2".encode(), texter.server),
                      (f"NEW {TEXTER} buy-3 GATE BUY 10 980000".encode(), texter.server)])
    _until(life, lambda: len(_text_lines(texter)) >= 2, "the cancel and the new order")
    assert _text_lines(texter) == ["CANCELED buy-2 50", "ACK buy-3 5"]     # no id reused
    session = login(trader.sock, ouch_port.address, TRADER, pump=life.exchange.poll).session
    trader.got.clear()
    trader.sock.send([(encode_datagram(session, 3, [(ouch.CANCEL_ORDER.code, 2)]),
                       trader.server)])
    _until(life, lambda: _ouch_messages(trader.take()), "token 2's cancel")
    assert [name for name, _ in _ouch_messages(trader.take())] == ["canceled"]
    assert _text_lines(texter) == ["CANCELED buy-2 50", "ACK buy-3 5"]     # nothing of OUCH's
    life.close()

    # `gatebook log dump` shows OUCH's origins by field and the text protocol's, whose
    # codec it does not know, as bytes.
    from gatebook.cli import main
    assert main(["log", "dump", "--dir", directory]) == 0
    dump = capsys.readouterr().out
    assert "input_origin message=O session=7 number=1 token=1 " in dump
    text_origin = f"{TEXTER} buy-1 127.0.0.1:{texter.sock.address[1]}".encode().hex()
    assert f"origin protocol=200 bytes={text_origin}" in dump

    # Recovered from disk alone, both states are what the live entries held.
    engine, report = recover(directory, origin_codecs=CODECS)
    assert report.states[TEXT_PROTOCOL] == TextState({(TEXTER, "buy-3"): 5},
                                                     {TEXTER: texter.sock.address})
    assert report.states[OUCH].order_ids == {}
    assert any(line.startswith("order entry protocol 200: 1 client order ids")
               for line in report.lines())


@pytest.mark.parametrize("where, snapshot_every", [("the command of seq 1", 0),
                                                   ("the state in snapshot-", 1)])
def test_an_origin_of_a_protocol_without_a_codec_is_refused_by_name(tmp_path, ports, where,
                                                                    snapshot_every):
    directory = str(tmp_path)
    ouch_port, text_port, _, texter = ports
    life = Life(directory, ouch_port, text_port, snapshot_every=snapshot_every)
    texter.sock.send([(f"NEW {TEXTER} x GATE BUY 100 1000000".encode(), texter.server)])
    _until(life, lambda: _text_lines(texter), "the text order's ACK")
    life.close()
    with pytest.raises(UnknownOrigin, match=r"protocol 200 \(id 200\), which no registered "
                                            r"log-origin codec reads") as refused:
        recover(directory, origin_codecs={int(OUCH): OUCH_LOG})
    assert refused.value.protocol == TEXT_PROTOCOL and str(refused.value).startswith(where)
    # The refusal changed nothing: with the codec, the same log recovers.
    _, report = recover(directory, origin_codecs=CODECS)
    assert report.states[TEXT_PROTOCOL].order_ids == {(TEXTER, "x"): 1}


def test_an_exchange_takes_order_entries_only(ports):
    ouch_port = ports[0]
    with pytest.raises(TypeError, match="is not an OrderEntry"):
        Exchange(ouch_port, DEFAULT_SYMBOLS, ManualClock(1, 1), order_entry=[ouch_port])
    with pytest.raises(ValueError, match="needs an order entry"):
        Exchange(ouch_port, DEFAULT_SYMBOLS, ManualClock(1, 1))
    twice = [OuchEntry(ouch_port, accounts((TRADER,))), OuchEntry(ouch_port, accounts((TRADER,)))]
    with pytest.raises(ValueError, match="one state per protocol"):
        Exchange(ouch_port, DEFAULT_SYMBOLS, ManualClock(1, 1), order_entry=twice)


class FaultyOriginEntry(TextEntry):
    """The text protocol with a fault: it cannot give the origin of a client id `poison`."""

    def origin(self, command):
        found = super().origin(command)
        if found is not None and b"poison" in found[1]:
            raise KeyError("poison")
        return found


def test_an_entry_that_cannot_give_an_origin_costs_one_command_not_the_log(tmp_path, ports):
    """The command is refused and its number goes to the next one: the log stays gapless."""
    directory = str(tmp_path)
    _, text_port, _, texter = ports
    acks = Acknowledgements()
    journal = JournaledExchange(directory, DEFAULT_SYMBOLS, clock=ManualClock(1, 1),
                                on_ack=acks, snapshot_every=0, origin_codecs=CODECS)
    entry = FaultyOriginEntry(text_port)
    exchange = Exchange(text_port, DEFAULT_SYMBOLS, ManualClock(1, 1), journal=journal,
                        acks=acks, order_entry=entry)
    life = type("Life", (), {"exchange": exchange})()
    for clordid in ("good-1", "poison", "good-2"):
        texter.sock.send([(f"NEW {TEXTER} {clordid} GATE BUY 100 1000000".encode(),
                           texter.server)])
    # The refused command's order id stays used (ids need not be dense; seqs must).
    _until(life, lambda: "ACK good-2 3" in _text_lines(texter), "good-2's ACK")
    assert entry.bad["unloggable"] == 1
    exchange.close(end_of_day=False)
    journal.close()
    engine, report = recover(directory, origin_codecs=CODECS)
    assert report.last_seq == 2 and report.origins == 2          # seq 1 and 2, no hole
    assert report.states[TEXT_PROTOCOL].order_ids == {(TEXTER, "good-1"): 1,
                                                      (TEXTER, "good-2"): 3}
