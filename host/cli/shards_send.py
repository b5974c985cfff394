"""`gatebook shards send`: one client's orders, each to the shard that owns its symbol.

The client logs in to every shard (one session each, the same account), routes
every message with `OrderRouter` and sends each shard its own datagrams,
numbered in that shard's session. Replies come back from each shard on its own
numbering; they are counted per shard and by message.
"""

import sys
import time
from collections import Counter

from gatebook.wire import ouch

from ..ouch.framing import INBOUND_CODEC, OUTBOUND_CODEC, decode_datagram, encode_datagram
from ..ouch.inject import LoginFailed, ScriptError, log_in, logout_datagram, script_datagrams
from ..shards.router import OrderRouter
from .inject import read_script

__all__ = ["send_routed", "ShardSessions"]

_OUTBOUND = ouch.OUTBOUND.by_code()


class ShardSessions:
    """One socket logged in to every shard of a map: send records, collect replies.

    Parameters
    ----------
    sock : DatagramPort
        e.g. `gatebook.dpdk_bridge.udp.SocketUdp`.
    shard_map : ShardMap
    user, password : str
    """

    def __init__(self, sock, shard_map, user, password):
        self.sock, self.shard_map = sock, shard_map
        self.router = OrderRouter(shard_map)
        self.sessions, self.next_number = {}, {}
        self.replies = {name: Counter() for name in shard_map.names}
        self._shard_at = {shard.listen: shard.name for shard in shard_map.shards}
        for shard in shard_map.shards:
            _, session, _, first, _ = log_in(sock, shard.listen, user, password)
            self.sessions[shard.name], self.next_number[shard.name] = session, first

    def send(self, records, batch=1):
        """Route `records` and send each shard its share, `batch` per datagram; messages sent."""
        sent = 0
        for name, routed in self.router.split(records).items():
            address = self.shard_map.shard(name).listen
            for start in range(0, len(routed), batch):
                chunk = routed[start:start + batch]
                payload = encode_datagram(self.sessions[name], self.next_number[name], chunk)
                self.next_number[name] += len(chunk)
                sent += len(chunk) * self.sock.send([(payload, address)])
        return sent

    def collect(self, seconds):
        """Count the replies that arrive within `seconds`, per shard and message name."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            received = self.sock.recv(64)
            if not received:
                time.sleep(0.002)
            for payload, peer in received:
                name = self._shard_at.get(tuple(peer))
                try:
                    _, _, records = decode_datagram(payload, OUTBOUND_CODEC)
                except ValueError:
                    continue
                if name is not None:
                    self.replies[name].update(_OUTBOUND[r[0]].name for r in records)

    def close(self):
        """Log out of every shard."""
        for name, session in self.sessions.items():
            self.sock.send([(logout_datagram(session), self.shard_map.shard(name).listen)])


def _records(config, args):
    if args.script:
        datagrams = script_datagrams(read_script(args.script))
    else:
        from ..flow import FlowMix, generate_flow
        from ..ouch.gateway import flow_datagrams
        mix = FlowMix(symbols=tuple(spec.symbol_id for spec in config.symbols))
        commands = generate_flow(args.orders, seed=args.seed, mix=mix, specs=config.symbols)
        datagrams = flow_datagrams(commands, config.symbols)
    return [record for _, payload in datagrams
            for record in decode_datagram(payload, INBOUND_CODEC)[2]]


def _password(path):
    if path == "-":
        return sys.stdin.readline().rstrip("\r\n")
    with open(path) as file:
        return file.readline().rstrip("\r\n")


def send_routed(config, shard_map, args):
    """Run `gatebook shards send`; its exit status."""
    from gatebook.dpdk_bridge.udp import SocketUdp
    try:
        records = _records(config, args)
        password = _password(args.password_file)
    except (ScriptError, OSError, ValueError) as error:
        print(f"gatebook shards send: {error}", file=sys.stderr)
        return 2
    with SocketUdp("127.0.0.1") as sock:
        try:
            client = ShardSessions(sock, shard_map, args.user, password)
        except LoginFailed as error:
            print(f"gatebook shards send: {error}", file=sys.stderr)
            return 1
        sent = client.send(records, batch=args.batch)
        client.collect(args.wait)
        client.close()
    print(f"shards send: {sent} of {len(records)} messages sent as {args.user}")
    for name in shard_map.names:
        counts = ", ".join(f"{kind} {count}"
                           for kind, count in sorted(client.replies[name].items()))
        print(f"shards send: {name}: session {client.sessions[name]:#010x}; replies: "
              f"{counts or 'none'}")
    print("shards send: not routed: " + (", ".join(
        f"{kind} {count}" for kind, count in sorted(client.router.refused.items())) or "none"))
    return 0
