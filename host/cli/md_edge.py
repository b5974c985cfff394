"""`gatebook md-edge`: a WebSocket market-data edge fed from NATS JetStream (or the feed).

Fanout grows by starting more of these, on as many machines as needed; each
serves the same JSON feed and page as `gatebook run --md-websocket`, from
the per-symbol states `gatebook run --md-nats` publishes (docs/marketdata.md).
"""

import signal
import sys
import threading
import time

from ..config import parse_address

__all__ = ["register"]


def register(subparsers):
    parser = subparsers.add_parser(
        "md-edge", help="serve the WebSocket market-data feed and page from NATS JetStream",
        description="Follows the symbol states an exchange publishes to NATS JetStream "
                    "(gatebook run --md-nats) and serves them to WebSocket clients with "
                    "per-client conflation; a killed edge costs its clients a reconnect and "
                    "a resubscribe.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--nats", metavar="URL",
                        help="NATS server, or a comma-separated list of a cluster's servers")
    source.add_argument("--mold", metavar="IP:PORT",
                        help="or the exchange's MoldUDP64 feed itself (a multicast group, or a "
                             "unicast address here), with --snapshot: no NATS, and no cost to "
                             "the exchange's process")
    parser.add_argument("--snapshot", metavar="IP:PORT",
                        help="with --mold: the exchange's snapshot service (gatebook run "
                             "--md-snapshot), for the start and after a gap")
    parser.add_argument("--listen", default="127.0.0.1:26481", metavar="IP:PORT",
                        help="where the feed (/ws) and the page (/) are served "
                             "(default 127.0.0.1:26481; port 0: any free port)")
    parser.add_argument("--reuse-port", action="store_true",
                        help="share --listen's port with other edges on this machine "
                             "(SO_REUSEPORT): the kernel spreads the clients over them, one "
                             "edge per core")
    parser.add_argument("--seconds", type=float, help="stop after this long (default: until "
                                                      "Ctrl-C or SIGTERM)")
    parser.add_argument("--max-clients", type=int, default=2000, metavar="N",
                        help="connections at most (default 2,000)")
    parser.set_defaults(run=run_edge)


def run_edge(args):
    from ..marketdata.websocket import MarketDataServer
    try:
        host, port = parse_address(args.listen)
        if args.mold:
            if not args.snapshot:
                raise ValueError("--mold needs --snapshot IP:PORT (gatebook run --md-snapshot)")
            feed, snapshot = parse_address(args.mold), parse_address(args.snapshot)
    except ValueError as error:
        print(f"gatebook md-edge: {error}", file=sys.stderr)
        return 2
    if args.mold:
        from ..marketdata.mold_source import MoldSource
        try:
            source = MoldSource(feed, snapshot)
        except OSError as error:
            print(f"gatebook md-edge: cannot receive the feed on {args.mold}: {error}",
                  file=sys.stderr)
            return 1
        origin = f"the MoldUDP64 feed on {args.mold} (snapshots from {args.snapshot})"
    else:
        from ..marketdata.nats import NatsSource
        source = NatsSource(args.nats)
        origin = f"NATS {args.nats}"
    try:
        server = MarketDataServer(source, host, port, max_clients=args.max_clients,
                                  reuse_port=args.reuse_port)
    except Exception as error:          # the port, or NATS (nats-py's own errors)
        print(f"gatebook md-edge: cannot start on {args.listen} from {origin}: "
              f"{type(error).__name__}: {error}", file=sys.stderr)
        return 1
    host, port = server.address
    print(f"md-edge: WebSocket feed on ws://{host}:{port}/ws, live page on "
          f"http://{host}:{port}/, from {origin}", flush=True)
    serving = time.process_time()
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait(args.seconds)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.close()
    if args.mold:
        print(f"md-edge: {len(source.symbols)} symbols, {source.snapshots} snapshots taken, "
              f"next sequence number {source.book.next_sequence}")
    else:
        print(f"md-edge: {source.received:,} states from NATS, {len(source.symbols)} symbols")
    # What serving cost: with the messages sent, the CPU per message (bench-md reads it).
    print(f"md-edge: CPU {time.process_time() - serving:.2f} s while serving")
    refused = "feed datagrams refused" if args.mold else "NATS states refused"
    for what, counter in (("served", server.served), ("requests refused", server.refused),
                          ("clients cut", server.cut), (refused, source.refused)):
        print(f"md-edge: {what}: " + (", ".join(
            f"{kind} {count}" for kind, count in sorted(counter.items())) or "none"))
    return 0
