"""Ethernet frames through a kernel AF_PACKET socket: the kernel-side stand-in
for a DPDK `Port` where only frames (no IP) are wanted.

# Ref: packet(7) (AF_PACKET, SOCK_RAW, PACKET_OUTGOING).

`RawSocketPort(iface, ethertype)` has the `recv()`/`send()`/`mac`/`close()`
that `gatebook.host.net.link.PacketLaneLink` and `gatebook.sim.cosim.bridge.LaneBridge` use, so the same
link code runs over DPDK or over the kernel.
"""

import socket

__all__ = ["RawSocketPort"]

_PACKET_OUTGOING = 4


class RawSocketPort:
    """Frames of one EtherType on interface `iface` (needs CAP_NET_RAW)."""

    backend = "af_packet socket"

    def __init__(self, iface, ethertype):
        self.iface = iface
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ethertype))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind((iface, ethertype))
        self.sock.setblocking(False)
        with open(f"/sys/class/net/{iface}/address") as address:
            self.mac = address.read().strip()

    def fileno(self):
        """The socket's descriptor, so a caller can wait for frames with select()."""
        return self.sock.fileno()

    def recv(self, max_packets=32):
        out = []
        try:
            while len(out) < max_packets:
                frame, address = self.sock.recvfrom(65535)
                if address[2] != _PACKET_OUTGOING:       # not our own transmissions
                    out.append(frame)
        except BlockingIOError:
            pass
        return out

    def send(self, frames):
        sent = 0
        for frame in frames:
            try:
                self.sock.send(frame)
            except BlockingIOError:
                break
            sent += 1
        return sent

    def close(self):
        self.sock.close()
