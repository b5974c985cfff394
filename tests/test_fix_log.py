"""FIX in the config, the build and the log: [fix], snapshots, recovery, `gatebook log dump`.

`build_exchange` with `[fix] listen` and a log (a snapshot every 2 commands) takes FIX
orders from a raw client; recovered from disk alone, the FIX state (live ClOrdIDs, FIX
quantities, session numbers) is what the live entry held, the snapshot holds it, and
`gatebook log dump` shows each FIX origin by field.
"""

from dataclasses import replace

import pytest

from gatebook.host.builder import BuildError, build_exchange
from gatebook.host.config import ConfigError, ExchangeConfig, FixConfig, parse_config
from gatebook.host.protocols import shipped_codecs
from gatebook.host.wal import recover
from gatebook.wire.enums import OrderEntryProtocol

from fix_peer.driver import ExchangeThread
from ouch_login import write_accounts
from test_fix_hostile import RawFix

FIX = int(OrderEntryProtocol.FIX)


def _config(tmp_path, fix_listen=("127.0.0.1", 0)):
    config = ExchangeConfig()
    return replace(
        config, fix=FixConfig(listen=fix_listen),
        order_entry=replace(config.order_entry, listen=("127.0.0.1", 0)),
        sessions=replace(config.sessions,
                         accounts=write_accounts(tmp_path / "accounts.json", (7,))),
        market_data=replace(config.market_data, destination=None),
        log=replace(config.log, directory=str(tmp_path / "log"), snapshot_every=2))


def _order(clordid, qty, price):
    return [(11, clordid), (54, 1), (60, "20260101-00:00:00"), (40, 2), (55, "GATE"),
            (38, qty), (44, price)]


def test_fix_orders_are_logged_snapshotted_and_recovered(tmp_path, capsys):
    built = build_exchange(_config(tmp_path))
    loop = ExchangeThread(built.exchange)
    client = RawFix(built.fix_entry.address)
    try:
        assert client.logon().get(35) == b"A"
        for clordid, qty, price in (("a", 10, "90.00"), ("b", 20, "91.00"), ("c", 5, "92.00")):
            client.send("D", _order(clordid, qty, price))
        client.send("F", [(11, "x"), (41, "b"), (54, 1), (60, "20260101-00:00:00"),
                          (55, "GATE")])
        client.send("G", [(11, "a2"), (41, "a"), (54, 1), (60, "20260101-00:00:00"),
                          (40, 2), (55, "GATE"), (38, 12), (44, "90.50")])
        client.wait(lambda m: m.get(11) == b"a2", "a's replace")
        # A ClOrdID the log could not hold (not ASCII) is refused before any command.
        client.send("D", _order(b"caf\xe9", 1, "89.00"))
        refused = client.wait(lambda m: m.get(35) == b"8" and m.get(150) == b"8",
                              "the refused ClOrdID")
        assert b"printable ASCII" in refused.get(58)
        # A price past the log's 32-bit field: refused as unloggable, its number given back.
        client.send("D", _order("huge", 1, "999999999"))
        huge = client.wait(lambda m: m.get(11) == b"huge", "the unloggable order's answer")
        assert huge.get(150) == b"8" and b"cannot be logged" in huge.get(58)
    finally:
        client.close()
        loop.stop()
        built.close()
    live = built.fix_entry.state
    assert live.ids == {(7, "a2"): 1, (7, "c"): 3}
    directory = str(tmp_path / "log")
    engine, report = recover(directory, origin_codecs=shipped_codecs())
    assert report.snapshot, "a snapshot holding the FIX state was used"
    recovered = report.states[FIX]
    assert recovered.ids == live.ids and recovered.orders[1].qty == 12
    # The next inbound MsgSeqNum: after the last logged request (the replace, 6); the
    # refused orders (7, 8) are in no log, so a client logging on again is asked for them.
    assert (recovered.numbers[7][0], live.numbers[7][0]) == (7, 9)
    assert built.fix_entry.bad["unloggable"] == 1
    from gatebook.cli import main
    assert main(["log", "dump", "--dir", directory]) == 0
    dump = capsys.readouterr().out
    assert "fix_origin user=7 in_seq=6 " in dump and "kind=G clordid=a2 orig_clordid=a" in dump


def test_the_fix_section_of_a_config(tmp_path):
    config = parse_config('[fix]\nlisten = "127.0.0.1:9878"\ncomp_id = "VENUE"\n'
                          'client_comp_id = "ALICE"\n')
    assert config.fix == FixConfig(("127.0.0.1", 9878), "VENUE", "ALICE")
    with pytest.raises(ConfigError, match=r"unknown key \[fix\] port"):
        parse_config("[fix]\nport = 1\n")
    with pytest.raises(ConfigError, match=r"\[fix\] comp_id"):
        parse_config('[fix]\ncomp_id = ""\n')


def test_a_fix_address_in_use_is_a_build_error(tmp_path):
    first = build_exchange(replace(_config(tmp_path), log=ExchangeConfig().log))
    try:
        taken = first.fix_entry.address
        with pytest.raises(BuildError, match="cannot listen for FIX") as refused:
            build_exchange(replace(_config(tmp_path, taken), log=ExchangeConfig().log))
        assert refused.value.status == 1
    finally:
        first.close()
