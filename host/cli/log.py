"""`gatebook recover`, `gatebook log dump` and `gatebook standby`: the log directory, for people and tools."""

import json
import os
import sys

from gatebook.wire.records import as_dict, describe

from ..builder import BuildError, risk_front
from ..config import ConfigError
from ..protocols import register_shipped
from ..shards import exchange_config
from ..wal.format import INPUT
from ..wal.reader import LogReader, decode_payload, origin_fields
from ..wal.epoch import Fenced
from ..wal.segments import prune_segments
from ..wal.snapshot import SnapshotError, list_snapshots, read_snapshot
from ..wal.recovery import CorruptLog, RecoveryError, recover
from ..wal.channel import AuthError, SecretError, load_secret
from ..wal.standby import Follower, Refused, ShadowMismatch

__all__ = ["register"]


def register(subparsers):
    register_shipped()          # the log's origins and states of every shipped protocol
    parser = subparsers.add_parser(
        "recover", help="rebuild the engine from a log directory and say what was found",
        description="Loads the newest valid snapshot, replays the log after it and prints the "
                    "segments, records, last sequence number, snapshot used, any torn tail cut "
                    "off (its bytes are kept under LOGDIR/damaged/) and the state hash. A corrupt "
                    "record with valid records after it stops recovery (exit status 3) unless "
                    "--accept-corruption is given; so does a log that ends before one of its "
                    "snapshots or lacks a segment, unless --accept-loss is given.")
    parser.add_argument("--dir", required=True, metavar="LOGDIR", help="the log directory")
    _config_options(parser)
    parser.add_argument("--accept-corruption", action="store_true",
                        help="cut the log at a corrupt record even in the middle, dropping "
                             "(but saving) every record after it")
    parser.add_argument("--accept-loss", action="store_true",
                        help="recover a log that was cut (it ends before a snapshot's seq, or a "
                             "segment is missing) to where it ends, setting the later segments "
                             "and snapshots aside under LOGDIR/damaged/")
    parser.add_argument("--read-only", action="store_true",
                        help="change no file: report damage without cutting it")
    parser.add_argument("--no-snapshot", action="store_true", help="replay the whole log")
    parser.add_argument("--verify", action="store_true",
                        help="check every OUTPUT record against the events the replay produces")
    parser.set_defaults(run=run_recover)

    log_parser = subparsers.add_parser("log", help="inspect a log directory")
    actions = log_parser.add_subparsers(dest="log_command", metavar="ACTION", required=True)
    dump = actions.add_parser(
        "dump", help="print the log's records",
        description="Prints every valid record (sequence number, timestamp, kind, where it is, "
                    "and the command or events it holds), then where reading stopped if the "
                    "log is damaged. Changes no file.")
    dump.add_argument("--dir", required=True, metavar="LOGDIR")
    dump.add_argument("--json", action="store_true", help="one JSON object per record, for tools")
    dump.add_argument("--from", dest="from_seq", type=int, default=1, metavar="SEQ",
                      help="start at this sequence number")
    dump.add_argument("--limit", type=int, default=0, metavar="N", help="stop after N records")
    dump.set_defaults(run=run_dump)
    prune = actions.add_parser(
        "prune", help="archive or delete segments no snapshot recovery needs",
        description="Recovers LOGDIR read-only first, then archives (or deletes) the segments "
                    "that hold only commands before the oldest valid snapshot the log reaches, "
                    "as JournaledExchange(prune=...) does after each snapshot. The segment "
                    "being written is never touched.")
    prune.add_argument("--dir", required=True, metavar="LOGDIR")
    how = prune.add_mutually_exclusive_group(required=True)
    how.add_argument("--archive", nargs="?", const="", metavar="DIR",
                     help="move them to DIR (default LOGDIR/archive)")
    how.add_argument("--delete", action="store_true", help="delete them")
    prune.set_defaults(run=run_prune)

    standby = subparsers.add_parser(
        "standby", help="follow a primary's log as a hot standby; promote when it falls silent",
        description="Recovers LOGDIR, connects to the primary's replication address, applies "
                    "every record to a shadow engine (checking every OUTPUT record against it) "
                    "and logs it under --policy. A dropped connection is retried; when nothing "
                    "authenticated arrives for --heartbeat-timeout seconds and every reconnection "
                    "in that time fails, it promotes LOGDIR: the log's epoch goes up by "
                    "one (so the old primary is fenced should it come back) and the command "
                    "exits 0, saying the sequence number to continue from; start the exchange "
                    "on LOGDIR. Exit status 3: the primary is of an older epoch (stale), or "
                    "refuses this directory (its log diverged from the primary's, or the "
                    "primary pruned what it needs); 4: "
                    "silent with --no-promote.")
    standby.add_argument("--connect", required=True, metavar="HOST:PORT",
                         help="the primary's replication address")
    standby.add_argument("--replication-secret", metavar="FILE",
                         help="the secret shared with the primary (32+ random bytes, not "
                              "readable by others): both ends prove they hold it")
    standby.add_argument("--dir", required=True, metavar="LOGDIR", help="this standby's own log")
    _config_options(standby)
    standby.add_argument("--heartbeat-timeout", type=float, default=1.0, metavar="SECONDS",
                         help="silence that counts as the primary's death (default 1 s)")
    standby.add_argument("--policy", default="strict", choices=("strict", "batched", "none"),
                         help="this standby's own durability policy (default strict)")
    standby.add_argument("--no-promote", action="store_true",
                         help="on silence, exit (status 4) without promoting")
    standby.set_defaults(run=run_standby)


def _config_options(parser):
    parser.add_argument("--config", metavar="FILE",
                        help="the exchange's config (`gatebook run --config`): its [[symbols]] "
                             "and [risk] read the log as the exchange does (default: the "
                             "built-in symbols, no risk gate)")
    parser.add_argument("--shard", metavar="NAME",
                        help="with a sharded --config: the shard whose log this is")


def _reading(command, args):
    """{symbols, front} to read args.dir's log with, from --config; or an exit status."""
    if args.config is None:
        if args.shard is not None:
            print(f"gatebook {command}: --shard needs --config FILE", file=sys.stderr)
            return 2
        return {}
    try:
        config = exchange_config(args.config, args.shard)
        return {"symbols": config.symbols, "front": risk_front(config)}
    except ConfigError as error:
        print(f"gatebook {command}: {error}", file=sys.stderr)
    except BuildError as error:
        print(f"gatebook {command}: {error}", file=sys.stderr)
    return 2


def _no_directory(command, path):
    """Exit status 2 and a sentence if `path` is not a directory we can reach, else None."""
    try:
        os.stat(path)
    except FileNotFoundError:
        problem = "does not exist"
    except OSError as error:
        problem = f"cannot be reached: {error.strerror}; check the path and its permissions"
    else:
        if os.path.isdir(path):
            return None
        problem = "is not a directory (--dir wants the log directory, not a file in it)"
    print(f"gatebook {command}: {path} {problem}", file=sys.stderr)
    return 2


def _unreadable(command, directory, error):
    """Exit status 3 and a sentence for an OSError reading a log directory."""
    print(f"gatebook {command}: {RecoveryError(directory, error, 'read')}", file=sys.stderr)
    return 3


def run_recover(args):
    if _no_directory("recover", args.dir):
        return 2
    reading = _reading("recover", args)
    if reading == 2:
        return 2
    try:
        _, report = recover(args.dir, **reading, accept_corruption=args.accept_corruption,
                            accept_loss=args.accept_loss, use_snapshots=not args.no_snapshot,
                            verify_outputs=args.verify, repair=not args.read_only)
    except (CorruptLog, RecoveryError) as error:
        print(f"gatebook recover: {error}", file=sys.stderr)
        return 3
    except ValueError as error:         # an unusable snapshot list
        print(f"gatebook recover: {error}", file=sys.stderr)
        return 3
    for line in report.lines():
        print(line)
    return 0


def run_dump(args):
    if _no_directory("log dump", args.dir):
        return 2
    try:
        return _dump(args)
    except OSError as error:
        return _unreadable("log dump", args.dir, error)


def _dump(args):
    reader = LogReader(args.dir, args.from_seq)
    shown = 0
    for path, record in reader:
        segment = os.path.basename(path)
        kind = "INPUT" if record.kind == INPUT else "OUTPUT"
        inner = decode_payload(record.kind, record.payload, reader.version)
        if args.json:
            print(json.dumps({"seq": record.seq, "ts": record.ts, "kind": kind,
                              "segment": segment, "offset": record.offset,
                              "records": [origin_fields(item) or as_dict(item)
                                          for item in inner]}))
        else:
            print(f"{record.seq:>10} {record.ts} {kind:<6} {segment}+{record.offset}")
            for item in inner:
                origin = origin_fields(item)
                print(f"{'':>12}" + (describe(item) if origin is None else _describe_origin(origin)))
        shown += 1
        if args.limit and shown >= args.limit:
            return 0
    if reader.problem:
        message = f"log ends early: {reader.problem}"
        if args.json:
            print(json.dumps({"error": message}))
        print(f"gatebook log dump: {message}", file=sys.stderr)
        return 1
    if reader.ending and not args.json:
        print(reader.ending)
    return 0


def _describe_origin(origin):
    """One line for an origin: its type, then its fields (the protocol's codec names them)."""
    origin = dict(origin)
    return " ".join([origin.pop("type")] + [f"{key}={value}" for key, value in origin.items()])


def run_standby(args):
    host, _, port = args.connect.rpartition(":")
    if not host or not port.isdigit():
        print(f"gatebook standby: --connect wants HOST:PORT, not {args.connect!r}", file=sys.stderr)
        return 2
    if not args.replication_secret:
        print("gatebook standby: --replication-secret FILE is required: the standby and the "
              "primary authenticate each other with it (make one with `(umask 077; head -c 32 "
              "/dev/urandom > FILE)` and give the primary the same file)", file=sys.stderr)
        return 2
    try:
        secret = load_secret(args.replication_secret)
    except SecretError as error:
        print(f"gatebook standby: {error}", file=sys.stderr)
        return 2
    reading = _reading("standby", args)
    if reading == 2:
        return 2
    os.makedirs(args.dir, exist_ok=True)
    try:
        follower = Follower(args.dir, (host.strip("[]"), int(port)), **reading, secret=secret,
                            heartbeat_timeout=args.heartbeat_timeout, policy=args.policy)
    except (CorruptLog, AuthError) as error:
        print(f"gatebook standby: {error}", file=sys.stderr)
        return 3
    except OSError as error:
        print(f"gatebook standby: cannot reach the primary at {args.connect}: {error}",
              file=sys.stderr)
        return 2
    print(f"following {args.connect} into {args.dir} from seq {follower.next_seq} "
          f"(epoch {follower.epoch})", flush=True)
    try:
        silence = follower.follow()
    except (Fenced, Refused, CorruptLog) as error:
        follower.sock.close()
        follower.writer.close()
        print(f"gatebook standby: {error}", file=sys.stderr)
        return 3
    except ShadowMismatch as error:
        follower.sock.close()
        follower.writer.close()
        print(f"gatebook standby: {error}: this standby's log is not a copy of the primary's "
              f"(another primary's log, or a different build). It stopped following and "
              f"promotes nothing; start it again on an empty --dir to copy the primary afresh",
              file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        follower.sock.close()
        follower.writer.close()
        print(f"stopped at seq {follower.next_seq - 1}; state hash "
              f"{follower.engine.state_hash()}", flush=True)
        return 130
    last_seq = follower.next_seq - 1
    print(f"primary silent for {silence:.3f} s at seq {last_seq} (its last durable seq it "
          f"announced: {follower.primary_durable}); {follower.failed_attempts} reconnection "
          f"attempts failed", flush=True)
    if args.no_promote:
        follower.sock.close()
        follower.writer.close()
        return 4
    exchange = follower.promote(snapshot_every=0)
    exchange.close()
    print(f"promoted: {args.dir} is the log now, epoch {exchange.epoch}; the exchange continues "
          f"at seq {last_seq + 1}", flush=True)
    print(f"state hash: {exchange.engine.state_hash()}", flush=True)
    return 0


def run_prune(args):
    if _no_directory("log prune", args.dir):
        return 2
    try:
        return _prune(args)
    except (CorruptLog, RecoveryError, ValueError) as error:
        print(f"gatebook log prune: the log does not recover cleanly, pruning nothing: {error}",
              file=sys.stderr)
        return 3
    except OSError as error:
        return _unreadable("log prune", args.dir, error)


def _prune(args):
    _, report = recover(args.dir, repair=False)
    usable = []
    for seq, path in list_snapshots(args.dir):
        if seq > report.log_end_seq:
            continue                    # ahead of the log: recovery would not use it
        try:
            read_snapshot(path)
        except SnapshotError:
            continue
        usable.append(seq)
    if not usable:
        print("gatebook log prune: no valid snapshot within the log; nothing can go",
              file=sys.stderr)
        return 1
    oldest = min(usable)
    mode = "delete" if args.delete else "archive"
    pruned = prune_segments(args.dir, oldest, mode, args.archive or None)
    where = "deleted" if args.delete else f"moved to {args.archive or os.path.join(args.dir, 'archive')}"
    names = [os.path.basename(path) for path in pruned]
    print(f"oldest usable snapshot: seq {oldest}")
    print(f"pruned: {len(names)} segment(s) {where}" + (f" ({names[0]} .. {names[-1]})" if names else ""))
    return 0
