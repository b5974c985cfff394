"""`gatebook run`: the exchange on a DPDK port or a kernel UDP socket."""

import sys

from ..clock import WallClock
from ..exchange_server import Exchange
from ..net_defaults import MOLDUDP64_GROUP, MOLDUDP64_PORT, OUCH_PORT
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
    link = parser.add_argument_group("matching pipeline at the end of a packet link "
                                     "(default: the golden model in this process)")
    where = link.add_mutually_exclusive_group()
    where.add_argument("--link-dpdk", metavar="DEVARGS", help="link frames through this DPDK device")
    where.add_argument("--link-iface", metavar="IFACE", help="link frames through a kernel interface")
    link.add_argument("--link-peer", metavar="MAC", help="the pipeline's MAC address")
    parser.set_defaults(run=run_exchange)


def run_exchange(args):
    from dpdk_bridge.udp import open_udp
    if args.backend == "dpdk" and not args.dpdk:
        print("gatebook run: --backend dpdk needs --dpdk DEVARGS", file=sys.stderr)
        return 2
    from dpdk_bridge import DpdkError, DpdkUnavailable
    try:
        port = open_udp(args.backend, *args.listen, devargs=args.dpdk, burst=args.burst)
    except (DpdkUnavailable, DpdkError, OSError, ValueError) as error:
        print(f"gatebook run: cannot open the {args.backend} backend: {error}", file=sys.stderr)
        return 1
    engine, matcher = None, "golden model in-process"
    if args.link_dpdk or args.link_iface:
        if not args.link_peer:
            print("gatebook run: a link needs --link-peer MAC", file=sys.stderr)
            port.close()
            return 2
        from ..link import LinkEngine, PacketLink
        if args.link_dpdk:
            from dpdk_bridge.eal import Eal
            link_port = Eal.start().attach(args.link_dpdk)
        else:
            from dpdk_bridge.raw import RawSocketPort
            from gatebook.wire.link_frame import ETHERTYPE
            link_port = RawSocketPort(args.link_iface, ETHERTYPE)
        engine = LinkEngine(PacketLink(link_port, args.link_peer))
        matcher = f"pipeline at {args.link_peer} via {args.link_dpdk or args.link_iface}"
    md = None if args.md == "none" else _address(args.md)
    where = f" on {args.dpdk}" if args.backend == "dpdk" else ""
    print(f"run: backend {args.backend}{where}, orders on {args.listen[0]}:{args.listen[1]}, "
          f"market data to {'nowhere' if md is None else f'{md[0]}:{md[1]}'}; "
          f"matching: {matcher}", flush=True)
    exchange = Exchange(port, DEFAULT_SYMBOLS, WallClock(), md_destination=md, engine=engine)
    try:
        exchange.run(seconds=args.seconds, max_orders=args.max_orders, burst=args.burst)
    except KeyboardInterrupt:
        pass
    finally:
        exchange.close()
        port.close()
        if engine is not None:
            engine.link.close()
    gateway, counts = exchange.gateway, exchange.counts
    print(f"run: {counts['datagrams_in']:,} datagrams, {gateway.messages:,} orders, "
          f"{counts['replies']:,} reply datagrams, {counts['md_packets']:,} MoldUDP64 packets "
          f"({counts['md_messages']:,} ITCH messages); duplicates {gateway.tracker.duplicates}, "
          f"gap messages {gateway.tracker.gaps}")
    for reason, count in sorted(gateway.bad.items()):
        print(f"run: refused {count} datagrams: {reason}")
    for peer, reason in list(gateway.bad_log)[-5:]:
        print(f"run:   e.g. from {peer}: {reason}")
    return 0
