"""What a restart does with sessions, and the replies a crash kept from a client.

A journaled `Exchange` in this process over a list port. Its first life logs
two crossing orders but never sees an acknowledgement, so no report leaves;
it then stops as a SIGKILL would (the log synced, the held reports dropped).
The restarted exchange has no sessions; a client that logs in again asking
for its replies from number 1 gets exactly the reports an exchange that was
acknowledged would have sent, byte for byte.
"""

from gatebook.wire import ouch
from gatebook.wire.enums import MassCancelScope, OrderEntryProtocol
from gatebook.host.clock import ManualClock
from gatebook.host.net.exchange_server import Acknowledgements
from gatebook.host.ouch import ouch_exchange
from gatebook.host.ouch.framing import OUTBOUND_CODEC, decode_datagram, encode_datagram
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.host.wal import JournaledExchange
from gatebook.host.ouch.gateway_state import GatewayState

from ouch_login import ListPort, accounts, log_in_process, login_datagram, outbound
from test_ouch_sessions import _order

PEERS = {7: ("127.0.0.1", 20007), 8: ("127.0.0.1", 20008)}


def _life(directory, acknowledged):
    """A journaled exchange on `directory`; (journal, exchange, port)."""
    acks, port = Acknowledgements(), ListPort()
    journal = JournaledExchange(directory, DEFAULT_SYMBOLS, clock=ManualClock(1, 1),
                                on_ack=acks if acknowledged else None)
    acks(journal.acked_seq)
    exchange = ouch_exchange(port, DEFAULT_SYMBOLS, ManualClock(1, 1), journal=journal, acks=acks,
                             accounts=accounts(PEERS), session_options=dict(check_in_thread=False))
    return journal, exchange, port


def _trade(exchange, port):
    sessions = log_in_process(exchange, port, PEERS)
    port.inbox = [(_order(sessions[7], 1, token=1), PEERS[7]),
                  (_order(sessions[8], 1, token=5, side="SELL"), PEERS[8])]
    while port.inbox:
        exchange.poll()


def _to(port, user):
    return [payload for payload, peer in port.sent if peer == PEERS[user]]


def _messages(payloads):
    out = []
    for payload in payloads:
        _, first, records = decode_datagram(payload, OUTBOUND_CODEC)
        out += [(first + index, record) for index, record in enumerate(records)]
    return out


def test_a_restart_sends_the_replies_a_crash_kept_from_the_client(tmp_path, monkeypatch):
    monkeypatch.setattr(GatewayState, "keep_recent", 1000)     # as `gatebook run --log` does
    # The reference: the same orders with every acknowledgement, reports sent.
    journal, exchange, port = _life(str(tmp_path / "reference"), acknowledged=True)
    _trade(exchange, port)
    assert exchange.acks.wait(journal.sequencer.next_seq - 1, 5)     # durable: out they go
    exchange.release()
    wanted = _messages(_to(port, 7))
    journal.close()
    exchange.close(end_of_day=False)
    assert [record[0] for _, record in wanted] == [ord("A"), ord("E")]

    # First life: logged, never acknowledged, so nothing is reported; then it dies.
    directory = str(tmp_path / "log")
    journal, exchange, port = _life(directory, acknowledged=False)
    _trade(exchange, port)
    for _ in range(20):
        exchange.poll()
    assert _to(port, 7) == [] and journal.sequencer.next_seq == 3
    journal.close()                                     # the log is synced; the reports die

    # Second life: no session survived; the client logs in again and asks from 1.
    journal, exchange, port = _life(directory, acknowledged=True)
    assert not exchange.entry.sessions.sessions and not exchange.entry.gateway.peers
    port.inbox = [(login_datagram("user7", "pw7", 1), PEERS[7])]
    for _ in range(5):
        exchange.poll()
    answer, *replayed = _to(port, 7)
    kind, accepted = outbound(answer)[2][0]
    assert kind == "login_accepted" and accepted[3:] == (2, 3)    # next in 2, next reply 3
    assert _messages(replayed) == wanted                             # byte for byte, numbered
    journal.close()
    exchange.close(end_of_day=False)


def test_a_mass_cancel_is_logged_with_its_number_and_a_restart_goes_on_after_it(tmp_path):
    directory = str(tmp_path / "log")
    journal, exchange, port = _life(directory, acknowledged=True)
    sessions = log_in_process(exchange, port, PEERS)
    port.inbox = [(_order(sessions[7], 1, token=1), PEERS[7]),
                  (encode_datagram(sessions[7], 2, [(ouch.MASS_CANCEL.code, MassCancelScope.USER,
                                                     0, "")]), PEERS[7])]
    while port.inbox:
        exchange.poll()
    assert exchange.acks.wait(journal.sequencer.next_seq - 1, 5)
    assert not journal.engine.orders                    # the mass cancel took order 1
    journal.close()
    exchange.close(end_of_day=False)
    journal, exchange, port = _life(directory, acknowledged=True)
    # the mass cancel's number 2 is in the log
    assert journal.states[OrderEntryProtocol.OUCH].expected[7] == 3
    answer = log_in_process(exchange, port, {7: PEERS[7]})
    assert answer[7] in exchange.entry.sessions.sessions
    journal.close()
    exchange.close(end_of_day=False)

