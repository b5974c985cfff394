"""The shard map: which matching shard owns which symbols, as `[[shards]]` in the config.

A sharded exchange is N independent exchanges, one per shard, each with its own
sequencer, order ids, log and MoldUDP64 channel, over a disjoint set of the
config's `[[symbols]]` (docs/shards.md). The shard map is one table in the
exchange's config file:

    [[shards]]
    name = "A"
    symbols = ["GATE", "AAPL"]
    listen = "127.0.0.1:15001"          # its order entry (OUCH over UDP)
    md = "239.192.26.1:26401"           # its MoldUDP64 channel ("none": no market data)
    md_session = "GATEA"                # its MoldUDP64 session (default: GB + the name)
    log = "log-a"                       # its write-ahead log (optional)

Every symbol is in exactly one shard, names and addresses are not shared, and
anything else is refused with a `ShardMapError` naming the file, the shard and
the key. `shard_config` turns the config and one shard into the `ExchangeConfig`
that `gatebook run --shard NAME` builds.
"""

import os
import re
import tomllib
from dataclasses import dataclass, replace

from ..config import MAX_CONFIG_BYTES, ConfigError, load_config, md_session, parse_address

__all__ = ["Shard", "ShardMap", "ShardMapError", "load_sharded", "parse_shard_map",
           "shard_config", "exchange_config", "SHARD_KEYS"]

# A shard's name goes into file names and status lines.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,15}")
# Shards per exchange at most: a few per core, a few machines.
MAX_SHARDS = 256

# TOML key -> what it holds, for the error messages and docs.
SHARD_KEYS = {
    "name": "the shard's name (letters, digits, _ and -, up to 16)",
    "symbols": "the names of the [[symbols]] it matches",
    "listen": "IP:PORT of its order entry (OUCH over UDP)",
    "md": "IP:PORT of its MoldUDP64 channel, or \"none\"",
    "md_session": "its MoldUDP64 session name, 1..10 letters and digits (default: GB and "
                  "the shard's name's letters and digits, upper case)",
    "log": "its write-ahead log directory (optional)",
    "md_request": "IP:PORT serving its MoldUDP64 re-requests (optional)",
    "md_snapshot": "IP:PORT serving its book snapshots (optional)",
    "md_websocket": "IP:PORT of its WebSocket feed (optional)",
    "metrics": "IP:PORT of its Prometheus endpoint (optional)",
    "fix": "IP:PORT of its FIX 4.4 order entry (optional)",
}
_REQUIRED = ("name", "symbols", "listen", "md")
_ADDRESSES = ("listen", "md", "md_request", "md_snapshot", "md_websocket", "metrics", "fix")


class ShardMapError(ConfigError):
    """A `[[shards]]` table that cannot be used; the message says which shard and key."""


@dataclass(frozen=True)
class Shard:
    """One matching shard: its symbols and where it listens, logs and publishes."""

    name:         str
    symbols:      tuple             # symbol names, in the config's [[symbols]] order
    listen:       tuple             # (ip, port) of its order entry
    md:           tuple | None      # (ip, port) of its MoldUDP64 channel; None: none
    log:          str | None = None
    md_request:   tuple | None = None
    md_snapshot:  tuple | None = None
    md_websocket: tuple | None = None
    metrics:      tuple | None = None
    fix:          tuple | None = None
    md_session:   str = ""          # its MoldUDP64 session name (never empty once parsed)


@dataclass(frozen=True)
class ShardMap:
    """The shards of one exchange; every listed symbol has exactly one owner."""

    shards: tuple

    @property
    def names(self):
        return tuple(shard.name for shard in self.shards)

    def shard(self, name):
        """The shard called `name`; ShardMapError lists the names there are."""
        for shard in self.shards:
            if shard.name == name:
                return shard
        raise ShardMapError(f"no shard {name!r} in the shard map (shards: "
                            f"{', '.join(self.names)})")

    def owner(self, symbol):
        """The shard that matches symbol name `symbol`, or None for an unlisted one."""
        for shard in self.shards:
            if symbol in shard.symbols:
                return shard
        return None


def load_sharded(path):
    """The config at `path` and its shard map (None when it has no `[[shards]]`).

    Raises
    ------
    ConfigError
        The config is unusable (`load_config`'s errors), or its shard map is
        (`ShardMapError`).
    """
    config = load_config(path)
    # load_config has read and checked the file already; this second read only
    # takes the one table it leaves alone (and is refused as the first would be,
    # should the file have changed in between).
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            raise ValueError(f"larger than {MAX_CONFIG_BYTES:,} bytes")
        table = tomllib.loads(data.decode("utf-8"))
    except (OSError, ValueError) as error:     # TOMLDecodeError, UnicodeDecodeError too
        raise ShardMapError(f"{path}: changed while it was read: {error}") from None
    if "shards" not in table:
        return config, None
    return config, parse_shard_map(table["shards"], config.symbols, source=str(path),
                                   base=os.path.dirname(os.path.abspath(path)))


def parse_shard_map(entries, symbols, source="config", base="."):
    """A `ShardMap` from the `[[shards]]` list `entries`, checked against `symbols`.

    Parameters
    ----------
    entries : list of dict
        The TOML tables, as `tomllib` gives them.
    symbols : iterable of SymbolSpec
        The exchange's symbols: each must be in exactly one shard.
    source, base : str
        The file's name for messages, and the folder relative paths start from.
    """
    if not isinstance(entries, list) or not entries:
        raise ShardMapError(f"{source}: shards must be one or more [[shards]] tables")
    if len(entries) > MAX_SHARDS:
        raise ShardMapError(f"{source}: {len(entries)} shards; at most {MAX_SHARDS}")
    listed = [spec.name for spec in symbols]
    shards = tuple(_shard(entry, number, listed, source, base)
                   for number, entry in enumerate(entries, 1))
    _check_disjoint(shards, listed, source)
    return ShardMap(shards)


def _shard(entry, number, listed, source, base):
    where = f"{source}: [[shards]] number {number}"
    if not isinstance(entry, dict):
        raise ShardMapError(f"{where} must be a table")
    if isinstance(entry.get("name"), str) and _NAME.fullmatch(entry["name"]):
        where = f"{source}: shard {entry['name']}"
    unknown = sorted(set(entry) - set(SHARD_KEYS))
    if unknown:
        raise ShardMapError(f"{where}: unknown key {unknown[0]} (known: {', '.join(SHARD_KEYS)})")
    for key in _REQUIRED:
        if key not in entry:
            raise ShardMapError(f"{where}: needs {key} ({SHARD_KEYS[key]})")
    name = entry["name"]
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ShardMapError(f"{where}: name {name!r} must be 1..16 letters, digits, _ or -, "
                            "starting with a letter or digit")
    names = entry["symbols"]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ShardMapError(f"{where}: symbols must be a non-empty list of symbol names")
    for symbol in names:
        if symbol not in listed:
            raise ShardMapError(f"{where}: symbol {symbol!r} is not in [[symbols]] (listed: "
                                f"{', '.join(listed)})")
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise ShardMapError(f"{where}: symbol {twice} is listed twice")
    values = {"name": name, "symbols": tuple(n for n in listed if n in names)}
    for key in _ADDRESSES:
        if key not in entry:
            continue
        value = entry[key]
        try:
            values[key] = None if key == "md" and value == "none" else parse_address(value)
        except ValueError as error:
            raise ShardMapError(f"{where}: {key}: {error}") from None
    try:
        values["md_session"] = md_session(entry.get(
            "md_session", ("GB" + re.sub(r"[^A-Za-z0-9]", "", name).upper())[:10]))
    except ValueError as error:
        raise ShardMapError(f"{where}: md_session: {error}") from None
    if "log" in entry:
        log = entry["log"]
        if not isinstance(log, str) or not log or "\x00" in log:
            raise ShardMapError(f"{where}: log must be a directory name, not {log!r}")
        values["log"] = os.path.join(base, log)
    return Shard(**values)


def _check_disjoint(shards, listed, source):
    """Names, symbols, addresses and log directories each belong to one shard."""
    owners, seen = {}, {}
    for shard in shards:
        if shard.name in seen:
            raise ShardMapError(f"{source}: two shards are called {shard.name}")
        seen[shard.name] = shard
        for symbol in shard.symbols:
            if symbol in owners:
                raise ShardMapError(f"{source}: symbol {symbol} is in shards "
                                    f"{owners[symbol]} and {shard.name}: a symbol has one "
                                    "owner")
            owners[symbol] = shard.name
    missing = [name for name in listed if name not in owners]
    if missing:
        raise ShardMapError(f"{source}: symbol {missing[0]} is in no shard: every [[symbols]] "
                            "entry needs an owner")
    used = {}
    for shard in shards:
        places = [(key, getattr(shard, key)) for key in _ADDRESSES]
        places.append(("log", shard.log and os.path.normpath(shard.log)))
        # Subscribers tell sessions apart by name: two shards must not publish one.
        places.append(("md_session", "session " + shard.md_session))
        for key, place in places:
            # Port 0 is "any free port": two shards may both ask for one.
            if place is None or (isinstance(place, tuple) and place[1] == 0):
                continue
            if place in used:
                other, other_key = used[place]
                shown = place if isinstance(place, str) else f"{place[0]}:{place[1]}"
                raise ShardMapError(f"{source}: shard {shard.name} {key} {shown} is also "
                                    f"shard {other}'s {other_key}: each shard needs its own")
            used[place] = (shard.name, key)


def shard_config(config, shard):
    """The `ExchangeConfig` one shard runs: its symbols, its ports, its log, its channel.

    Everything the shard does not set comes from `config` (accounts, sessions,
    durability, NATS, ...); the per-exchange places a shard must not share
    (order entry, log, market-data channel and its services, metrics, FIX) are
    the shard's, or off when it names none.

    Raises
    ------
    ShardMapError
        `config` serves its log to a standby: one standby address cannot serve
        several shards (docs/shards.md).
    """
    if config.log.standby_listen or config.log.standby:
        raise ShardMapError("[log] standby_listen and standby name one standby; with "
                            "[[shards]] every shard would need its own (not supported yet)")
    symbols = tuple(spec for spec in config.symbols if spec.name in shard.symbols)
    return replace(
        config, symbols=symbols,
        order_entry=replace(config.order_entry, listen=shard.listen),
        log=replace(config.log, directory=shard.log),
        market_data=replace(config.market_data, destination=shard.md,
                            request=shard.md_request, snapshot=shard.md_snapshot,
                            websocket=shard.md_websocket, session=shard.md_session),
        metrics=replace(config.metrics, listen=shard.metrics),
        fix=replace(config.fix, listen=shard.fix))


def exchange_config(path, shard=None):
    """The `ExchangeConfig` of the config file at `path`: its shard `shard`'s part when
    it has `[[shards]]` (refused without `shard`, since the shards' ports and logs are
    not one exchange's), else the whole file (refused with `shard`).

    Raises
    ------
    ConfigError
    """
    config, shards = load_sharded(path)
    if shards is None:
        if shard is not None:
            raise ConfigError(f"--shard {shard}: {path} has no [[shards]] (docs/shards.md)")
        return config
    if shard is None:
        raise ConfigError(f"{path} splits its symbols into shards {', '.join(shards.names)}: "
                          "give --shard NAME, or --shard all (docs/shards.md)")
    return shard_config(config, shards.shard(shard))
