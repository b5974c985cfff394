"""build_exchange: the exchange a config describes, assembled in one place and run."""

import os
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from gatebook.dpdk_bridge.udp import SocketUdp
from gatebook.host.builder import BuildError, build_exchange
from gatebook.host.config import load_config
from gatebook.host.ouch.inject import script_datagrams
from gatebook.host.ouch.framing import OUTBOUND_CODEC, decode_datagram
from gatebook.wire import ouch

from ouch_login import as_session, login, write_accounts

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(REPO, "docs", "gatebook.toml")
# ACME exists only in the example file: trading it proves the symbols come from the config.
SCRIPT = """
7 enter_order order_token=1 stock=ACME side=BUY shares=100 price=20.00
8 enter_order order_token=1 stock=ACME side=SELL shares=40 price=20.00
"""


def _config(tmp_path, **log):
    config = load_config(EXAMPLE)
    return replace(
        config,
        order_entry=replace(config.order_entry, listen=("127.0.0.1", 0)),
        sessions=replace(config.sessions,
                         accounts=write_accounts(tmp_path / "accounts.json", (7, 8))),
        market_data=replace(config.market_data, destination=None),
        log=replace(config.log, **log))


def _trade(built, pump=None):
    """Log users 7 and 8 in, send SCRIPT; the reply names each user got.

    `pump` handles what arrived (by default `built.poll`).
    """
    pump = pump or built.poll
    address = built.port.address
    names = {}
    with SocketUdp() as client_7, SocketUdp() as client_8:
        clients = {7: client_7, 8: client_8}
        sessions = {user: login(sock, address, user, pump=pump).session
                    for user, sock in clients.items()}
        for user, payload in script_datagrams(SCRIPT):
            clients[user].send([(as_session(payload, sessions[user]), address)])
        deadline = time.monotonic() + 5
        while sum(map(len, names.values())) < 4 and time.monotonic() < deadline:
            pump()
            for user, sock in clients.items():
                for payload, _ in sock.recv(64):
                    names.setdefault(user, []).extend(
                        ouch.OUTBOUND.by_code()[record[0]].name
                        for record in decode_datagram(payload, OUTBOUND_CODEC)[2])
    return names


def test_the_example_config_builds_an_exchange_that_trades_its_symbols(tmp_path):
    built = build_exchange(_config(tmp_path))
    try:
        assert built.journal is None and built.hybrid is None
        assert _trade(built) == {7: ["accepted", "executed"], 8: ["accepted", "executed"]}
        assert built.exchange.entry.gateway.messages == 2
    finally:
        assert built.close() is None
    assert built.close() is None                         # twice is harmless


def test_a_logged_exchange_is_recovered_when_built_again(tmp_path):
    log_dir = str(tmp_path / "log")
    with build_exchange(_config(tmp_path, directory=log_dir, durability="batched")) as built:
        assert built.journal.recovery.last_seq == 0
        # A batched log holds the replies until its batch is synced, which `run` does and a
        # bare `poll` does not: pumped with polls alone, this waited out _trade's 5 s.
        replies = _trade(built, pump=lambda: built.run(seconds=0.005))
        assert replies == {7: ["accepted", "executed"], 8: ["accepted", "executed"]}
        built.run(seconds=0.05)
    with build_exchange(_config(tmp_path, directory=log_dir)) as again:
        assert again.journal.recovery.last_seq >= 2
        acme = again.journal.engine.books[2]
        assert [order.qty for _, orders in acme.orders_at(0) for order in orders] == [60]


@pytest.mark.parametrize("change, status, says", [
    (dict(sessions="missing"), 2, "cannot read"),
    (dict(log=dict(directory="LOG", standby_listen=("127.0.0.1", 0),
                   replication_secret="no-such-secret")), 2, "secret"),
])
def test_what_cannot_be_built_is_a_sentence_and_an_exit_status(tmp_path, change, status, says):
    config = _config(tmp_path)
    if "sessions" in change:
        config = replace(config, sessions=replace(config.sessions,
                                                  accounts=str(tmp_path / "none.json")))
    if "log" in change:
        values = dict(change["log"], directory=str(tmp_path / "log"),
                      replication_secret=str(tmp_path / "no-such-secret"))
        config = replace(config, log=replace(config.log, **values))
    with pytest.raises(BuildError, match=says) as caught:
        build_exchange(config)
    assert caught.value.status == status
    assert not os.path.exists(tmp_path / "log")         # refused before touching anything


@pytest.mark.parametrize("options, shown", [
    ([], False), (["-v"], True), (["--log-level", "debug"], True),
    (["-v", "--log-level", "ERROR"], False),
])
def test_the_log_level_is_chosen_on_the_command_line(tmp_path, options, shown):
    accounts = write_accounts(tmp_path / "accounts.json", (7,))
    done = subprocess.run(
        [sys.executable, "-m", "gatebook.cli", *options, "run", "--config", EXAMPLE,
         "--accounts", accounts, "--listen", "127.0.0.1:0", "--md", "none", "--seconds", "0.1"],
        capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "run: backend socket" in done.stdout
    assert ("INFO gatebook.host.builder: built: 2 symbols" in done.stderr) == shown, done.stderr
