"""The shard map ([[shards]] in the config): what it holds, and every way a bad one is refused."""

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatebook.host.config import ConfigError, load_config
from gatebook.host.shards import ShardMapError, load_sharded, shard_config

SYMBOLS = """
[[symbols]]
id = 1
name = "GATE"
[[symbols]]
id = 2
name = "AAPL"
[[symbols]]
id = 3
name = "MSFT"
"""

TWO_SHARDS = SYMBOLS + """
[sessions]
accounts = "accounts.json"

[log]
durability = "batched"

[[shards]]
name = "A"
symbols = ["GATE", "MSFT"]
listen = "127.0.0.1:15001"
md = "239.192.26.1:26401"
log = "log-a"
metrics = "127.0.0.1:9401"

[[shards]]
name = "B"
symbols = ["AAPL"]
listen = "127.0.0.1:15002"
md = "none"
"""


def _write(tmp_path, text):
    path = tmp_path / "exchange.toml"
    path.write_text(text)
    return str(path)


def test_a_two_shard_config_loads_and_each_shard_gets_its_own_places(tmp_path):
    config, shards = load_sharded(_write(tmp_path, TWO_SHARDS))
    assert shards.names == ("A", "B")
    assert shards.owner("MSFT").name == "A" and shards.owner("AAPL").name == "B"
    assert shards.owner("NOPE") is None
    a = shard_config(config, shards.shard("A"))
    # the config's order of [[symbols]], whatever order the shard lists them in
    assert [spec.name for spec in a.symbols] == ["GATE", "MSFT"]
    assert a.order_entry.listen == ("127.0.0.1", 15001)
    assert a.market_data.destination == ("239.192.26.1", 26401)
    assert a.log.directory == os.path.join(str(tmp_path), "log-a")
    assert a.log.durability == "batched"          # what the shard does not set is shared
    assert a.metrics.listen == ("127.0.0.1", 9401)
    assert a.sessions.accounts == os.path.join(str(tmp_path), "accounts.json")
    b = shard_config(config, shards.shard("B"))
    assert [spec.name for spec in b.symbols] == ["AAPL"]
    assert b.market_data.destination is None and b.log.directory is None
    assert b.metrics.listen is None
    # each shard's MoldUDP64 session is named after it unless the map names one
    assert (a.market_data.session, b.market_data.session) == ("GBA", "GBB")


def test_a_shard_names_its_market_data_session(tmp_path):
    config, shards = load_sharded(_write(tmp_path, SYMBOLS + _shard(
        "east-1", ["GATE", "AAPL"], 1) + _shard("W", ["MSFT"], 2, md_session='"WEST01"')))
    assert [shard.md_session for shard in shards.shards] == ["GBEAST1", "WEST01"]
    assert shard_config(config, shards.shard("W")).market_data.session == "WEST01"


def test_a_config_without_shards_has_no_map_and_load_config_takes_a_sharded_one(tmp_path):
    path = _write(tmp_path, SYMBOLS)
    assert load_sharded(path)[1] is None
    # the plain loader leaves [[shards]] to the shard map (it refused the section before)
    assert len(load_config(_write(tmp_path, TWO_SHARDS)).symbols) == 3


def test_an_unknown_shard_name_lists_the_shards(tmp_path):
    _, shards = load_sharded(_write(tmp_path, TWO_SHARDS))
    with pytest.raises(ShardMapError, match=r"no shard 'C'.*shards: A, B"):
        shards.shard("C")


def _shard(name, symbols, port, **extra):
    lines = [f'name = "{name}"', f"symbols = {symbols!r}".replace("'", '"'),
             f'listen = "127.0.0.1:{port}"', 'md = "none"']
    lines += [f"{key} = {value}" for key, value in extra.items()]
    return "\n[[shards]]\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize("shards, says", [
    (_shard("A", ["GATE", "AAPL"], 1), "symbol MSFT is in no shard"),
    (_shard("A", ["GATE", "AAPL"], 1) + _shard("B", ["AAPL", "MSFT"], 2),
     "symbol AAPL is in shards A and B"),
    (_shard("A", ["GATE", "AAPL", "MSFT", "IBM"], 1), "shard A: symbol 'IBM' is not in"),
    (_shard("A", ["GATE", "GATE", "AAPL", "MSFT"], 1), "symbol GATE is listed twice"),
    (_shard("A", [], 1), "symbols must be a non-empty list"),
    (_shard("A", ["GATE"], 1) + _shard("A", ["AAPL", "MSFT"], 2), "two shards are called A"),
    (_shard("A", ["GATE"], 1) + _shard("B", ["AAPL", "MSFT"], 1),
     "shard B listen 127.0.0.1:1 is also shard A's listen"),
    (_shard("A", ["GATE"], 1, log='"x"') + _shard("B", ["AAPL", "MSFT"], 2, log='"./x"'),
     "shard B log .* is also shard A's log"),
    (_shard("A", ["GATE"], 1, metrics='"127.0.0.1:9"')
     + _shard("B", ["AAPL", "MSFT"], 2, fix='"127.0.0.1:9"'),
     "shard B fix 127.0.0.1:9 is also shard A's metrics"),
    (_shard("A b", ["GATE", "AAPL", "MSFT"], 1), "name 'A b' must be"),
    (_shard("A", ["GATE", "AAPL", "MSFT"], 1, lisen='"1.2.3.4:5"'), "shard A: unknown key lisen"),
    (_shard("A", ["GATE", "AAPL", "MSFT"], 1, md_request='"nowhere"'),
     "shard A: md_request: 'nowhere' is not HOST:PORT"),
    (_shard("A", ["GATE", "AAPL", "MSFT"], 1, log="7"), "log must be a directory name"),
    (_shard("A", ["GATE", "AAPL", "MSFT"], 1, md_session='"GATEBOOK-01"'),
     "shard A: md_session: must be 1..10 ASCII letters and digits"),
    (_shard("A", ["GATE"], 1, md_session='"SAME"')
     + _shard("B", ["AAPL", "MSFT"], 2, md_session='"SAME"'),
     "shard B md_session session SAME is also shard A's md_session"),
    (_shard("a", ["GATE"], 1) + _shard("A", ["AAPL", "MSFT"], 2),
     "shard A md_session session GBA is also shard a's md_session"),
    ('\n[[shards]]\nname = "A"\nsymbols = ["GATE"]\n', "shard A: needs listen"),
    ("\nshards = 5\n", "shards must be one or more"),
    ("\nshards = [5]\n", r"\[\[shards\]\] number 1 must be a table"),
    ('\n[[shards]]\nname = 7\nsymbols = ["GATE"]\nlisten = ":1"\nmd = "none"\n', "name 7 must"),
])
def test_a_bad_shard_map_is_refused_naming_the_shard_and_key(tmp_path, shards, says):
    # a top-level key must come before the first [[symbols]] table
    text = shards + SYMBOLS if shards.startswith("\nshards") else SYMBOLS + shards
    with pytest.raises(ShardMapError, match=says):
        load_sharded(_write(tmp_path, text))


def test_two_shards_may_both_take_any_free_port(tmp_path):
    text = SYMBOLS + _shard("A", ["GATE"], 0) + _shard("B", ["AAPL", "MSFT"], 0)
    assert load_sharded(_write(tmp_path, text))[1].names == ("A", "B")


def test_a_standby_cannot_serve_every_shard(tmp_path):
    text = TWO_SHARDS.replace('durability = "batched"',
                              'durability = "batched"\nstandby_listen = "127.0.0.1:9300"')
    config, shards = load_sharded(_write(tmp_path, text))
    with pytest.raises(ShardMapError, match="every shard would need its own"):
        shard_config(config, shards.shard("A"))


def test_a_shard_map_error_is_a_config_error():
    assert issubclass(ShardMapError, ConfigError)


def test_a_name_with_a_trailing_newline_is_refused(tmp_path):
    text = SYMBOLS + '\n[[shards]]\nname = "A\\n"\nsymbols = ["GATE", "AAPL", "MSFT"]\n' \
        'listen = ":1"\nmd = "none"\n'
    with pytest.raises(ShardMapError, match="must be 1..16 letters"):
        load_sharded(_write(tmp_path, text))


_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
    | st.sampled_from(["GATE", "AAPL", "MSFT", "127.0.0.1:1", ":0", "none", "A", "log"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=8)
_ENTRIES = st.lists(st.dictionaries(
    st.sampled_from(["name", "symbols", "listen", "md", "log", "metrics", "fix", "x"]),
    _VALUES, max_size=6), max_size=3) | _VALUES


@settings(max_examples=100, deadline=None)
@given(_ENTRIES)
def test_any_shards_value_is_a_map_or_a_shard_map_error(entries):
    from gatebook.host.shards import parse_shard_map
    from gatebook.host.symbols import DEFAULT_SYMBOLS
    try:
        shards = parse_shard_map(entries, DEFAULT_SYMBOLS[:3])
    except ShardMapError:
        return
    assert sorted(s for shard in shards.shards for s in shard.symbols) == \
        sorted(spec.name for spec in DEFAULT_SYMBOLS[:3])
