"""The log's epoch: which primary's history a log directory belongs to.

A fresh log is epoch 1. A follower that promotes itself writes epoch + 1
into its directory before it accepts a command, so the history it continues
is told apart from whatever the old primary may still do. The epoch travels
in the replication handshake (HELLO from the follower, HEARTBEAT from the
primary, sent first thing on every connection), and whoever sees a higher
epoch than its own knows a newer primary exists:

- a primary that meets a follower of a higher epoch fences itself: it accepts
  no more commands (an old primary that comes back after a failover);
- a follower refuses to follow a primary of a lower epoch;
- `check_peer` lets a primary that restarts ask its standby's address before
  it accepts anything.

All of it happens only after both ends have authenticated (channel.py): an
epoch from a peer without the replication secret is never read.

The file is `LOGDIR/epoch`, one decimal number, replaced atomically and
fsync'ed (as snapshots are).
"""

import os

from gatebook.wire.wal import HEARTBEAT, HELLO

from .channel import AuthError, connect_follower
from .segments import sync_directory

__all__ = ["Fenced", "read_epoch", "write_epoch", "check_peer"]

_NAME = "epoch"


class Fenced(RuntimeError):
    """A newer primary (a higher epoch) exists: this one must accept no more commands."""


def read_epoch(directory):
    """The directory's epoch; 1 for a log that never failed over."""
    try:
        with open(os.path.join(directory, _NAME)) as file:
            text = file.read().strip()
    except FileNotFoundError:
        return 1
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{os.path.join(directory, _NAME)}: not an epoch number: {text!r}")
    return int(text)


def write_epoch(directory, epoch):
    path = os.path.join(directory, _NAME)
    temporary = path + ".partial"
    with open(temporary, "w") as file:
        file.write(f"{epoch}\n")
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    sync_directory(directory)


def check_peer(directory, peer, secret, timeout=2.0):
    """Ask the replication endpoint at `peer` (host, port) for its epoch; raise Fenced if newer.

    The question goes over an authenticated connection (channel.py), so only
    a peer holding the replication `secret` can fence us. Returns the peer's
    epoch, or None if nothing answers (then nothing is known, and with
    synchronous replication nothing gets acknowledged until a follower
    connects, which runs the same check). Raises channel.AuthError when
    something answers but does not prove it holds the secret.
    """
    epoch = read_epoch(directory)
    try:
        channel = connect_follower(peer, secret, timeout)
    except AuthError:
        raise
    except OSError:
        return None
    try:
        # The handshake of a follower that needs nothing old: a primary
        # answers every HELLO with a HEARTBEAT carrying its epoch first.
        channel.send((HELLO.code, 1 << 62, epoch, 0))
        got = channel.recv(timeout, {HEARTBEAT.code})
    except AuthError:
        raise
    except OSError:
        return None
    finally:
        channel.close()
    if got is None:
        return None
    their = got[0].epoch
    if their > epoch:
        raise Fenced(f"{peer[0]}:{peer[1]} is primary at epoch {their}, this log "
                     f"({directory}) is at epoch {epoch}: a failover happened; this exchange "
                     f"must not accept orders. Rejoin as its standby instead.")
    return their
