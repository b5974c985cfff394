"""The market-data recovery services on one thread: re-requests (UDP) and snapshots (TCP).

The exchange loop publishes; this thread answers subscribers, so a flood of
requests or a slow snapshot reader never delays matching. Both servers read
the publisher under its lock (publisher.py). The thread also sends the
feed's heartbeats (MoldUDP64 1.00: about one a second while nothing else is
sent) from a socket of its own, so a quiet exchange loop need not wake up.
Once the session has ended they are end-of-session packets, and `close`
lingers a while: the spec's last chance to ask for what was missed.
"""

import logging
import selectors
import threading

from gatebook.dpdk_bridge.udp import SocketUdp

from .request_server import RequestServer
from .snapshot_server import SnapshotServer

__all__ = ["RecoveryService"]

_log = logging.getLogger("gatebook.marketdata")


class RecoveryService:
    """A thread serving MoldUDP64 re-requests and snapshots of one publisher.

    Parameters
    ----------
    publisher : MoldPublisher
    request : (ip, port) or None
        Where the re-request server listens (UDP); None: no re-requests.
    snapshot : (ip, port) or None
        Where the snapshot service listens (TCP); None: no snapshots.
    request_options, snapshot_options : dict, optional
        More arguments of `RequestServer` and `SnapshotServer`.
    heartbeat : (ip, (group or ip, port)) or None
        Send heartbeats from a UDP socket on `ip` to the feed's destination
        whenever the feed was quiet for `heartbeat_seconds`; None: none.
    linger_seconds : float
        How long `close` keeps serving when the session has ended.

    Attributes
    ----------
    requests : RequestServer or None
    snapshots : SnapshotServer or None
    """

    def __init__(self, publisher, request=None, snapshot=None, request_options=None,
                 snapshot_options=None, heartbeat=None, heartbeat_seconds=1.0,
                 linger_seconds=1.0):
        self.requests = self.snapshots = self._heartbeats = None
        self.publisher, self.heartbeats = publisher, 0
        self._interval_ns = int(heartbeat_seconds * 1e9)
        self._linger = linger_seconds
        self.errors = 0
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()
        try:
            if request is not None:
                self.requests = RequestServer(publisher, *request, **(request_options or {}))
                self.requests.register(self._selector)
            if snapshot is not None:
                self.snapshots = SnapshotServer(publisher, *snapshot, **(snapshot_options or {}))
                self.snapshots.register(self._selector)
            if heartbeat is not None:
                self._heartbeats = SocketUdp(heartbeat[0], 0)
                self._feed = heartbeat[1]
        except BaseException:
            self._close_servers()
            raise
        self._thread = threading.Thread(target=self._run, name="gatebook-md-recovery",
                                        daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            for key, mask in self._selector.select(timeout=min(0.1, self._interval_ns / 4e9)):
                try:
                    key.data(mask)
                except Exception:       # a bug here must not end the service for everyone
                    self.errors += 1
                    _log.exception("market-data recovery service")
            if self.snapshots is not None:
                self.snapshots.sweep()
            if self._heartbeats is not None:
                packet = self.publisher.heartbeat_if_quiet(self._interval_ns)
                if packet is not None:
                    self.heartbeats += self._heartbeats.send([(packet, self._feed)])

    def close(self):
        """Stop the thread and close every socket (after lingering, if the session ended)."""
        if self.publisher.ended and self._thread.is_alive():
            self._stop.wait(self._linger)
        self._stop.set()
        self._thread.join()
        self._close_servers()

    def _close_servers(self):
        for server in (self.requests, self.snapshots, self._heartbeats):
            if server is not None:
                server.close()
        self._selector.close()
