"""tshark with the shipped dissectors decodes `gatebook run`'s own feed as it is sent.

`gatebook run` sends market data from its order-entry socket, so every
MoldUDP64 packet leaves from port 15000, the port the order-entry dissector
is registered on; Wireshark offers a UDP datagram to the lower port's
dissector first. Re-request answers come from the re-request server's port,
which no table names. The capture here is of the real server on loopback,
taken by dumpcap with a capture filter, then decoded with `gatebook
dissectors`' Lua.
"""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from gatebook.dpdk_bridge.udp import SocketUdp
from gatebook.wire import itch50, mold
from gatebook.wire.codec import ProtocolCodec
from gatebook.host.marketdata.request_server import request_packet
from gatebook.host.net.defaults import OUCH_PORT
from gatebook.host.ouch.inject import script_datagrams
from gatebook.host.net.lua_dissectors import write

from ouch_login import as_session, login, write_accounts

pytestmark = pytest.mark.skipif(
    shutil.which("tshark") is None or shutil.which("dumpcap") is None,
    reason="tshark and dumpcap are not installed (Debian: apt-get install tshark)")

SCRIPT = """
7 enter_order order_token=1 stock=GATE side=BUY shares=100 price=100.00
8 enter_order order_token=1 stock=GATE side=SELL shares=40 price=100.00
"""


def _start_capture(path, md_port, request_port):
    """dumpcap on loopback, order entry, the feed and re-requests only; returns once it
    captures."""
    capture = subprocess.Popen(
        ["dumpcap", "-q", "-i", "lo", "-f", f"udp port {OUCH_PORT} or udp port {md_port} "
         f"or udp port {request_port}", "-w", str(path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not (os.path.exists(path) and os.path.getsize(path) > 0):
        assert capture.poll() is None, capture.stderr.read()
        assert time.monotonic() < deadline, "dumpcap did not start capturing"
        time.sleep(0.05)
    time.sleep(0.3)                 # the file header is written before the filter is live
    return capture


def _run_server(accounts, md_port, request_port):
    server = subprocess.Popen(
        [sys.executable, "-m", "gatebook.cli", "run", "--listen", f"127.0.0.1:{OUCH_PORT}",
         "--md", f"127.0.0.1:{md_port}", "--md-request", f"127.0.0.1:{request_port}",
         "--seconds", "30", "--accounts", accounts],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = server.stdout.readline()
    if not first.startswith("run: backend socket"):
        server.kill()
        out, err = server.communicate()
        pytest.fail(f"gatebook run did not start on port {OUCH_PORT}: {first}{out}{err}")
    return server


def _tshark(pcap, lua, *args):
    done = subprocess.run(["tshark", "-n", "-r", str(pcap), "-X", f"lua_script:{lua}", *args],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "Lua: Error" not in done.stderr, done.stderr
    return done.stdout


def _receive(sock, until, seconds=10):
    """(payload, source) pairs `sock` receives until `until(got)` or `seconds` pass."""
    got, deadline = [], time.monotonic() + seconds
    while not until(got) and time.monotonic() < deadline:
        got += sock.recv(64)
        time.sleep(0.01)
    return got


def _drain(sock, quiet=0.1):
    """(payload, source) pairs `sock` holds, read until `quiet` seconds bring nothing."""
    got, last = [], time.monotonic()
    while time.monotonic() - last < quiet:
        more = sock.recv(64)
        if more:
            got += more
            last = time.monotonic()
        time.sleep(0.01)
    return got


def test_tshark_decodes_the_feed_gatebook_run_sends_and_its_re_requests(tmp_path):
    lua = write(str(tmp_path / "gatebook.lua"))
    accounts = write_accounts(tmp_path / "accounts.json", (7, 8))
    pcap = tmp_path / "run.pcapng"
    with SocketUdp("127.0.0.1", 0) as subscriber, SocketUdp() as client, \
            SocketUdp() as probe:
        md_port, request_port = subscriber.address[1], probe.address[1]
        probe.close()                   # a free port, for the re-request server
        capture = _start_capture(pcap, md_port, request_port)
        try:
            server = _run_server(accounts, md_port, request_port)
            try:
                address = ("127.0.0.1", OUCH_PORT)
                sessions = {user: login(client, address, user).session for user in (7, 8)}
                for user, payload in script_datagrams(SCRIPT):
                    client.send([(as_session(payload, sessions[user]), address)])
                feed = _receive(subscriber, lambda got: any(
                    itch50.ORDER_EXECUTED.code in (m[0] for m in mold.parse(p).messages)
                    for p, _ in got))
                subscriber.send([(request_packet("GATEBOOK01", 1, 5),
                                  ("127.0.0.1", request_port))])
                answers = _receive(subscriber, lambda got: any(
                    source[1] == request_port for _, source in got))
                server.send_signal(signal.SIGTERM)      # the end of day and of session leave
                out, err = server.communicate(timeout=30)
                # The server has exited: what it sent is in the socket already (loopback
                # delivers on send), so read until a short quiet spell, not for a second.
                answers += _drain(subscriber)
            finally:
                if server.poll() is None:
                    server.kill()
                    server.communicate()
            assert server.returncode == 0, err
            time.sleep(0.3)                     # the last packets reach the capture
        finally:
            capture.send_signal(signal.SIGINT)
            capture.communicate(timeout=20)
    sent = [payload for payload, source in feed + answers if source[1] == OUCH_PORT]
    again = [payload for payload, source in answers if source[1] == request_port]
    itch = ProtocolCodec(itch50.ITCH50)
    received = [itch.decode(message) for packet in sent for message in mold.parse(packet).messages]
    assert any(record[0] == itch50.ADD_ORDER.code for record in received) and again

    from_feed = f"udp.srcport == {OUCH_PORT} && udp.dstport == {md_port}"
    rows = _tshark(pcap, lua, "-Y", from_feed, "-T", "fields", "-E", "separator=|",
                   "-e", "_ws.col.Protocol", "-e", "gb_moldudp64.sequence_number",
                   "-e", "gb_itch50.type").splitlines()
    assert len(rows) == len(sent), rows
    assert all(row.split("|")[0] == "MoldUDP64/ITCH50" for row in rows), rows
    assert [int(row.split("|")[1]) for row in rows] == \
        [mold.parse(packet).sequence_number for packet in sent]
    decoded = [int(code, 16) for row in rows for code in row.split("|")[2].split(",") if code]
    assert decoded == [record[0] for record in received]
    # The request, and the five messages it got again, from the re-request server's port.
    request = _tshark(pcap, lua, "-Y", f"udp.dstport == {request_port}", "-T", "fields",
                      "-E", "separator=|", "-e", "_ws.col.Protocol", "-e", "gb_moldreq.session",
                      "-e", "gb_moldreq.sequence_number",
                      "-e", "gb_moldreq.requested_message_count").splitlines()
    assert request == ["MoldUDP64 request|GATEBOOK01|1|5"]
    answer = _tshark(pcap, lua, "-Y", f"udp.srcport == {request_port}", "-T", "fields",
                     "-E", "separator=|", "-e", "_ws.col.Protocol",
                     "-e", "gb_moldudp64.sequence_number", "-e", "gb_itch50.type").splitlines()
    assert [row.split("|")[:2] for row in answer] == [["MoldUDP64/ITCH50", "1"]]
    assert [int(code, 16) for code in answer[0].split("|")[2].split(",")] == \
        [record[0] for record in received[:5]]
    summary = _tshark(pcap, lua)
    assert "MALFORMED" not in summary and "Malformed" not in summary, summary
    # Order entry on the same port still decodes as order entry, both ways.
    protocols = _tshark(pcap, lua, "-Y", f"udp.port == {OUCH_PORT} && !({from_feed})",
                        "-T", "fields", "-e", "_ws.col.Protocol").split()
    assert protocols and set(protocols) == {"GB-OUCH"}, protocols
