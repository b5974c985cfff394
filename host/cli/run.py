"""`gatebook run`: the exchange on a DPDK port or a kernel UDP socket, optionally journaled."""

import logging
import signal
import sys

from ..clock import WallClock
from ..net.exchange_server import Acknowledgements, Exchange
from ..net.defaults import MOLDUDP64_GROUP, MOLDUDP64_PORT, OUCH_PORT
from ..symbols import DEFAULT_SYMBOLS

__all__ = ["register"]


def _address(text):
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def register(subparsers):
    parser = subparsers.add_parser(
        "run", help="run the exchange: order datagrams in, execution reports and "
                    "ITCH/MoldUDP64 market data out",
        description="Receives order-entry datagrams (docs/network.md), matches them on the "
                    "golden-model engine, replies to each sender and publishes ITCH 5.0 in "
                    "MoldUDP64. The backend is what you ask for; nothing falls back.")
    parser.add_argument("--backend", choices=("socket", "dpdk"), default="socket",
                        help="kernel UDP socket (default) or a DPDK port")
    parser.add_argument("--listen", type=_address, default=("127.0.0.1", OUCH_PORT),
                        metavar="IP:PORT", help=f"order-entry address (default 127.0.0.1:{OUCH_PORT})")
    parser.add_argument("--dpdk", metavar="DEVARGS",
                        help="the DPDK device: a PCI address, net_tap0,iface=gb0, "
                             "net_af_packet0,iface=veth0, ...")
    parser.add_argument("--md", default=f"{MOLDUDP64_GROUP}:{MOLDUDP64_PORT}", metavar="IP:PORT",
                        help="market-data destination, or 'none' (default "
                             f"{MOLDUDP64_GROUP}:{MOLDUDP64_PORT})")
    parser.add_argument("--seconds", type=float, help="stop after this long (default: until Ctrl-C)")
    parser.add_argument("--max-orders", type=int, help="stop after this many orders")
    parser.add_argument("--burst", type=int, default=32, help="datagrams per poll (default 32)")
    entry = parser.add_argument_group(
        "order-entry sessions (docs/security.md)",
        "Every client logs in first (LOGIN_REQUEST, docs/network.md); its session is bound to "
        "its account and to the address it logged in from.")
    entry.add_argument("--accounts", required=True, metavar="FILE",
                       help="the accounts file logins are checked against "
                            "(`gatebook accounts add --file FILE`)")
    entry.add_argument("--session-timeout", type=float, default=15.0, metavar="SECONDS",
                       help="a session silent this long expires (default 15; heartbeats "
                            "keep it alive)")
    entry.add_argument("--max-sessions", type=int, default=1024, metavar="N",
                       help="sessions held at most (default 1024)")
    entry.add_argument("--max-live-orders", type=int, default=100_000, metavar="N",
                       help="live orders per user (default 100,000); past it a datagram with "
                            "new orders is refused")
    entry.add_argument("--max-message-rate", type=int, default=100_000, metavar="N",
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
    link.add_argument("--link-depth", type=int, default=4, metavar="N",
                      help="orders per side the pipeline's window holds (default 4)")
    link.add_argument("--link-home", default=DEFAULT_SYMBOLS[0].name, metavar="SYMBOL",
                      help="the symbol the pipeline matches when the host loads it (default "
                           f"{DEFAULT_SYMBOLS[0].name}); every other symbol stays on the host")
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
    log.add_argument("--snapshot-every", type=int, default=50_000, metavar="N",
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


def _open_journal(args, clock, make_hybrid=None):
    """(journal, acks, replication server) for --log, or an exit status.

    With `make_hybrid`, the journal's commands are matched by the hybrid host
    built around the recovered engine.
    """
    from ..wal import CorruptLog, JournaledExchange
    from ..wal.epoch import Fenced, check_peer
    from ..wal.replication import ReplicationServer
    from ..wal.channel import SecretError, load_secret
    secret = None
    if args.standby or args.standby_listen:
        try:
            secret = load_secret(args.replication_secret)
        except SecretError as error:
            print(f"gatebook run: {error}", file=sys.stderr)
            return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from ..net.reply_history import KEPT_PER_USER
    from ..wal.gateway_state import GatewayState
    # Recovery remembers each user's latest replies, so a client that logs in
    # again learns what was logged but never reported before a crash.
    GatewayState.keep_recent = KEPT_PER_USER
    acks = Acknowledgements()
    policy = args.durability or "strict"
    try:
        journal = JournaledExchange(args.log, DEFAULT_SYMBOLS, policy=policy, clock=clock,
                                    on_ack=acks, snapshot_every=args.snapshot_every,
                                    matcher=make_hybrid)
    except (CorruptLog, ValueError, OSError) as error:
        print(f"gatebook run: cannot recover {args.log}: {error}", file=sys.stderr)
        return 3
    acks(journal.acked_seq)             # everything recovered is on disk
    report = journal.recovery
    if report.last_seq:
        used = (f"snapshot seq {report.snapshot_seq} + " if report.snapshot else "") + \
            f"{report.replayed} commands replayed in {report.seconds:.3f} s"
        print(f"run: recovered {args.log}: last seq {report.last_seq} ({used}), "
              f"epoch {journal.epoch}, state hash {report.state_hash}", flush=True)
        for repair in report.repairs:
            print(f"run: tail: {repair.line()}", flush=True)
        gateway = journal.gateway
        print(f"run: gateway restored: {len(gateway.order_ids)} client tokens, "
              f"{len(set(gateway.expected) | set(gateway.sequences))} sessions "
              f"({report.origins} replayed commands came from order entry)", flush=True)
    else:
        print(f"run: new log in {args.log}", flush=True)
    server = None
    try:
        if args.standby:
            epoch = check_peer(args.log, args.standby, secret)
            where = f"{args.standby[0]}:{args.standby[1]}"
            print(f"run: standby {where}: " + ("nothing answers" if epoch is None else
                  f"epoch {epoch}, not newer than ours ({journal.epoch})"), flush=True)
        if args.standby_listen:
            server = ReplicationServer(journal, *args.standby_listen, synchronous=True,
                                       secret=secret)
            print(f"run: serving the log to a standby on {server.address[0]}:"
                  f"{server.address[1]} (synchronous: reports wait for the standby too)",
                  flush=True)
    except (Fenced, OSError) as error:
        print(f"gatebook run: {error}", file=sys.stderr)
        journal.close()
        return 3
    print(f"run: logging every command ({policy}); next seq {journal.sequencer.next_seq}",
          flush=True)
    return journal, acks, server


def _open_lane(args):
    """(a function making the hybrid host around an engine, its description) for
    --link-*, or an exit status."""
    if not args.link_peer:
        print("gatebook run: a link needs --link-peer MAC", file=sys.stderr)
        return 2
    homes = [spec.symbol_id for spec in DEFAULT_SYMBOLS if spec.name == args.link_home]
    if not homes:
        print(f"gatebook run: --link-home {args.link_home} is not a listed symbol",
              file=sys.stderr)
        return 2
    from ..hybrid import HybridExchange
    from ..net.link import PacketLaneLink
    if args.link_dpdk:
        from gatebook.dpdk_bridge.eal import Eal
        link_port = Eal.start().attach(args.link_dpdk)
    else:
        from gatebook.dpdk_bridge.raw import RawSocketPort
        from gatebook.wire.link_frame import ETHERTYPE
        link_port = RawSocketPort(args.link_iface, ETHERTYPE)
    lane = PacketLaneLink(link_port, args.link_peer, args.link_depth)

    def make_hybrid(engine=None):
        return HybridExchange(DEFAULT_SYMBOLS, [lane], homes, engine=engine)
    return make_hybrid, (f"pipeline at {args.link_peer} via {args.link_dpdk or args.link_iface} "
                         f"(depth {args.link_depth}, home {args.link_home}), the rest in-process")


def run_exchange(args):
    from gatebook.dpdk_bridge.udp import open_udp
    from ..net.accounts import Accounts, AccountsError
    try:
        accounts = Accounts.load(args.accounts)
    except AccountsError as error:
        print(f"gatebook run: {error}", file=sys.stderr)
        return 2
    if args.backend == "dpdk" and not args.dpdk:
        print("gatebook run: --backend dpdk needs --dpdk DEVARGS", file=sys.stderr)
        return 2
    if not args.log and (args.durability or args.standby or args.standby_listen):
        print("gatebook run: --durability, --standby and --standby-listen need --log LOGDIR",
              file=sys.stderr)
        return 2
    if (args.standby or args.standby_listen) and not args.replication_secret:
        print("gatebook run: --standby-listen and --standby need --replication-secret FILE: "
              "the primary and its standby authenticate each other with it (make one with "
              "`(umask 077; head -c 32 /dev/urandom > FILE)` and give both the same file)",
              file=sys.stderr)
        return 2
    clock = WallClock()
    make_hybrid, matcher = None, "golden model in-process"
    if args.link_dpdk or args.link_iface:
        opened = _open_lane(args)
        if isinstance(opened, int):
            return opened
        make_hybrid, matcher = opened
    journal = acks = replication = None
    if args.log:
        opened = _open_journal(args, clock, make_hybrid)
        if isinstance(opened, int):
            return opened
        journal, acks, replication = opened
    engine = None
    if make_hybrid is not None:
        engine = journal.matcher if journal is not None else make_hybrid()
    from gatebook.dpdk_bridge import DpdkError, DpdkUnavailable
    try:
        port = open_udp(args.backend, *args.listen, devargs=args.dpdk, burst=args.burst)
    except (DpdkUnavailable, DpdkError, OSError, ValueError) as error:
        print(f"gatebook run: cannot open the {args.backend} backend: {error}", file=sys.stderr)
        if journal is not None:
            _close_journal(journal, replication)
        if engine is not None:
            engine.close()
        return 1
    md = None if args.md == "none" else _address(args.md)
    where = f" on {args.dpdk}" if args.backend == "dpdk" else ""
    print(f"run: backend {args.backend}{where}, orders on {args.listen[0]}:{args.listen[1]}, "
          f"market data to {'nowhere' if md is None else f'{md[0]}:{md[1]}'}; "
          f"matching: {matcher}", flush=True)
    exchange = Exchange(port, DEFAULT_SYMBOLS, clock, md_destination=md,
                        engine=engine if journal is None else None, journal=journal, acks=acks,
                        accounts=accounts, session_options=dict(
                            timeout_ns=int(args.session_timeout * 1e9),
                            max_sessions=args.max_sessions,
                            max_live_orders=args.max_live_orders,
                            messages_per_second=args.max_message_rate))
    print(f"run: {len(accounts)} accounts from {args.accounts}; sessions expire after "
          f"{args.session_timeout:g} s of silence", flush=True)
    print(f"run: gateway and replier: {exchange.gateway.path}", flush=True)
    failure = None
    # SIGTERM (a service manager's stop) ends the run as Ctrl-C does: the log
    # is synced, acknowledged reports leave, the feed closes its session.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        exchange.run(seconds=args.seconds, max_orders=args.max_orders, burst=args.burst)
    except KeyboardInterrupt:
        pass
    except Exception as error:
        from ..hybrid.link import LinkError
        from ..wal import LogFailure
        from ..wal.epoch import Fenced
        if not isinstance(error, (LogFailure, Fenced, LinkError)):
            raise
        # The engine holds commands the log will never have (or the pipeline
        # stopped answering mid-command): take no more orders. Reports already
        # acknowledged still leave (close releases them); a restart recovers
        # from what is on disk.
        failure = error
        print(f"gatebook run: {error}", file=sys.stderr, flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
        if journal is not None:
            closing = _close_journal(journal, None)
            if closing is not None and failure is None:
                print(f"gatebook run: {closing}", file=sys.stderr, flush=True)
                failure = closing
        exchange.close()
        port.close()
        if engine is not None:
            engine.close()
        if replication is not None:
            replication.close()
    gateway, counts = exchange.gateway, exchange.counts
    print(f"run: {counts['datagrams_in']:,} datagrams, {gateway.messages:,} orders, "
          f"{counts['replies']:,} reply datagrams, {counts['md_packets']:,} MoldUDP64 packets "
          f"({counts['md_messages']:,} ITCH messages); duplicates {gateway.tracker.duplicates}, "
          f"gap messages {gateway.tracker.gaps}")
    if engine is not None:
        punts = ", ".join(f"{reason.name.lower()} {count}"
                          for reason, count in sorted(engine.punts.items()))
        print(f"run: pipeline matched {engine.lane_commands:,} commands; "
              f"{sum(lane.loads for lane in engine.lanes)} loads, punts: {punts or 'none'}")
    logins = exchange.sessions.logins
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
    if replication is not None:
        print("run: replication refused: " + (", ".join(
            f"{kind} {count}" for kind, count in sorted(replication.refused.items())) or "none"))
    if journal is not None:
        last = journal.sequencer.next_seq - 1
        print(f"run: log {args.log}: acknowledged up to seq {acks.seq}"
              + (f"; seq {acks.seq + 1}..{last} never acknowledged, their reports not sent"
                 if last > acks.seq else ""))
    return 3 if failure is not None else 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _close_journal(journal, replication):
    """Sync and close the log; the LogFailure if that failed (said on stderr)."""
    from ..wal import LogFailure
    failure = None
    try:
        journal.close()
    except LogFailure as error:
        failure = error
    if replication is not None:
        replication.close()
    return failure
