"""The FIX session layer by hand: test requests, gaps, sequence resets, resends, timeouts.

Raw simplefix clients (tests/test_fix_hostile.py's RawFix) over loopback TCP against a
`FixEntry` polled on its own thread: each session rule of FIX 4.4 Volume 2 the acceptor
keeps, seen from the wire.
"""

from test_fix_hostile import served  # noqa: F401  (the fixture)
from waiting import wait_for

TIME = (60, "20260101-00:00:00")


def _order(clordid, price="50.00"):
    return [(11, clordid), (54, 1), TIME, (40, 2), (55, "GATE"), (38, 1), (44, price)]


def test_a_test_request_is_answered_with_its_id(served):
    fix, client = served
    one = client(7)
    assert one.logon().get(35) == b"A"
    one.send("1", [(112, "ping-1")])
    assert one.wait(lambda m: m.get(35) == b"0", "the Heartbeat").get(112) == b"ping-1"


def test_a_gap_asks_for_a_resend_and_a_gap_fill_closes_it(served):
    fix, client = served
    one = client(7)
    assert one.logon().get(35) == b"A"
    expected = one.seq
    one.seq += 5
    one.send("D", _order("lost"))           # numbered past a gap: not taken
    ask = one.wait(lambda m: m.get(35) == b"2", "the ResendRequest")
    assert (ask.get(7), ask.get(16)) == (str(expected).encode(), b"0")
    one.sock.sendall(one.message("4", [(123, "Y"), (36, one.seq)], seq=expected))
    one.send("D", _order("after"))
    assert one.wait(lambda m: m.get(11) == b"after", "the order after the gap").get(150) == b"0"
    assert not [m for m in one.got if m.get(11) == b"lost"]


def test_a_number_too_low_ends_the_session_and_a_duplicate_does_not(served):
    fix, client = served
    one = client(7)
    assert one.logon().get(35) == b"A"
    one.sock.sendall(one.message("0", [(43, "Y")], seq=1))      # PossDupFlag: ignored
    one.send("1", [(112, "still-here")])
    one.wait(lambda m: m.get(112) == b"still-here", "the answer after a duplicate")
    assert fix.bad["duplicate"] == 1
    one.sock.sendall(one.message("0", seq=1))
    logout = one.wait(lambda m: m.get(35) == b"5", "the Logout")
    assert b"MsgSeqNum too low" in logout.get(58) and one.closed()


def test_a_resend_request_gets_reports_again_and_session_messages_gap_filled(served):
    fix, client = served
    one = client(7)
    assert one.logon().get(35) == b"A"
    one.send("D", _order("r1"))
    first = one.wait(lambda m: m.get(11) == b"r1", "r1's New")
    one.send("2", [(7, 1), (16, 0)])
    fill = one.wait(lambda m: m.get(35) == b"4", "the gap fill of the Logon")
    again = one.wait(lambda m: m.get(11) == b"r1" and m.get(43) == b"Y", "r1's report again")
    assert (fill.get(34), fill.get(123), fill.get(36)) == (b"1", b"Y", b"2")
    assert again.get(34) == first.get(34) and again.get(122) == first.get(52)


def test_a_silent_session_is_tested_then_cut_and_one_user_has_one_session(served):
    fix, client = served
    one = client(7)
    one.send("A", [(98, 0), (108, 1), (553, "user7"), (554, "pw7")])
    one.wait(lambda m: m.get(35) == b"A", "the logon")
    twin = client(7)
    assert b"another connection" in twin.logon().get(58)
    assert fix.logons["already_logged_on"] == 1
    one.wait(lambda m: m.get(35) == b"1", "the TestRequest after a silence")
    assert one.closed()
    wait_for(lambda: fix.bad["heartbeat_timeout"] == 1, "the timeout counted")


def test_a_wrong_comp_id_after_logon_is_rejected_and_ends_the_session(served):
    fix, client = served
    one = client(7)
    assert one.logon().get(35) == b"A"
    one.user = 99                           # SenderCompID C99 from now on
    one.send("0")
    reject = one.wait(lambda m: m.get(35) == b"3", "the Reject")
    assert reject.get(373) == b"9" and one.wait(lambda m: m.get(35) == b"5", "the Logout")
    assert one.closed() and fix.bad["comp_id"] == 1


def test_a_mass_cancel_of_one_security_leaves_the_others(served):
    fix, client = served
    one = client(7)
    assert one.logon().get(35) == b"A"
    for clordid, symbol, price in (("g1", "GATE", "50.00"), ("g2", "GATE", "51.00"),
                                   ("m1", "MSFT", "60.00")):
        one.send("D", [(11, clordid), (54, 1), TIME, (40, 2), (55, symbol), (38, 1),
                       (44, price)])
        one.wait(lambda m, c=clordid: m.get(11) == c.encode(), f"{clordid}'s New")
    one.send("q", [(11, "mc"), (530, 1), (55, "GATE"), TIME])
    report = one.wait(lambda m: m.get(35) == b"r", "the mass cancel report")
    assert (report.get(531), report.get(533)) == (b"1", b"2")
    assert set(fix.state.ids) == {(7, "m1")}
    one.send("q", [(11, "bad"), (530, 5), TIME])          # by underlying: not served
    refused = one.wait(lambda m: m.get(11) == b"bad", "the refused mass cancel")
    assert refused.get(531) == b"0" and b"only 1" in refused.get(58)


def test_a_replace_that_changes_side_or_symbol_is_refused(served):
    fix, client = served
    one = client(7)
    assert one.logon().get(35) == b"A"
    one.send("D", _order("o1"))
    one.wait(lambda m: m.get(11) == b"o1", "o1's New")
    for clordid, side, symbol in (("o2", 2, "GATE"), ("o3", 1, "MSFT")):
        one.send("G", [(11, clordid), (41, "o1"), (54, side), TIME, (40, 2), (55, symbol),
                       (38, 2), (44, "50.00")])
        refused = one.wait(lambda m, c=clordid: m.get(11) == c.encode(), f"{clordid}'s answer")
        assert refused.get(35) == b"9" and b"keeps the order's" in refused.get(58)
    assert fix.bad["bad_replace"] == 2 and fix.state.ids == {(7, "o1"): 1}


def test_random_well_framed_messages_never_stop_the_exchange(served):
    """600 messages with valid framing and random tags and values: each is taken,
    rejected or refused, or its connection cut; the exchange's thread never fails."""
    import random
    rng = random.Random(20261203)
    fix, client = served
    tags = [11, 38, 40, 41, 44, 54, 55, 59, 60, 99, 112, 530, 7, 16, 36, 123, 43, 999]
    values = ["1", "2", "0", "-1", "GATE", "MSFT", "99.00", "1.00001", "9" * 18, "x" * 300,
              "Y", "N", "20260101-00:00:00", "\u00e9", "1e9", "4294967296", "0.0000"]
    one, sent = None, 0
    while sent < 600:
        if one is None:
            # A fresh session each time (ResetSeqNumFlag): a random SequenceReset may
            # have moved the expected number anywhere.
            one = client(7)
            one.seq = 1
            one.send("A", [(98, 0), (108, 30), (141, "Y"), (553, "user7"), (554, "pw7")])
            one.wait(lambda m: m.get(35) in (b"A", b"5"), "the logon's answer")
        msg_type = rng.choice("DDDFGGq0123458AZ")
        body = dict(_order(f"c{rng.randrange(20)}", rng.choice(["50.00", "51.00"])))
        body.update({41: f"c{rng.randrange(20)}", 530: "7"})
        for _ in range(rng.randrange(4)):
            if rng.random() < 0.3:
                body.pop(rng.choice(tags), None)
            else:
                body[rng.choice(tags)] = rng.choice(values)
        body = list(body.items())
        sent += 1
        try:
            one.send(msg_type, body)
            if sent % 20 == 0:
                one.send("1", [(112, f"alive-{sent}")])
                one.wait(lambda m, s=sent: m.get(112) == f"alive-{s}".encode(), "a Heartbeat",
                         seconds=1)
        except (OSError, AssertionError):   # cut, or logged out: log on again
            one.close()
            one = None
    assert not [kind for kind in fix.bad if kind.endswith("error")]
    assert fix.messages > 0
    fresh = client(8)
    assert fresh.logon().get(35) == b"A"
