"""`gatebook shards` (show, run, send) and `gatebook bench-shards`: a sharded exchange.

The shard map is `[[shards]]` in the config (docs/shards.md); `gatebook run --config
FILE --shard NAME` runs one shard, `gatebook shards run` (or `--shard all`) every
shard on this machine, `gatebook shards send` routes orders by symbol.
"""

import signal
import sys

from ..config import ConfigError
from ..shards import load_sharded
from ..shards.supervisor import Supervisor

__all__ = ["register", "run_all_shards"]

# `gatebook run` options that mean the same for every shard, forwarded by
# `--shard all` and `gatebook shards run`; every other one is a shard's own.
_SHARED_OPTIONS = ("seconds", "max_orders", "durability", "burst", "accounts",
                   "session_timeout", "max_sessions", "max_live_orders", "max_message_rate",
                   "snapshot_every", "md_nats", "md_nats_replicas")
# `gatebook run` options a shard takes from its [[shards]] table only.
_PER_SHARD = ("listen", "md", "md_request", "md_snapshot", "md_websocket", "metrics", "fix",
              "log", "backend", "dpdk", "standby", "standby_listen", "replication_secret",
              "link_dpdk", "link_iface", "link_peer", "link_depth", "link_home")


def register(subparsers):
    parser = subparsers.add_parser(
        "shards", help="a sharded exchange: show its shard map, run every shard, route orders",
        description="Symbols sharded across processes (docs/shards.md): each shard of the "
                    "config's [[shards]] is an exchange of its own, with its own order entry, "
                    "log and market-data channel.")
    actions = parser.add_subparsers(dest="shards_command", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="check the config's shard map and print it")
    show.add_argument("--config", required=True, metavar="FILE")
    show.set_defaults(run=run_show)
    run = actions.add_parser(
        "run", help="run every shard of the config as a child process, with its status",
        description="Starts `gatebook run --config FILE --shard NAME` for every shard, prints "
                    "their lines prefixed [NAME] and a status line whenever a shard comes up "
                    "or exits; Ctrl-C or SIGTERM stops them all (each syncs its log).")
    run.add_argument("--config", required=True, metavar="FILE")
    run.add_argument("--only", metavar="NAMES", help="comma-separated shards to run (default all)")
    run.add_argument("--restart", type=int, default=0, metavar="N",
                     help="start a shard that died (killed or nonzero exit) again, up to N "
                          "times; it recovers from its own log (default 0: never)")
    run.add_argument("--seconds", type=float, help="each shard stops after this long")
    run.add_argument("--max-orders", type=int, help="each shard stops after this many orders")
    run.add_argument("--durability", choices=("strict", "batched", "none"),
                     help="every shard's log durability (default: the config's)")
    run.set_defaults(run=run_shards)
    _register_send(actions)
    from .shards_bench import register as register_bench
    register_bench(subparsers)


def _register_send(actions):
    send = actions.add_parser(
        "send", help="log in to every shard and send orders, each to its symbol's shard",
        description="Routes a script (`gatebook inject --script` syntax, one session) or a "
                    "random flow by symbol: an order goes to its stock's shard, a cancel or "
                    "replace where its order went, a mass cancel or halt for every symbol to "
                    "every shard. What no shard owns is not sent, and counted.")
    send.add_argument("--config", required=True, metavar="FILE")
    send.add_argument("--user", required=True, metavar="NAME")
    send.add_argument("--password-file", required=True, metavar="FILE",
                      help="a file whose first line is the password ('-' = stdin)")
    flow = send.add_mutually_exclusive_group(required=True)
    flow.add_argument("--script", metavar="FILE", help="one message per line ('-' = stdin)")
    flow.add_argument("--orders", type=int, metavar="N", help="a random flow of N commands")
    send.add_argument("--seed", type=int, default=1)
    send.add_argument("--batch", type=int, default=1, help="messages per datagram (default 1)")
    send.add_argument("--wait", type=float, default=1.0, metavar="SECONDS",
                      help="how long to collect replies after the last datagram (default 1)")
    send.set_defaults(run=run_send)


def _load(path, command):
    try:
        config, shards = load_sharded(path)
    except ConfigError as error:
        print(f"gatebook {command}: {error}", file=sys.stderr)
        return None, None
    if shards is None:
        print(f"gatebook {command}: {path} has no [[shards]] (docs/shards.md)", file=sys.stderr)
    return config, shards


def run_show(args):
    config, shards = _load(args.config, "shards show")
    if shards is None:
        return 2
    print(f"{args.config}: {len(shards.shards)} shards, {len(config.symbols)} symbols")
    for shard in shards.shards:
        where = [f"orders {_address(shard.listen)}",
                 f"market data {_address(shard.md) if shard.md else 'none'}",
                 f"log {shard.log or 'none'}"]
        where += [f"{key} {_address(getattr(shard, key))}" for key in
                  ("md_request", "md_snapshot", "md_websocket", "metrics", "fix")
                  if getattr(shard, key) is not None]
        print(f"  {shard.name}: {', '.join(shard.symbols)}; {'; '.join(where)}")
    return 0


def _address(place):
    return f"{place[0]}:{place[1]}"


def _command(config_path, name, options):
    argv = [sys.executable, "-m", "gatebook.cli", "run", "--config", config_path,
            "--shard", name]
    for option, value in options.items():
        if value is None:
            continue
        if isinstance(value, tuple):
            value = _address(value)
        argv += ["--" + option.replace("_", "-"), str(value)]
    return argv


def run_all_shards(args, restarts=0, only=None):
    """Every shard of `args.config` as a child `gatebook run --shard NAME`; the exit status."""
    _, shards = _load(args.config, "run")
    if shards is None:
        return 2
    given = [option for option in _PER_SHARD if getattr(args, option, None) is not None]
    if given:
        flag = "--" + given[0].replace("_", "-")
        print(f"gatebook run: {flag} is a shard's own: set it in its [[shards]] table "
              "(docs/shards.md)", file=sys.stderr)
        return 2
    names = shards.names if only is None else only
    try:
        for name in names:
            shards.shard(name)
    except ConfigError as error:
        print(f"gatebook run: {error}", file=sys.stderr)
        return 2
    options = {option: getattr(args, option, None) for option in _SHARED_OPTIONS}
    supervisor = Supervisor({name: _command(args.config, name, options) for name in names},
                            out=lambda line: print(line, flush=True), restarts=restarts)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        supervisor.start()
        supervisor.run()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        supervisor.stop()
    return supervisor.exit_status()


def run_shards(args):
    only = args.only.split(",") if args.only else None
    return run_all_shards(args, restarts=args.restart, only=only)


def run_send(args):
    from .shards_send import send_routed
    config, shards = _load(args.config, "shards send")
    if shards is None:
        return 2
    return send_routed(config, shards, args)


def _interrupt(signum, frame):
    raise KeyboardInterrupt
