"""tshark with the shipped dissectors decodes `gatebook run`'s own feed as it is sent.

`gatebook run` sends market data from its order-entry socket, so every
MoldUDP64 packet leaves from port 15000, the port the order-entry dissector
is registered on; Wireshark offers a UDP datagram to the lower port's
dissector first. The capture here is of the real server on loopback, taken by
dumpcap with a capture filter, then decoded with `gatebook dissectors`' Lua.
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


def _start_capture(path, md_port):
    """dumpcap on loopback, order entry and the feed only; returns once it captures."""
    capture = subprocess.Popen(
        ["dumpcap", "-q", "-i", "lo", "-f", f"udp port {OUCH_PORT} or udp port {md_port}",
         "-w", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not (os.path.exists(path) and os.path.getsize(path) > 0):
        assert capture.poll() is None, capture.stderr.read()
        assert time.monotonic() < deadline, "dumpcap did not start capturing"
        time.sleep(0.05)
    time.sleep(0.3)                 # the file header is written before the filter is live
    return capture


def _run_server(accounts, md_port):
    server = subprocess.Popen(
        [sys.executable, "-m", "gatebook.cli", "run", "--listen", f"127.0.0.1:{OUCH_PORT}",
         "--md", f"127.0.0.1:{md_port}", "--max-orders", "2", "--seconds", "30",
         "--accounts", accounts], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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


def test_tshark_decodes_the_feed_gatebook_run_sends_from_the_order_entry_port(tmp_path):
    lua = write(str(tmp_path / "gatebook.lua"))
    accounts = write_accounts(tmp_path / "accounts.json", (7, 8))
    pcap = tmp_path / "run.pcapng"
    with SocketUdp("127.0.0.1", 0) as subscriber, SocketUdp() as client:
        md_port = subscriber.address[1]
        capture = _start_capture(pcap, md_port)
        try:
            server = _run_server(accounts, md_port)
            try:
                address = ("127.0.0.1", OUCH_PORT)
                sessions = {user: login(client, address, user).session for user in (7, 8)}
                for user, payload in script_datagrams(SCRIPT):
                    client.send([(as_session(payload, sessions[user]), address)])
                out, err = server.communicate(timeout=30)
            finally:
                if server.poll() is None:
                    server.kill()
                    server.communicate()
            assert server.returncode == 0, err
            time.sleep(0.3)                     # the last packets reach the capture
        finally:
            capture.send_signal(signal.SIGINT)
            capture.communicate(timeout=20)
        sent = []
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            sent += [payload for payload, _ in subscriber.recv(64)]
    itch = ProtocolCodec(itch50.ITCH50)
    received = [itch.decode(message) for packet in sent for message in mold.parse(packet).messages]
    assert any(record[0] == itch50.ADD_ORDER.code for record in received)

    feed = f"udp.srcport == {OUCH_PORT} && udp.dstport == {md_port}"
    rows = _tshark(pcap, lua, "-Y", feed, "-T", "fields", "-E", "separator=|",
                   "-e", "_ws.col.Protocol", "-e", "gb_moldudp64.sequence_number",
                   "-e", "gb_itch50.type").splitlines()
    assert len(rows) == len(sent), rows
    assert all(row.split("|")[0] == "MoldUDP64/ITCH50" for row in rows), rows
    assert [int(row.split("|")[1]) for row in rows] == \
        [mold.parse(packet).sequence_number for packet in sent]
    decoded = [int(code, 16) for row in rows for code in row.split("|")[2].split(",") if code]
    assert decoded == [record[0] for record in received]
    summary = _tshark(pcap, lua)
    assert "MALFORMED" not in summary and "Malformed" not in summary, summary
    # Order entry on the same port still decodes as order entry, both ways.
    protocols = _tshark(pcap, lua, "-Y", f"udp.port == {OUCH_PORT} && !({feed})",
                        "-T", "fields", "-e", "_ws.col.Protocol").split()
    assert protocols and set(protocols) == {"GB-OUCH"}, protocols
