"""FIX 4.4 order entry against QuickFIX: a real initiator (tests/fix_peer/) over real TCP.

One exchange polls OUCH (a UDP socket) and FIX (a TCP acceptor) side by side on its own
thread; the QuickFIX C++ initiator logs on with an account's Username/Password and sends
orders of every type, cancels, replaces and a mass cancel; an OUCH client trades against
it, so fills arrive on both sides. What the peer printed is checked field by field.
"""

import time

import pytest

from gatebook.dpdk_bridge.udp import SocketUdp
from gatebook.host.clock import WallClock
from gatebook.host.fix import FixEntry
from gatebook.host.net.exchange_server import Exchange
from gatebook.host.ouch import OuchEntry
from gatebook.host.ouch.inject import script_datagrams
from gatebook.host.symbols import DEFAULT_SYMBOLS

from fix_peer.driver import ExchangeThread, QuickFixPeer
from ouch_login import accounts, as_session, login

FIXER, OUCHER = 7, 8                # user ids: the QuickFIX client's, the OUCH client's


class Venue:
    """OUCH and FIX on one exchange, polled on a thread; an OUCH client logged in."""

    def __init__(self, fix_options=None):
        self.ouch_port = SocketUdp()
        users = accounts((FIXER, OUCHER))
        self.fix = FixEntry(("127.0.0.1", 0), users, check_in_thread=False,
                            **(fix_options or {}))
        self.ouch = OuchEntry(self.ouch_port, users, session_options=dict(check_in_thread=False))
        self.exchange = Exchange(self.ouch_port, DEFAULT_SYMBOLS, WallClock(),
                                 order_entry=(self.ouch, self.fix))
        self.loop = ExchangeThread(self.exchange)
        self.client = SocketUdp()
        self.session = login(self.client, self.ouch_port.address, OUCHER).session
        self.number = 0

    def ouch_order(self, token, side, shares, price):
        self.number += 1
        payload = as_session(script_datagrams(
            f"{OUCHER} enter_order order_token={token} stock=GATE side={side} "
            f"shares={shares} price={price}")[0][1], self.session)
        self.client.send([(payload[:4] + self.number.to_bytes(8, "big") + payload[12:],
                           self.ouch_port.address)])

    def close(self):
        try:
            self.loop.stop()
        finally:
            self.exchange.close()
            self.client.close()
            self.ouch_port.close()


@pytest.fixture
def venue():
    made = Venue()
    yield made
    made.close()


@pytest.fixture
def peer_of(venue, tmp_path):
    peers = []

    def start(user=FIXER, password=None):
        peer = QuickFixPeer(venue.fix.address, f"CLIENT{user}", f"user{user}",
                            password or f"pw{user}", tmp_path / f"log{len(peers)}")
        peers.append(peer)
        return peer
    yield start
    for peer in peers:
        peer.close()


def _last(peer, clordid, exec_type, what):
    return peer.wait_report(lambda f: f[35] == "8" and f.get(11) == clordid
                            and f[150] == exec_type, what)


def test_logon_orders_of_every_type_fills_cancel_replace_and_mass_cancel(venue, peer_of):
    peer = peer_of()
    peer.wait_line(lambda line: line == "LOGON", "the logon")
    logon = [line for line in peer.lines if line.startswith("ADMIN") and "|35=A|" in line]
    assert "|98=0|" in logon[0] and "|108=30|" in logon[0] and "|49=GATEBOOK|" in logon[0]

    # A day limit order rests; an OUCH sell fills 6 of it: the resting side's report.
    peer.command("new L1 GATE 1 10 2 99.00 - 0")
    new = _last(peer, "L1", "0", "L1's New")
    assert (new[39], new[38], new[44], new[59], new[151], new[14]) == ("0", "10", "99", "0",
                                                                      "10", "0")
    venue.ouch_order(1, "SELL", 6, "99.00")
    fill = _last(peer, "L1", "F", "L1's partial fill")
    assert (fill[39], fill[32], fill[31], fill[14], fill[151], fill[6]) == (
        "1", "6", "99", "6", "4", "99")

    # Replace to OrderQty 10, the total: 4 stay open, and a later sell of 10 fills 4 only.
    peer.command("replace R1 L1 GATE 1 10 2 99.00")
    replaced = _last(peer, "R1", "5", "R1's Replaced")
    assert (replaced[41], replaced[38], replaced[14], replaced[151], replaced[39]) == (
        "L1", "10", "6", "4", "1")
    venue.ouch_order(2, "SELL", 10, "99.00")
    filled = peer.wait_report(lambda f: f.get(11) == "R1" and f[150] == "F", "R1's fill")
    assert (filled[32], filled[14], filled[151], filled[39]) == ("4", "10", "0", "2")

    # A market IOC buy takes 2 of the OUCH order's 6 left: the aggressor side's report.
    peer.command("new M1 GATE 1 2 1 - - 3")
    market = _last(peer, "M1", "F", "M1's fill")
    assert (market[39], market[40], market[59], market[31], market[6]) == ("2", "1", "3",
                                                                          "99", "99")
    # FOK for more than the book holds: killed whole.
    peer.command("new F1 GATE 1 100 2 99.00 - 4")
    killed = _last(peer, "F1", "4", "F1's kill")
    assert (killed[14], killed[151], killed[39]) == ("0", "0", "4")

    # GTC, stop and stop-limit orders rest; one is cancelled, the rest mass-cancelled.
    peer.command("new G1 GATE 2 5 2 150.00 - 1")
    assert _last(peer, "G1", "0", "G1's New")[59] == "1"
    peer.command("new S1 GATE 1 3 3 - 120.00 0")
    assert _last(peer, "S1", "0", "S1's New")[99] == "120"
    peer.command("new SL1 GATE 1 3 4 121.00 120.00 0")
    stop_limit = _last(peer, "SL1", "0", "SL1's New")
    assert (stop_limit[40], stop_limit[44], stop_limit[99]) == ("4", "121", "120")
    peer.command("cancel C1 G1 GATE 2")
    cancelled = _last(peer, "C1", "4", "G1's cancel")
    assert (cancelled[41], cancelled[39], cancelled[151]) == ("G1", "4", "0")
    peer.command("mass MC1 7 -")
    report = peer.wait_report(lambda f: f[35] == "r", "the mass cancel report")
    assert (report[11], report[531], report[533]) == ("MC1", "7", "2")
    assert _last(peer, "S1", "4", "S1 cancelled") and _last(peer, "SL1", "4", "SL1 cancelled")

    # Refusals with a reason: off the tick (the engine's), finer than the price unit
    # (ours), a cancel of nothing.
    peer.command("new X1 GATE 1 1 2 99.05 - 0")
    assert _last(peer, "X1", "0", "X1's New (on the tick)")[44] == "99.05"
    peer.command("new X2 GATE 1 1 2 99.001 - 0")
    assert "tick size" in _last(peer, "X2", "8", "X2's reject")[58]
    peer.command("new X3 GATE 1 1 2 99.00001 - 0")
    assert "finer than the price unit" in _last(peer, "X3", "8", "X3's reject")[58]
    peer.command("cancel C2 NOPE GATE 1")
    reject = peer.wait_report(lambda f: f[35] == "9" and f[11] == "C2", "the cancel reject")
    assert (reject[41], reject[434], reject[102]) == ("NOPE", "1", "1")
    assert "no live order" in reject[58]

    # Every number arrived once and in order: neither side asked for a resend.
    assert not [line for line in peer.lines if "|35=2|" in line]
    assert not venue.exchange.counts["fix_resend_requests"]
    assert venue.fix.bad["off_tick"] == 1 and venue.fix.bad["unknown_order"] == 1


def test_a_replace_to_the_filled_quantity_leaves_the_order_filled(venue, peer_of):
    peer = peer_of()
    peer.wait_line(lambda line: line == "LOGON", "the logon")
    peer.command("new B1 GATE 1 10 2 98.00 - 0")
    _last(peer, "B1", "0", "B1's New")
    venue.ouch_order(1, "SELL", 6, "98.00")
    _last(peer, "B1", "F", "B1's fill")
    peer.command("replace B2 B1 GATE 1 6 2 98.00")
    done = _last(peer, "B2", "5", "B2's Replaced")
    assert (done[39], done[38], done[14], done[151]) == ("2", "6", "6", "0")
    venue.ouch_order(2, "SELL", 10, "98.00")
    time.sleep(0.3)
    assert [f[150] for f in peer.reports() if f.get(11) in ("B1", "B2")] == ["0", "F", "5"]


def test_a_dropped_connection_gets_what_it_missed_again_after_reconnecting(venue, peer_of):
    peer = peer_of()
    peer.wait_line(lambda line: line == "LOGON", "the logon")
    peer.command("new D1 GATE 1 10 2 97.00 - 0")
    _last(peer, "D1", "0", "D1's New")
    peer.command("drop")
    peer.wait_line(lambda line: line == "LOGOUT", "the dropped session")
    venue.ouch_order(1, "SELL", 10, "97.00")       # fills D1 while nobody listens
    start = len(peer.lines)
    peer.wait_line(lambda line: line == "LOGON", "the logon again", start=start)
    resent = peer.wait_report(lambda f: f.get(11) == "D1" and f[150] == "F", "D1's fill")
    assert resent.get(43) == "Y" and 122 in resent          # sent again, PossDupFlag
    assert venue.exchange.counts["fix_resend_requests"] >= 1         # QuickFIX asked


def test_a_bad_logon_is_refused_with_a_reason_and_counted(venue, peer_of):
    peer = peer_of(password="wrong")
    line = peer.wait_line(lambda text: "|35=5|" in text, "the Logout")
    assert "Username or Password is not right" in line
    assert venue.fix.logons["wrong_password"] >= 1 and not venue.fix.by_user
