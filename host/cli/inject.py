"""`gatebook inject`: write or send order-entry flows (scripted, random, bad)."""

import sys
import time

from ..ouch.inject import (LoginFailed, ScriptError, bad_datagrams, log_in, logout_datagram,
                          mix_in, script_datagrams, to_frames, under_session)
from ..net.defaults import OUCH_PORT
from ..ouch.gateway import flow_datagrams
from ..symbols import DEFAULT_SYMBOLS

__all__ = ["register"]


def _address(text):
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def register(subparsers):
    parser = subparsers.add_parser(
        "inject", help="write or send order-entry datagrams: scripted, random or fuzzed",
        description="Builds order-entry datagrams (gatebook/wire/ouch.py) and writes them "
                    "to a pcap file, sends them to a UDP socket, or transmits them on a DPDK "
                    "port (e.g. net_tap0,iface=gb0).")
    flow = parser.add_argument_group("flow")
    flow.add_argument("--script", metavar="FILE",
                      help="one message per line: SESSION MESSAGE field=value ... ('-' = stdin)")
    flow.add_argument("--orders", type=int, default=1000, metavar="N",
                      help="random flow of N commands when no script is given (default 1000)")
    flow.add_argument("--seed", type=int, default=1, help="seed of the random flow and fuzzing")
    flow.add_argument("--batch", type=int, default=1, help="messages per datagram (default 1)")
    flow.add_argument("--bad", type=int, default=0, metavar="K",
                      help="also mix in K truncated, oversized, garbage and fuzzed datagrams")
    out = parser.add_argument_group("destination (one of)")
    target = out.add_mutually_exclusive_group(required=True)
    target.add_argument("--pcap", metavar="FILE", help="write Ethernet frames to a pcap file")
    target.add_argument("--udp", metavar="[HOST:]PORT", type=_address,
                        help="send through a kernel UDP socket")
    target.add_argument("--dpdk", metavar="DEVARGS", help="transmit frames on a DPDK port")
    out.add_argument("--dst", default=f"127.0.0.1:{OUCH_PORT}", type=_address,
                     help=f"frame destination for --pcap/--dpdk (default 127.0.0.1:{OUCH_PORT})")
    out.add_argument("--rate", type=float, default=0, help="datagrams per second (0 = as fast as possible)")
    entry = parser.add_argument_group(
        "login (with --udp)", "An exchange serves order datagrams only after a login: with "
        "--user, inject logs in, sends every datagram under the session it gets (numbered on "
        "from where the exchange expects), then logs out.")
    entry.add_argument("--user", metavar="NAME", help="the account to log in as")
    entry.add_argument("--password-file", metavar="FILE",
                       help="a file whose first line is the password ('-' = stdin)")
    parser.set_defaults(run=run_inject)


def read_script(path):
    """The text of an order script: the file at `path`, or standard input for '-'."""
    if path == "-":
        return sys.stdin.read()
    with open(path) as script:
        return script.read()


def _datagrams(args):
    if args.script:
        datagrams = script_datagrams(read_script(args.script))
    else:
        from ..flow import generate_flow
        datagrams = flow_datagrams(generate_flow(args.orders, seed=args.seed), DEFAULT_SYMBOLS,
                                   batch=args.batch)
    if args.bad:
        datagrams = mix_in(datagrams, bad_datagrams(args.bad, args.seed), args.seed)
    return datagrams


def _paced(items, rate):
    start = time.perf_counter()
    for index, item in enumerate(items):
        if rate:
            delay = start + index / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        yield item


def _password(path):
    if path == "-":
        return sys.stdin.readline().rstrip("\r\n")
    with open(path) as file:
        return file.readline().rstrip("\r\n")


def run_inject(args):
    if args.user and not (args.udp and args.password_file):
        print("gatebook inject: --user needs --udp and --password-file", file=sys.stderr)
        return 2
    try:
        datagrams = _datagrams(args)
        password = _password(args.password_file) if args.user else None
    except (ScriptError, OSError) as error:
        print(f"gatebook inject: {error}", file=sys.stderr)
        return 2
    if args.pcap:
        from scapy.utils import PcapWriter
        writer = PcapWriter(args.pcap, linktype=1, sync=False)
        for frame in to_frames(datagrams, dst=args.dst):
            writer.write(frame)
        writer.close()
        print(f"inject: wrote {len(datagrams)} datagrams to {args.pcap} (backend: pcap file)")
    elif args.udp:
        from gatebook.dpdk_bridge.udp import SocketUdp
        sent = 0
        with SocketUdp("0.0.0.0" if args.udp[0] != "127.0.0.1" else "127.0.0.1") as sock:
            if args.user:
                try:
                    _, session, user_id, first, _ = log_in(sock, args.udp, args.user, password)
                except LoginFailed as error:
                    print(f"gatebook inject: {error}", file=sys.stderr)
                    return 1
                print(f"inject: logged in as {args.user} (user id {user_id}), session "
                      f"{session:#010x}, next message number {first}")
                datagrams = under_session(datagrams, session, first)
            for _, payload in _paced(datagrams, args.rate):
                sent += sock.send([(payload, args.udp)])
            if args.user:
                sock.send([(logout_datagram(session), args.udp)])
        print(f"inject: sent {sent} of {len(datagrams)} datagrams to "
              f"{args.udp[0]}:{args.udp[1]} (backend: kernel UDP socket)")
    else:
        from gatebook.dpdk_bridge.eal import Eal
        port = Eal.start().attach(args.dpdk)
        frames = to_frames(datagrams, dst=args.dst)
        sent = 0
        for start in range(0, len(frames), 32):
            chunk = frames[start:start + 32]
            for _ in range(1000):
                sent += port.send(chunk[sent - start:])
                if sent - start == len(chunk):
                    break
        port.close()
        print(f"inject: sent {sent} of {len(frames)} frames on {args.dpdk} (backend: DPDK)")
    return 0
