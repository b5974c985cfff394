"""`gatebook inject`: scripts, random flows and bad datagrams, to a pcap, a
UDP socket and a DPDK port; the pcap replayed through DPDK into the engine."""

import pytest
from scapy.utils import rdpcap

from gatebook.dpdk_bridge import dpdk_available
from gatebook.dpdk_bridge.udp import SocketUdp
from gatebook.cli import main
from gatebook.wire import internal
from gatebook.host.net import scapy_layers as layers
from gatebook.host.clock import ManualClock
from gatebook.host.engine import MatchingEngine
from gatebook.host.ouch.inject import ScriptError, script_datagrams
from gatebook.host.ouch.gateway import Gateway
from gatebook.host.ouch.framing import decode_datagram
from gatebook.host.sequencer import Sequencer
from gatebook.host.symbols import DEFAULT_SYMBOLS

_available, _why = dpdk_available()

SCRIPT = """
# session 7 buys, session 8 sells into it
7 enter_order order_token=1 stock=GATE side=BUY shares=100 price=100.25
8 enter_order order_token=5 stock=GATE side=SELL time_in_force=IOC shares=40 price=100.25
7 replace_order existing_order_token=1 replacement_order_token=2 shares=30 price=100.25
7 cancel_order order_token=2
"""


def test_script_lines_become_numbered_datagrams():
    datagrams = script_datagrams(SCRIPT)
    decoded = [decode_datagram(payload) for _, payload in datagrams]
    assert [(s, q) for s, q, _ in decoded] == [(7, 1), (8, 1), (7, 2), (7, 3)]
    assert decoded[0][2] == [(ord("O"), 1, "GATE", 0, 0, 0, 100, 1_002_500, 0)]
    assert decoded[1][2][0][5] == 2                                      # IOC
    gateway, engine = Gateway(Sequencer(ManualClock()), DEFAULT_SYMBOLS), MatchingEngine(DEFAULT_SYMBOLS)
    events = [e for _, p in datagrams for c in gateway.datagram(p) for e in engine.apply(c)]
    kinds = [internal.EVENTS.by_code()[e[0]].name for e in events]
    assert kinds.count("executed") == 1 and "replaced" in kinds and kinds[-2:] == ["cancelled", "level"]


@pytest.mark.parametrize("line, complaint", [
    ("7 enter_ordr", "expected SESSION MESSAGE"),
    ("x enter_order", "expected SESSION MESSAGE"),
    ("7 enter_order colour=red", "has no field 'colour'"),
    ("7 enter_order side=UP", "not one of BUY, SELL"),
    ("7 enter_order shares=lots", "line 1"),
])
def test_script_errors_name_the_line_and_the_problem(line, complaint):
    with pytest.raises(ScriptError, match=complaint):
        script_datagrams(line)


def test_cli_writes_a_pcap_that_scapy_and_the_gateway_read(tmp_path, capsys):
    (tmp_path / "flow.txt").write_text(SCRIPT)
    assert main(["inject", "--script", str(tmp_path / "flow.txt"), "--pcap", str(tmp_path / "s.pcap")]) == 0
    assert "backend: pcap file" in capsys.readouterr().out
    frames = rdpcap(str(tmp_path / "s.pcap"))
    assert len(frames) == 4 and frames[2][layers.ReplaceOrder].replacement_order_token == 2
    assert main(["inject", "--script", str(tmp_path / "missing.txt"), "--pcap", "x"]) == 2
    (tmp_path / "bad.txt").write_text("7 launch_rocket\n")
    assert main(["inject", "--script", str(tmp_path / "bad.txt"), "--pcap", str(tmp_path / "b.pcap")]) == 2


def test_cli_sends_to_a_udp_socket_on_loopback(capsys):
    with SocketUdp() as server:      # a 4 MiB receive buffer holds the whole flow
        assert main(["inject", "--orders", "300", "--udp", f"127.0.0.1:{server.address[1]}"]) == 0
        got = server.recv(1000)
    assert "backend: kernel UDP socket" in capsys.readouterr().out
    gateway = Gateway(Sequencer(ManualClock()), DEFAULT_SYMBOLS)
    commands = [c for payload, _ in got for c in gateway.datagram(payload)]
    assert len(commands) == 300 and not gateway.bad


@pytest.mark.skipif(not _available, reason=f"DPDK unavailable: {_why}")
def test_dpdk_port_and_pcap_file_carry_the_same_frames(tmp_path):
    assert main(["inject", "--orders", "400", "--bad", "40", "--pcap", str(tmp_path / "a.pcap")]) == 0
    assert main(["inject", "--orders", "400", "--bad", "40", "--dpdk",
                 f"net_pcap77,tx_pcap={tmp_path / 'b.pcap'}"]) == 0
    assert [bytes(p) for p in rdpcap(str(tmp_path / "a.pcap"))] == \
        [bytes(p) for p in rdpcap(str(tmp_path / "b.pcap"))]


@pytest.mark.skipif(not _available, reason=f"DPDK unavailable: {_why}")
def test_pcap_replayed_through_dpdk_into_the_engine(tmp_path):
    from gatebook.dpdk_bridge.eal import Eal
    from gatebook.dpdk_bridge.udp import DpdkUdp
    assert main(["inject", "--orders", "2000", "--bad", "50", "--seed", "4",
                 "--pcap", str(tmp_path / "in.pcap")]) == 0
    udp = DpdkUdp(Eal.start().attach(f"net_pcap78,rx_pcap={tmp_path / 'in.pcap'}"),
                  "127.0.0.1", 15000, burst=256)
    gateway, engine = Gateway(Sequencer(ManualClock()), DEFAULT_SYMBOLS), MatchingEngine(DEFAULT_SYMBOLS)
    replies = 0
    try:
        for _ in range(100):
            for payload, peer in udp.recv(256):
                for command in gateway.datagram(payload, peer):
                    replies += bool(engine.apply(command))
    finally:
        udp.close()
    entry = sum(1 for p in rdpcap(str(tmp_path / "in.pcap"))) - 50
    assert gateway.messages == replies and replies >= entry      # every order answered
    assert 40 <= sum(gateway.bad.values()) <= 50                 # a fuzzed one may decode


def test_cli_logs_in_sends_under_its_session_and_logs_out(tmp_path, capsys):
    import threading

    from gatebook.host.ouch import ouch_exchange
    from ouch_login import accounts

    (tmp_path / "pw").write_text("pw7\n")
    with SocketUdp() as server:
        exchange = ouch_exchange(server, DEFAULT_SYMBOLS, ManualClock(1, 1000),
                                 accounts=accounts((7,)))
        runner = threading.Thread(target=exchange.run, kwargs=dict(seconds=3))
        runner.start()
        try:
            status = main(["inject", "--orders", "50", "--udp",
                           f"127.0.0.1:{server.address[1]}", "--user", "user7",
                           "--password-file", str(tmp_path / "pw")])
            wrong = tmp_path / "wrong"
            wrong.write_text("nope\n")
            refused = main(["inject", "--orders", "5", "--udp",
                            f"127.0.0.1:{server.address[1]}", "--user", "user7",
                            "--password-file", str(wrong)])
        finally:
            runner.join()
            exchange.close()
    out, err = capsys.readouterr()
    assert status == 0 and "logged in as user7 (user id 7)" in out
    assert refused == 1 and "rejected: user name or password is not right" in err
    assert exchange.entry.gateway.messages == 50 and not exchange.entry.sessions.sessions
    assert set(exchange.entry.gateway.tracker.expected) == {7}
    assert main(["inject", "--orders", "5", "--pcap", str(tmp_path / "x.pcap"),
                 "--user", "user7"]) == 2
