"""`gatebook run`: the exchange on a DPDK port or a kernel UDP socket, optionally journaled.

This module only parses: options (and `--config FILE`, which options
override) become an `ExchangeConfig`, `build_exchange` assembles it, and what
was built and what it did is printed.
"""

import argparse
import signal
import sys
from dataclasses import replace

from gatebook.wire.enums import RejectReason

from ..builder import BuildError, build_exchange, stopping_errors
from ..config import ConfigError, ExchangeConfig, parse_address
from ..net.defaults import MOLDUDP64_GROUP, MOLDUDP64_PORT, OUCH_PORT
from ..runtime import quiet_gc
from ..shards import exchange_config
from ..symbols import DEFAULT_SYMBOLS

__all__ = ["register"]


def _address(text):
    try:
        return parse_address(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _md(text):
    return "none" if text == "none" else _address(text)


def register(subparsers):
    parser = subparsers.add_parser(
        "run", help="run the exchange: order datagrams in, execution reports and "
                    "ITCH/MoldUDP64 market data out",
        description="Receives order-entry datagrams (docs/network.md), matches them on the "
                    "golden-model engine, replies to each sender and publishes ITCH 5.0 in "
                    "MoldUDP64. The backend is what you ask for; nothing falls back.")
    parser.add_argument("--config", metavar="FILE",
                        help="read the exchange's config (symbols and every option below) "
                             "from this TOML file (docs/network.md, \"Configuration\"); "
                             "options given here override it")
    parser.add_argument("--shard", metavar="NAME",
                        help="run this shard of a sharded --config ([[shards]], docs/shards.md): "
                             "its symbols, order entry, log and market-data channel; 'all' "
                             "runs every shard as a child process (`gatebook shards run`)")
    parser.add_argument("--backend", choices=("socket", "dpdk"),
                        help="kernel UDP socket (default) or a DPDK port")
    parser.add_argument("--listen", type=_address,
                        metavar="IP:PORT", help=f"order-entry address (default 127.0.0.1:{OUCH_PORT})")
    parser.add_argument("--dpdk", metavar="DEVARGS",
                        help="the DPDK device: a PCI address, net_tap0,iface=gb0, "
                             "net_af_packet0,iface=veth0, ...")
    parser.add_argument("--md", type=_md, metavar="IP:PORT",
                        help="market-data destination, or 'none' (default "
                             f"{MOLDUDP64_GROUP}:{MOLDUDP64_PORT})")
    parser.add_argument("--md-request", type=_address, metavar="IP:PORT",
                        help="serve MoldUDP64 re-requests (UDP) here (docs/marketdata.md)")
    parser.add_argument("--md-snapshot", type=_address, metavar="IP:PORT",
                        help="serve book snapshots for late joiners (TCP) here")
    parser.add_argument("--md-websocket", type=_address, metavar="IP:PORT",
                        help="serve the JSON WebSocket feed (ws://IP:PORT/ws) and the live "
                             "page (http://IP:PORT/) here (docs/marketdata.md)")
    parser.add_argument("--md-nats", metavar="URL",
                        help="publish every symbol's state to NATS JetStream (a server, or a "
                             "comma-separated cluster) for `gatebook md-edge` processes")
    parser.add_argument("--md-nats-replicas", type=int, metavar="N",
                        help="replicas of the NATS stream (default 1; 3 on a 3-node cluster)")
    parser.add_argument("--metrics", type=_address, metavar="HOST:PORT",
                        help="serve Prometheus metrics (http://HOST:PORT/metrics): orders, "
                             "rejects by reason, refusals, burst latency, log lag, market-data "
                             "subscribers and drops (docs/matching.md, \"Metrics\")")
    parser.add_argument("--seconds", type=float, help="stop after this long (default: until Ctrl-C)")
    parser.add_argument("--max-orders", type=int, help="stop after this many orders")
    parser.add_argument("--burst", type=int, help="datagrams per poll (default 32)")
    parser.add_argument("--fix", type=_address, metavar="HOST:PORT",
                        help="also take FIX 4.4 order entry over TCP here, beside OUCH "
                             "(docs/fix.md; [fix] in --config sets the CompIDs)")
    entry = parser.add_argument_group(
        "order-entry sessions (docs/security.md)",
        "Every client logs in first (LOGIN_REQUEST, docs/network.md); its session is bound to "
        "its account and to the address it logged in from.")
    entry.add_argument("--accounts", metavar="FILE",
                       help="the accounts file logins are checked against "
                            "(`gatebook accounts add --file FILE`; required here or in "
                            "--config)")
    entry.add_argument("--session-timeout", type=float, metavar="SECONDS",
                       help="a session silent this long expires (default 15; heartbeats "
                            "keep it alive)")
    entry.add_argument("--max-sessions", type=int, metavar="N",
                       help="sessions held at most (default 1024)")
    entry.add_argument("--max-live-orders", type=int, metavar="N",
                       help="live orders per user (default 100,000); past it a datagram with "
                            "new orders is refused")
    entry.add_argument("--max-message-rate", type=int, metavar="N",
                       help="messages per user per second (default 100,000)")
    link = parser.add_argument_group(
        "matching pipeline at the end of a packet link (default: the golden model in this "
        "process)", "The hybrid host matches the home symbol in the pipeline whenever it fits "
        "the window, everything else in process. A pipeline that stops answering ends the run "
        "with status 3.")
    where = link.add_mutually_exclusive_group()
    where.add_argument("--link-dpdk", metavar="DEVARGS", help="link frames through this DPDK device")
    where.add_argument("--link-iface", metavar="IFACE", help="link frames through a kernel interface")
    link.add_argument("--link-peer", metavar="MAC", help="the pipeline's MAC address")
    link.add_argument("--link-depth", type=int, metavar="N",
                      help="orders per side the pipeline's window holds (default 4)")
    link.add_argument("--link-pipeline", choices=("on", "off"), default="on",
                      help="on (default): a burst's commands are in flight together and the "
                           "host waits for the pipeline once per burst; off: one round trip "
                           "per command, as before (for comparison)")
    link.add_argument("--link-home", metavar="SYMBOL",
                      help="the symbol the pipeline matches when the host loads it (default "
                           f"the first symbol: {DEFAULT_SYMBOLS[0].name} without --config); "
                           "every other symbol stays on the host")
    log = parser.add_argument_group(
        "write-ahead log (docs/durability.md)",
        "With --log every command is logged, and its execution reports and market data leave "
        "only once it is durable. An existing LOGDIR is recovered first and its sequence "
        "continued. When the log fails (disk full, I/O error) or a newer primary is found, "
        "run stops taking orders and exits with status 3.")
    log.add_argument("--log", metavar="LOGDIR", help="log every command into LOGDIR")
    log.add_argument("--durability", choices=("strict", "batched", "none"),
                     help="when a report may leave: strict (after fdatasync; the default), "
                          "batched (after the write, fdatasync every 2 ms), none")
    log.add_argument("--snapshot-every", type=int, metavar="N",
                     help="snapshot the engine every N commands (default 50,000; 0 never)")
    log.add_argument("--standby-listen", type=_address, metavar="HOST:PORT",
                     help="serve the log to a hot standby (`gatebook standby --connect`); "
                          "synchronous: a report leaves only once the standby logged it too")
    log.add_argument("--standby", type=_address, metavar="HOST:PORT",
                     help="before taking orders, ask this replication address (the standby "
                          "that may have promoted itself) for its epoch; exit 3 if newer")
    log.add_argument("--replication-secret", metavar="FILE",
                     help="needed by --standby-listen and --standby: the secret shared with "
                          "the standby (32+ random bytes, not readable by others)")
    parser.set_defaults(run=run_exchange)


# Option -> (config section, key): what a command-line option overrides.
_OVERRIDES = {
    "backend": ("order_entry", "backend"), "listen": ("order_entry", "listen"),
    "dpdk": ("order_entry", "dpdk"), "burst": ("order_entry", "burst"),
    "accounts": ("sessions", "accounts"), "session_timeout": ("sessions", "timeout"),
    "max_sessions": ("sessions", "max_sessions"),
    "max_live_orders": ("sessions", "max_live_orders"),
    "max_message_rate": ("sessions", "max_message_rate"),
    "link_dpdk": ("link", "dpdk"), "link_iface": ("link", "iface"),
    "link_peer": ("link", "peer"), "link_depth": ("link", "depth"),
    "link_home": ("link", "home"),
    "log": ("log", "directory"), "durability": ("log", "durability"),
    "snapshot_every": ("log", "snapshot_every"), "standby_listen": ("log", "standby_listen"),
    "standby": ("log", "standby"), "replication_secret": ("log", "replication_secret"),
    "md": ("market_data", "destination"), "md_request": ("market_data", "request"),
    "md_snapshot": ("market_data", "snapshot"), "md_websocket": ("market_data", "websocket"),
    "md_nats": ("market_data", "nats"), "md_nats_replicas": ("market_data", "nats_replicas"),
    "fix": ("fix", "listen"), "metrics": ("metrics", "listen"),
    "seconds": ("run", "seconds"), "max_orders": ("run", "max_orders"),
}


def config_from_args(args):
    """The `ExchangeConfig` of --config FILE (or the defaults), with the options given on top.

    A config with a shard map runs one shard's part of it (--shard NAME); without
    --shard it is refused, since its shards' ports and logs are not one exchange's.
    """
    config = exchange_config(args.config, args.shard) if args.config else ExchangeConfig()
    changes = {}
    for option, (section, key) in _OVERRIDES.items():
        value = getattr(args, option)
        if value is not None:
            if option == "md" and value == "none":
                value = None            # --md none: no market data
            changes.setdefault(section, {})[key] = value
    return replace(config, **{section: replace(getattr(config, section), **values)
                              for section, values in changes.items()})


def run_exchange(args):
    if args.shard is not None and not args.config:
        print("gatebook run: --shard needs --config FILE with [[shards]] (docs/shards.md)",
              file=sys.stderr)
        return 2
    if args.shard == "all":
        from .shards import run_all_shards
        return run_all_shards(args)
    try:
        config = config_from_args(args)
    except ConfigError as error:
        print(f"gatebook run: {error}", file=sys.stderr)
        return 2
    if config.sessions.accounts is None:
        print("gatebook run: error: the following arguments are required: --accounts "
              "(or [sessions] accounts in --config FILE)", file=sys.stderr)
        raise SystemExit(2)
    try:
        built = build_exchange(config)
    except BuildError as error:
        print(f"gatebook run: {error}", file=sys.stderr)
        return error.status
    failure = None
    # SIGTERM (a service manager's stop) ends the run as Ctrl-C does: the log
    # is synced, acknowledged reports leave, the feed closes its session. Taken
    # before the start lines, which tell a supervisor the exchange is up.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    if args.link_pipeline == "off":
        built.exchange.pipeline = False
    try:
        _print_start(built)
        if args.shard is not None:
            names = ", ".join(spec.name for spec in config.symbols)
            print(f"run: shard {args.shard}: symbols {names}; an order for any other symbol "
                  "is rejected (UNKNOWN_SYMBOL) without touching a book: route it to its "
                  "shard (docs/shards.md)", flush=True)
        with quiet_gc():            # set up: freeze what exists, collect rarely (host/runtime.py)
            built.run()
    except KeyboardInterrupt:
        pass
    except stopping_errors() as error:
        # The engine holds commands the log will never have (or the pipeline
        # stopped answering mid-command): take no more orders. Reports already
        # acknowledged still leave (close releases them); a restart recovers
        # from what is on disk.
        failure = error
        print(f"gatebook run: {error}", file=sys.stderr, flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
        closing = built.close()
        if closing is not None and failure is None:
            print(f"gatebook run: {closing}", file=sys.stderr, flush=True)
            failure = closing
    _print_summary(built)
    if args.shard is not None:
        print(f"run: shard {args.shard}: rejects: " + (", ".join(
            f"{RejectReason(reason).name} {count}" for reason, count
            in sorted(_golden_rejects(built).items())) or "none"), flush=True)
    return 3 if failure is not None else 0


def _golden_rejects(built):
    """The golden engine's rejects by reason, under a journal or a hybrid host."""
    matcher = next(part for part in (built.journal, built.hybrid, built.exchange)
                   if part is not None)
    while not hasattr(matcher, "rejects"):
        matcher = matcher.engine
    return matcher.rejects


def _print_start(built):
    config, journal = built.config, built.journal
    log = config.log
    if journal is not None:
        report = journal.recovery
        if report.last_seq:
            used = (f"snapshot seq {report.snapshot_seq} + " if report.snapshot else "") + \
                f"{report.replayed} commands replayed in {report.seconds:.3f} s"
            print(f"run: recovered {log.directory}: last seq {report.last_seq} ({used}), "
                  f"epoch {journal.epoch}, state hash {report.state_hash}", flush=True)
            for repair in report.repairs:
                print(f"run: tail: {repair.line()}", flush=True)
            print(f"run: order entry restored: {'; '.join(journal.states.lines())} "
                  f"({report.origins} replayed commands came from order entry)", flush=True)
        else:
            print(f"run: new log in {log.directory}", flush=True)
        if log.standby:
            epoch = built.standby_epoch
            print(f"run: standby {log.standby[0]}:{log.standby[1]}: " + (
                "nothing answers" if epoch is None else
                f"epoch {epoch}, not newer than ours ({journal.epoch})"), flush=True)
        if built.replication is not None:
            address = built.replication.address
            print(f"run: serving the log to a standby on {address[0]}:{address[1]} "
                  "(synchronous: reports wait for the standby too)", flush=True)
        print(f"run: logging every command ({log.durability or 'strict'}); next seq "
              f"{journal.sequencer.next_seq}", flush=True)
    entry, md = config.order_entry, config.market_data.destination
    where = f" on {entry.dpdk}" if entry.backend == "dpdk" else ""
    print(f"run: backend {entry.backend}{where}, orders on {entry.listen[0]}:{entry.listen[1]}, "
          f"market data to {'nowhere' if md is None else f'{md[0]}:{md[1]}'}; "
          f"matching: {built.matcher}", flush=True)
    print(f"run: {len(built.accounts)} accounts from {config.sessions.accounts}; sessions "
          f"expire after {config.sessions.timeout:g} s of silence", flush=True)
    print(f"run: gateway and replier: {built.entry.path}", flush=True)
    if built.hybrid is not None:
        print("run: link: " + ("a burst's commands in flight together, one wait per burst"
                               if built.exchange.pipeline else "one command at a time"
                               + (" (the log applies each before the next)"
                                  if built.journal is not None else "")), flush=True)
    if built.fix_entry is not None:
        host, port = built.fix_entry.address
        print(f"run: FIX 4.4 on {host}:{port} (TargetCompID {built.fix_entry.comp_id})",
              flush=True)
    if md is not None:
        _print_market_data(built)
    if built.metrics is not None:
        host, port = built.metrics.address
        print(f"run: metrics on http://{host}:{port}/metrics", flush=True)


def _print_market_data(built):
    start, service = built.exchange.market_data, built.md_service
    publisher = start.publisher
    where = [f"{what} on {server.address[0]}:{server.address[1]}"
             for what, server in (("re-requests", service and service.requests),
                                  ("snapshots", service and service.snapshots)) if server]
    print(f"run: market data: {start.why}; next sequence number {publisher.next_sequence}; "
          + (", ".join(where) or "no re-requests, no snapshots"), flush=True)
    if built.md_websocket is not None:
        host, port = built.md_websocket.address
        print(f"run: market data: WebSocket feed on ws://{host}:{port}/ws, live page on "
              f"http://{host}:{port}/", flush=True)
    if built.md_nats is not None:
        print(f"run: market data: symbol states to NATS {built.config.market_data.nats}",
              flush=True)


def _print_summary(built):
    exchange, port, engine = built.exchange, built.port, built.hybrid
    gateway, counts = built.entry.gateway, exchange.counts
    print(f"run: {counts['datagrams_in']:,} datagrams, {gateway.messages:,} orders, "
          f"{counts['replies']:,} reply datagrams, {counts['md_packets']:,} MoldUDP64 packets "
          f"({counts['md_messages']:,} ITCH messages); duplicates {gateway.tracker.duplicates}, "
          f"gap messages {gateway.tracker.gaps}")
    service = built.md_service
    if service is not None:
        requests, snapshots = service.requests, service.snapshots
        for what, counter in (
                ("re-requests answered", requests and requests.answered),
                ("re-requests refused", requests and requests.refused),
                ("snapshots served", snapshots and snapshots.served),
                ("snapshot clients cut", snapshots and snapshots.refused)):
            if counter is not None:
                print(f"run: market data: {what}: " + (", ".join(
                    f"{kind} {count}" for kind, count in sorted(counter.items())) or "none"))
    websocket = built.md_websocket
    if websocket is not None:
        for what, counter in (("WebSocket served", websocket.served),
                              ("WebSocket requests refused", websocket.refused),
                              ("WebSocket clients cut", websocket.cut)):
            print(f"run: market data: {what}: " + (", ".join(
                f"{kind} {count}" for kind, count in sorted(counter.items())) or "none"))
    if engine is not None:
        punts = ", ".join(f"{reason.name.lower()} {count}"
                          for reason, count in sorted(engine.punts.items()))
        print(f"run: pipeline matched {engine.lane_commands:,} commands; "
              f"{sum(lane.loads for lane in engine.lanes)} loads, punts: {punts or 'none'}")
        for lane in engine.lanes:
            link = lane.link
            if hasattr(link, "round_trips"):
                print(f"run: link: {link.sent_frames:,} command frames ({link.records_sent:,} "
                      f"records), {link.round_trips:,} round trips; {counts['settles']:,} "
                      f"waits for answers a message depended on, {counts['late_tokens']:,} "
                      f"tokens an order in flight had freed")
    if built.fix_entry is not None:
        fix = built.fix_entry
        print(f"run: FIX: {fix.messages:,} order messages; logons: " + (", ".join(
            f"{kind} {count}" for kind, count in sorted(fix.logons.items())) or "none")
            + "; refused: " + (", ".join(f"{kind} {count}" for kind, count
                                         in sorted(fix.bad.items())) or "none"))
    logins = built.entry.sessions.logins
    print("run: logins: " + (", ".join(f"{kind.replace('_', ' ')} {count}"
                                       for kind, count in sorted(logins.items())) or "none"))
    for reason, count in sorted(gateway.bad.items()):
        print(f"run: refused {count} datagrams: {reason}")
    for peer, reason in list(gateway.bad_log)[-5:]:
        print(f"run:   e.g. from {peer}: {reason}")
    for what, counter in (("refused before order entry", port.refused),
                          ("replies not sent", port.unsent)):
        print(f"run: port {what}: " + (", ".join(
            f"{kind} {count}" for kind, count in sorted(counter.items())) or "none"))
    if built.replication is not None:
        print("run: replication refused: " + (", ".join(
            f"{kind} {count}" for kind, count in sorted(built.replication.refused.items()))
            or "none"))
    if built.journal is not None:
        acks = built.acks
        last = built.journal.sequencer.next_seq - 1
        print(f"run: log {built.config.log.directory}: acknowledged up to seq {acks.seq}"
              + (f"; seq {acks.seq + 1}..{last} never acknowledged, their reports not sent"
                 if last > acks.seq else ""))


def _interrupt(signum, frame):
    raise KeyboardInterrupt
