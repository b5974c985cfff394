"""What an exchange is made of, as data: the config `build_exchange` assembles.

A config is a tree of frozen dataclasses; `load_config` reads one from a TOML
file (docs/network.md, "Configuration"; docs/gatebook.toml is a complete
example). A config file is input like any other: an unknown key, a value of
the wrong type or out of range, or a file that is not TOML is refused with a
`ConfigError` whose sentence names the file, the section and the key.
"""

import math
import os
import re
import tomllib
from dataclasses import dataclass, field, replace

from .net.defaults import MOLDUDP64_GROUP, MOLDUDP64_PORT, OUCH_PORT
from .risk.settings import RISK_LIMIT_KEYS, RiskConfig, parse_risk
from .symbols import DEFAULT_SYMBOLS, SymbolSpec

__all__ = [
    "ConfigError", "ExchangeConfig", "OrderEntryConfig", "FixConfig", "SessionConfig", "LogConfig",
    "LinkConfig", "MarketDataConfig", "MetricsConfig", "RiskConfig", "RunConfig", "load_config",
    "parse_config", "RISK_LIMIT_KEYS",
    "parse_address", "check_config", "md_session",
]

# A config file is a few kilobytes; anything this large is not one.
MAX_CONFIG_BYTES = 1 << 20
BACKENDS = ("socket", "dpdk")
DURABILITY = ("strict", "batched", "none")


class ConfigError(ValueError):
    """A config file or value that cannot be used; the message says which key and why."""


@dataclass(frozen=True)
class OrderEntryConfig:
    """Where order-entry datagrams arrive (`[order_entry]`)."""

    listen:  tuple = ("127.0.0.1", OUCH_PORT)   # (ip, port)
    backend: str = "socket"                     # "socket" or "dpdk"
    dpdk:    str | None = None                  # DPDK devargs, for backend "dpdk"
    burst:   int = 32                           # datagrams per poll


@dataclass(frozen=True)
class FixConfig:
    """FIX 4.4 order entry over TCP (`[fix]`, docs/fix.md); unused without `listen`."""

    listen:         tuple | None = None     # (ip, port) the acceptor listens on
    comp_id:        str = "GATEBOOK"        # ours: clients' TargetCompID
    client_comp_id: str | None = None       # when set, the only SenderCompID accepted


@dataclass(frozen=True)
class SessionConfig:
    """Who may log in and what one session may do (`[sessions]`, docs/security.md)."""

    accounts:         str | None = None     # the accounts file (required to build)
    timeout:          float = 15.0          # seconds of silence before a session expires
    max_sessions:     int = 1024
    max_live_orders:  int = 100_000         # per user
    max_message_rate: int = 100_000         # per user per second


@dataclass(frozen=True)
class LogConfig:
    """The write-ahead log and its standby (`[log]`, docs/durability.md)."""

    directory:          str | None = None   # None: no log
    durability:         str | None = None   # strict (when None), batched or none
    snapshot_every:     int = 50_000        # commands between snapshots; 0 never
    standby_listen:     tuple | None = None  # serve the log to a standby here
    standby:            tuple | None = None  # ask this standby for its epoch first
    replication_secret: str | None = None   # file holding the shared secret


@dataclass(frozen=True)
class LinkConfig:
    """A matching pipeline at the end of a packet link (`[link]`); unused without a device."""

    dpdk:  str | None = None    # DPDK devargs of the link
    iface: str | None = None    # or a kernel interface
    peer:  str | None = None    # the pipeline's MAC address
    depth: int = 4              # orders per side the pipeline's window holds
    home:  str | None = None    # the symbol the pipeline matches; None: the first symbol

    @property
    def used(self):
        return bool(self.dpdk or self.iface)


@dataclass(frozen=True)
class MarketDataConfig:
    """Where ITCH in MoldUDP64 goes (`[market_data]`); destination None sends none.

    `request` (UDP) and `snapshot` (TCP) are where subscribers recover what
    they missed (docs/marketdata.md); None serves neither. `websocket` (TCP)
    serves the JSON WebSocket feed and the live page; None serves neither.
    `nats` (a NATS URL, or a comma-separated cluster) receives every symbol's
    state for `gatebook md-edge` processes, in a stream of `nats_replicas`.
    `session` names the MoldUDP64 session (1..10 letters and digits); a log's
    session goes on under its own name (docs/marketdata.md)."""

    destination:    tuple | None = (MOLDUDP64_GROUP, MOLDUDP64_PORT)
    session:        str = "GATEBOOK01"      # the MoldUDP64 session's name
    request:        tuple | None = None     # the MoldUDP64 re-request server
    snapshot:       tuple | None = None     # the snapshot service
    store_messages: int = 100_000           # messages kept for re-requests
    websocket:      tuple | None = None     # the WebSocket feed and live page
    nats:           str | None = None       # NATS JetStream for md-edge processes
    nats_replicas:  int = 1                 # the stream's replicas (3 on a 3-node cluster)


@dataclass(frozen=True)
class MetricsConfig:
    """The Prometheus endpoint (`[metrics]`, host/metrics.py); none without `listen`."""

    listen: tuple | None = None             # (ip, port) serving /metrics over HTTP


@dataclass(frozen=True)
class RunConfig:
    """When `gatebook run` stops by itself (`[run]`); None: never."""

    seconds:    float | None = None
    max_orders: int | None = None


@dataclass(frozen=True)
class ExchangeConfig:
    """Everything `build_exchange` needs; every part has a working default but accounts."""

    symbols:     tuple = DEFAULT_SYMBOLS
    order_entry: OrderEntryConfig = field(default_factory=OrderEntryConfig)
    fix:         FixConfig = field(default_factory=FixConfig)
    sessions:    SessionConfig = field(default_factory=SessionConfig)
    log:         LogConfig = field(default_factory=LogConfig)
    link:        LinkConfig = field(default_factory=LinkConfig)
    market_data: MarketDataConfig = field(default_factory=MarketDataConfig)
    metrics:     MetricsConfig = field(default_factory=MetricsConfig)
    run:         RunConfig = field(default_factory=RunConfig)
    risk:        RiskConfig | None = None     # None: no pre-trade risk


def parse_address(text, default_host="127.0.0.1"):
    """`(host, port)` from "HOST:PORT" (or ":PORT"); ValueError says what is wrong."""
    if not isinstance(text, str):
        raise ValueError(f"an address is text HOST:PORT, not {text!r}")
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdigit() or not 0 <= int(port) <= 0xFFFF:
        raise ValueError(f"{text!r} is not HOST:PORT with a port 0..65535")
    return host or default_host, int(port)


# --- one checker per kind of value: each returns the value or raises ValueError

def _integer(low, high=None):
    def check(value):
        # TOML's true/false are Python bools, which are ints: not a count.
        if type(value) is not int:
            raise ValueError(f"must be an integer, not {value!r}")
        if value < low or (high is not None and value > high):
            raise ValueError(f"{value} is outside {low}..{'' if high is None else high}")
        return value
    return check


def _seconds(value):
    if type(value) not in (int, float) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"must be a positive number of seconds, not {value!r}")
    return float(value)


def _choice(*allowed):
    def check(value):
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}, not {value!r}")
        return value
    return check


def _text(value):
    if not isinstance(value, str) or not value or "\x00" in value:
        raise ValueError(f"must be non-empty text, not {value!r}")
    return value


def md_session(value):
    """A MoldUDP64 session name: 1..10 ASCII letters and digits (the header's field)."""
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9]{1,10}", value):
        raise ValueError(f"must be 1..10 ASCII letters and digits, not {value!r}")
    return value


def _destination(value):
    return None if value == "none" else parse_address(value)


# Per section: key -> checker. A path is resolved against the file's folder.
_PATH = "path"
_SECTIONS = {
    "order_entry": (OrderEntryConfig, {
        "listen": parse_address, "backend": _choice(*BACKENDS), "dpdk": _text,
        "burst": _integer(1, 4096)}),
    "fix": (FixConfig, {"listen": parse_address, "comp_id": _text, "client_comp_id": _text}),
    "sessions": (SessionConfig, {
        "accounts": _PATH, "timeout": _seconds, "max_sessions": _integer(1),
        "max_live_orders": _integer(1), "max_message_rate": _integer(1)}),
    "log": (LogConfig, {
        "directory": _PATH, "durability": _choice(*DURABILITY),
        "snapshot_every": _integer(0), "standby_listen": parse_address,
        "standby": parse_address, "replication_secret": _PATH}),
    "link": (LinkConfig, {
        "dpdk": _text, "iface": _text, "peer": _text, "depth": _integer(1, 64),
        "home": _text}),
    "market_data": (MarketDataConfig, {
        "destination": _destination, "request": _destination, "snapshot": _destination,
        "store_messages": _integer(1, 100_000_000), "websocket": _destination,
        "nats": _text, "nats_replicas": _integer(1, 5), "session": md_session}),
    "metrics": (MetricsConfig, {"listen": parse_address}),
    "run": (RunConfig, {"seconds": _seconds, "max_orders": _integer(1)}),
}
# TOML key -> SymbolSpec field.
_SYMBOL_KEYS = {
    "id": "symbol_id", "name": "name", "tick": "tick_size", "lot": "lot_size",
    "price_min": "price_min", "price_max": "price_max", "max_order_qty": "max_order_qty",
    "max_notional": "max_notional", "protection_ticks": "protection_ticks",
    "protection_percent": "protection_percent", "breaker_percent": "breaker_percent",
    "breaker_window_ns": "breaker_window_ns", "breaker_pause_ns": "breaker_pause_ns",
}


def load_config(path):
    """Read an `ExchangeConfig` from the TOML file at `path`.

    Raises
    ------
    ConfigError
        The file cannot be read, is not TOML, or holds an unknown key or a bad
        value; the message names the file and the key.
    """
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_CONFIG_BYTES + 1)
    except OSError as error:
        raise ConfigError(f"cannot read the config file {path}: {error.strerror}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES:,} bytes: not a config file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    return parse_config(text, source=str(path),
                        base=os.path.dirname(os.path.abspath(path)))


def parse_config(text, source="config", base="."):
    """An `ExchangeConfig` from TOML `text`; relative paths are taken from `base`."""
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: not valid TOML: {error}") from None
    config = ExchangeConfig()
    for key, value in table.items():
        if key == "symbols":
            config = replace(config, symbols=_symbols(value, source))
            continue
        if key == "risk":
            try:
                config = replace(config, risk=parse_risk(value, source, base))
            except ValueError as error:
                raise ConfigError(str(error)) from None
            continue
        if key == "shards":
            continue        # the shard map ([[shards]]): gatebook.host.shards reads and checks it
        if key not in _SECTIONS:
            raise ConfigError(f"{source}: unknown section [{key}] (known: symbols, risk, "
                              f"{', '.join(_SECTIONS)})")
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {key} must be a section [{key}], not a value")
        config = replace(config, **{key: _section(key, value, source, base)})
    return config


def _section(name, table, source, base):
    kind, checkers = _SECTIONS[name]
    values = {}
    for key, value in table.items():
        if key not in checkers:
            raise ConfigError(f"{source}: unknown key [{name}] {key} (known: "
                              f"{', '.join(checkers)})")
        checker = checkers[key]
        try:
            if checker is _PATH:
                values[key] = os.path.join(base, _text(value))
            else:
                values[key] = checker(value)
        except ValueError as error:
            raise ConfigError(f"{source}: [{name}] {key}: {error}") from None
    return kind(**values)


def _symbols(entries, source):
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{source}: symbols must be one or more [[symbols]] tables")
    specs = []
    for number, entry in enumerate(entries, 1):
        where = f"{source}: [[symbols]] number {number}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be a table")
        unknown = sorted(set(entry) - set(_SYMBOL_KEYS))
        if unknown:
            raise ConfigError(f"{where}: unknown key {unknown[0]} (known: "
                              f"{', '.join(_SYMBOL_KEYS)})")
        for key in ("id", "name"):
            if key not in entry:
                raise ConfigError(f"{where}: needs {key}")
        for key, value in entry.items():
            if key != "name" and type(value) is not int:
                raise ConfigError(f"{where}: {key} must be an integer, not {value!r}")
        if not isinstance(entry["name"], str):
            raise ConfigError(f"{where}: name must be text, not {entry['name']!r}")
        try:
            specs.append(SymbolSpec(**{_SYMBOL_KEYS[key]: value for key, value in entry.items()}))
        except ValueError as error:
            raise ConfigError(f"{where}: {error}") from None
    for attribute in ("symbol_id", "name"):
        seen = [getattr(spec, attribute) for spec in specs]
        twice = sorted({value for value in seen if seen.count(value) > 1}, key=str)
        if twice:
            raise ConfigError(f"{source}: [[symbols]] {attribute} {twice[0]} appears twice")
    return tuple(specs)


def check_config(config):
    """Refuse a config whose parts do not fit together, before anything is opened.

    The messages name the `gatebook run` option and the config key.
    """
    if config.sessions.accounts is None:
        raise ConfigError("order entry needs an accounts file: --accounts FILE "
                          "([sessions] accounts)")
    entry, log, link = config.order_entry, config.log, config.link
    if entry.backend == "dpdk" and not entry.dpdk:
        raise ConfigError("--backend dpdk needs --dpdk DEVARGS ([order_entry] dpdk)")
    if not log.directory and (log.durability or log.standby or log.standby_listen):
        raise ConfigError("--durability, --standby and --standby-listen need --log LOGDIR "
                          "([log] directory)")
    if (log.standby or log.standby_listen) and not log.replication_secret:
        raise ConfigError(
            "--standby-listen and --standby need --replication-secret FILE "
            "([log] replication_secret): the primary and its standby authenticate each "
            "other with it (make one with `(umask 077; head -c 32 /dev/urandom > FILE)` "
            "and give both the same file)")
    md = config.market_data
    if md.destination is None and (md.request or md.snapshot or md.websocket or md.nats):
        raise ConfigError("--md-request, --md-snapshot, --md-websocket and --md-nats serve the "
                          "feed: they need --md ([market_data] request, snapshot, websocket, "
                          "nats, destination)")
    if link.dpdk and link.iface:
        raise ConfigError("a link goes through --link-dpdk or --link-iface, not both "
                          "([link] dpdk, [link] iface)")
    if link.used and config.risk is not None:
        raise ConfigError("pre-trade risk ([risk]) is not yet wired in front of a pipeline "
                          "link ([link]): run one or the other")
    if link.used:
        if not link.peer:
            raise ConfigError("a link needs --link-peer MAC ([link] peer)")
        if link.home is not None and link.home not in {s.name for s in config.symbols}:
            raise ConfigError(f"--link-home {link.home} is not a listed symbol ([link] home)")
