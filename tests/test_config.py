"""The exchange config file: what it holds, and every way a hostile one is refused."""

import os
from dataclasses import replace

import pytest

from gatebook.cli import main
from gatebook.host.config import (ConfigError, ExchangeConfig, LinkConfig, LogConfig,
                                  OrderEntryConfig, check_config, load_config, parse_config)
from gatebook.host.symbols import DEFAULT_SYMBOLS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(REPO, "docs", "gatebook.toml")


def test_the_shipped_example_loads_with_its_symbols_and_paths_from_its_folder():
    config = load_config(EXAMPLE)
    assert [(s.symbol_id, s.name, s.tick_size, s.lot_size) for s in config.symbols] == [
        (1, "GATE", 100, 1), (2, "ACME", 100, 10)]
    assert config.symbols[1].max_order_qty == 100_000
    assert config.sessions.accounts == os.path.join(REPO, "docs", "accounts.json")
    assert config.order_entry.listen == ("127.0.0.1", 15000)
    assert config.log.directory is None and not config.link.used


def test_an_empty_file_is_the_defaults():
    assert parse_config("") == ExchangeConfig()
    assert parse_config("").symbols == DEFAULT_SYMBOLS


@pytest.mark.parametrize("text, says", [
    ("[order_entry]\nlisen = '1.2.3.4:5'", "unknown key [order_entry] lisen"),
    ("[orders]\nlisten = '1.2.3.4:5'", "unknown section [orders]"),
    ("order_entry = 5", "order_entry must be a section"),
    ("[order_entry]\nlisten = '1.2.3.4'", "[order_entry] listen"),
    ("[order_entry]\nlisten = '1.2.3.4:70000'", "[order_entry] listen"),
    ("[order_entry]\nburst = true", "[order_entry] burst: must be an integer"),
    ("[order_entry]\nburst = 0", "[order_entry] burst: 0 is outside"),
    ("[order_entry]\nbackend = 'rdma'", "[order_entry] backend: must be one of socket, dpdk"),
    ("[sessions]\ntimeout = -1", "[sessions] timeout"),
    ("[sessions]\ntimeout = nan", "[sessions] timeout"),
    ("[sessions]\nmax_sessions = '10'", "[sessions] max_sessions"),
    ("[sessions]\naccounts = ''", "[sessions] accounts"),
    ("[log]\ndurability = 'sometimes'", "[log] durability"),
    ("[log]\nsnapshot_every = -1", "[log] snapshot_every"),
    ("[market_data]\ndestination = 7", "[market_data] destination"),
    ("[market_data]\nsession = 'GATEBOOK-01'", "[market_data] session: must be 1..10 ASCII"),
    ("[market_data]\nsession = ''", "[market_data] session"),
    ("[run]\nmax_orders = 1.5", "[run] max_orders"),
    ("[link]\ndepth = 1000", "[link] depth"),
    ("[order_entry\n", "not valid TOML"),
    ("symbols = 3", "symbols must be one or more"),
    ("[[symbols]]\nname = 'A'", "needs id"),
    ("[[symbols]]\nid = 1\nname = 'A'\ntik = 5", "unknown key tik"),
    ("[[symbols]]\nid = 1\nname = 'A'\ntick = '5'", "tick must be an integer"),
    ("[[symbols]]\nid = 1\nname = 7", "name must be text"),
    ("[[symbols]]\nid = 0\nname = 'A'", "symbol id 0 outside"),
    ("[[symbols]]\nid = 1\nname = 'TOOLONGNAME'", "must be 1..8 ASCII"),
    ("[[symbols]]\nid = 1\nname = 'A'\nprice_min = 5\nprice_max = 4", "price band"),
    ("[[symbols]]\nid = 1\nname = 'A'\n[[symbols]]\nid = 1\nname = 'B'",
     "symbol_id 1 appears twice"),
    ("[[symbols]]\nid = 1\nname = 'A'\n[[symbols]]\nid = 2\nname = 'A'",
     "name A appears twice"),
])
def test_a_bad_file_is_refused_with_a_sentence_naming_the_key(text, says):
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="x.toml")
    assert str(caught.value).startswith("x.toml") and says in str(caught.value)


def test_files_that_are_not_config_text_are_refused(tmp_path):
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe[run]\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(binary)
    huge = tmp_path / "huge.toml"
    huge.write_bytes(b"#" * (2 << 20))
    with pytest.raises(ConfigError, match="not a config file"):
        load_config(huge)
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_config(tmp_path / "missing.toml")


@pytest.mark.parametrize("config, says", [
    (ExchangeConfig(), "--accounts FILE"),
    (ExchangeConfig(order_entry=OrderEntryConfig(backend="dpdk")), "--dpdk DEVARGS"),
    (ExchangeConfig(log=LogConfig(durability="none")), "need --log LOGDIR"),
    (ExchangeConfig(log=LogConfig(directory="d", standby=("h", 1))),
     "need --replication-secret FILE"),
    (ExchangeConfig(link=LinkConfig(iface="eth9")), "--link-peer MAC"),
    (ExchangeConfig(link=LinkConfig(iface="eth9", peer="02:00:00:00:00:01", home="NOPE")),
     "--link-home NOPE"),
])
def test_parts_that_do_not_fit_together_are_refused(config, says):
    if says != "--accounts FILE":
        config = replace(config, sessions=replace(config.sessions, accounts="a.json"))
    with pytest.raises(ConfigError, match=says):
        check_config(config)


def test_gatebook_run_refuses_a_bad_config_file_naming_the_key(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text("[sessions]\nmax_sessions = 'many'\n")
    assert main(["run", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "gatebook run:" in err and "[sessions] max_sessions" in err


def test_command_line_options_override_the_file():
    from gatebook.cli import build_parser
    from gatebook.host.cli.run import config_from_args
    parse = lambda *options: build_parser().parse_args(["run", "--config", EXAMPLE, *options])  # noqa: E731
    assert config_from_args(parse()) == load_config(EXAMPLE)
    config = config_from_args(parse("--max-sessions", "7", "--md", "none",
                                    "--durability", "none", "--log", "d"))
    assert config.sessions.max_sessions == 7 and config.market_data.destination is None
    assert config.log.durability == "none" and config.log.directory == "d"
    assert config.sessions.timeout == 15.0 and len(config.symbols) == 2     # from the file
