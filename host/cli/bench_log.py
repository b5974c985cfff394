"""`gatebook bench-log`: what durability costs.

Three measurements, each on real files with real fdatasync in a scratch
directory (default: a new one under the system temp directory, removed
afterwards; --dir puts it on the disk you care about):

1. log append per policy: a seeded flow is run through the engine first, then
   its commands and events are handed to a LogWriter as fast as it takes them;
   records/s and MB/s count from the first append to the last record durable
   under the policy, plus fdatasync latency per batch (p50/p99, HdrHistogram);
   then the same with one command in flight at a time (ack latency p50/p99);
2. recovery of an N-command log (--recovery-orders; the issue's figure is
   1,000,000) written with the exchange's default snapshots: reading and
   checking every record only, a full replay without snapshots (and with
   --verify, comparing every OUTPUT record), then the production path: the
   newest snapshot plus its tail, and the snapshot before it plus the
   longest tail the cadence allows;
3. snapshot of the engine that log leaves: capture (the pause on the matching
   thread), encode, write+fsync, and its size.
"""

import argparse
import os
import shutil
import tempfile
import time

from hdrh.histogram import HdrHistogram
from gatebook.wire import internal
from gatebook.wire.codec import ProtocolCodec

from ..clock import ManualClock
from ..engine import MatchingEngine
from ..symbols import DEFAULT_SYMBOLS
from ..wal.journal import JournaledExchange
from ..wal.loadgen import START_NS, STEP_NS, seeded_commands, stamped
from ..wal.format import check_records, decode_segment_header
from ..wal.recovery import recover
from ..wal.segments import list_segments
from ..wal.snapshot import capture, encode, list_snapshots, write_snapshot
from ..wal.writer import Durability, LogWriter

__all__ = ["register", "run_log_bench"]

_encode_command = ProtocolCodec(internal.COMMANDS).encode


def register(subparsers):
    parser = subparsers.add_parser(
        "bench-log", help="benchmark the write-ahead log: append, fsync, recovery, snapshots",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_options(parser)
    parser.set_defaults(run=run_bench_log)


def _add_options(parser):
    parser.add_argument("--orders", type=int, default=200_000, metavar="N",
                        help="commands appended per policy (default 200,000)")
    parser.add_argument("--recovery-orders", type=int, default=200_000, metavar="N",
                        help="commands in the recovered log (default 200,000; the design "
                             "target is quoted for 1,000,000)")
    parser.add_argument("--snapshot-every", type=int, default=50_000, metavar="N",
                        help="snapshot cadence of the recovered log (default 50,000, the "
                             "exchange's default; 0 for none)")
    parser.add_argument("--segment-mib", type=int, default=16, metavar="MIB",
                        help="segment size of the recovered log (default 16, the writer's default)")
    parser.add_argument("--verify", action="store_true",
                        help="also time `recover --verify` (every OUTPUT record compared)")
    parser.add_argument("--paced", type=int, default=2_000, metavar="N",
                        help="commands sent one at a time, each waiting for its ack (default 2,000)")
    parser.add_argument("--batch-ms", type=float, default=2.0,
                        help="fdatasync interval of the batched policy (default 2 ms)")
    parser.add_argument("--policies", default="strict,batched,none",
                        help="comma-separated policies to measure (default all three)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", help="scratch directory (its disk is what gets measured)")


def run_log_bench(**options):
    """Run the log benchmark with its defaults, or these options (`gatebook bench --log`)."""
    parser = argparse.ArgumentParser()
    _add_options(parser)
    args = parser.parse_args([])
    for name, value in options.items():
        if not hasattr(args, name):
            raise TypeError(f"bench-log has no option {name!r}")
        setattr(args, name, value)
    return run_bench_log(args)


def run_bench_log(args):
    scratch = tempfile.mkdtemp(prefix="gatebook-bench-log-", dir=args.dir)
    try:
        print(f"gatebook bench-log: scratch directory {scratch}")
        _bench_append(args, scratch)
        _bench_recovery(args, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


def _flow(count, seed):
    """Stamped commands with their events and encoded bytes, computed before timing."""
    engine = MatchingEngine(DEFAULT_SYMBOLS)
    return [(command[1], command[2], _encode_command(command), engine.apply(command))
            for command in stamped(seeded_commands(seed, count))]


def _bench_append(args, scratch):
    flow = _flow(args.orders, args.seed)
    exposed = []
    print(f"\nlog append: {len(flow):,} commands = {2 * len(flow):,} records per policy "
          f"(an INPUT and an OUTPUT record each)")
    print(f"{'policy':<18} {'records/s':>11} {'MB/s':>7} {'batches':>8} {'rec/batch':>9} "
          f"{'fsyncs':>7} {'fsync p50':>10} {'fsync p99':>10}")
    for name in args.policies.split(","):
        policy = Durability(name.strip())
        directory = os.path.join(scratch, f"append-{policy.value}")
        os.makedirs(directory)
        writer = LogWriter(directory, policy, batch_ms=args.batch_ms)
        started = time.perf_counter()
        append = writer.append
        for item in flow:
            append(*item)
        writer.close()
        elapsed = time.perf_counter() - started
        histogram = writer.sync_micros
        label = f"{policy.value}" + (f" ({args.batch_ms:g} ms)" if policy is Durability.BATCHED else "")
        p50 = f"{histogram.get_value_at_percentile(50):,} us" if writer.syncs else "-"
        p99 = f"{histogram.get_value_at_percentile(99):,} us" if writer.syncs else "-"
        print(f"{label:<18} {writer.records / elapsed:>11,.0f} {writer.bytes / elapsed / 1e6:>7.1f} "
              f"{writer.batches:>8,} {writer.records / max(1, writer.batches):>9.1f} "
              f"{writer.syncs:>7,} {p50:>10} {p99:>10}")
        if policy is Durability.BATCHED:
            exposed.append(("flat out", writer))
    exposed += _bench_paced(args, scratch, flow[:args.paced])
    if any(name.strip() == "batched" for name in args.policies.split(",")):
        exposed.insert(1, _bench_bursts(args, scratch, flow[:50_000]))
        _print_exposure(args, exposed)


def _bench_bursts(args, scratch, flow, burst=32, pause=0.0005):
    """batched under a steady load: bursts of `burst` commands, `pause` seconds apart."""
    directory = os.path.join(scratch, "bursts-batched")
    os.makedirs(directory)
    writer = LogWriter(directory, Durability.BATCHED, batch_ms=args.batch_ms)
    for start in range(0, len(flow), burst):
        for item in flow[start:start + burst]:
            writer.append(*item)
        time.sleep(pause)
    writer.close()
    return f"bursts of {burst}", writer


def _print_exposure(args, exposed):
    print(f"\nbatched ({args.batch_ms:g} ms): from an acknowledgement leaving (its write done) to "
          f"the start of the fdatasync that covers it, and to its end (what a power cut can take)")
    print(f"{'load':<16} {'acks':>7} {'to sync p50':>12} {'p99':>10} {'max':>10} "
          f"{'to durable p50':>15} {'p99':>10} {'max':>10}")
    for load, writer in exposed:
        cells = []
        for histogram in (writer.waited_micros, writer.exposed_micros):
            cells += [histogram.get_value_at_percentile(50), histogram.get_value_at_percentile(99),
                      histogram.get_max_value()]
        print(f"{load:<16} {writer.exposed_micros.get_total_count():>7,} "
              f"{cells[0]:>9,} us {cells[1]:>7,} us {cells[2]:>7,} us "
              f"{cells[3]:>12,} us {cells[4]:>7,} us {cells[5]:>7,} us")


def _bench_paced(args, scratch, flow):
    """One command at a time, each waiting for its acknowledgement: the latency a lone order sees."""
    print(f"\none command in flight ({len(flow):,} commands, each waits for its ack):")
    print(f"{'policy':<18} {'commands/s':>11} {'ack p50':>10} {'ack p99':>10}")
    exposed = []
    for name in args.policies.split(","):
        policy = Durability(name.strip())
        directory = os.path.join(scratch, f"paced-{policy.value}")
        os.makedirs(directory)
        writer = LogWriter(directory, policy, batch_ms=args.batch_ms)
        latency = HdrHistogram(1, 60_000_000, 3)
        started = time.perf_counter()
        for item in flow:
            sent = time.perf_counter_ns()
            writer.append(*item)
            writer.wait_acked(item[0])
            latency.record_value(max(1, (time.perf_counter_ns() - sent) // 1000))
        elapsed = time.perf_counter() - started
        writer.close()
        label = f"{policy.value}" + (f" ({args.batch_ms:g} ms)" if policy is Durability.BATCHED else "")
        print(f"{label:<18} {len(flow) / elapsed:>11,.0f} "
              f"{latency.get_value_at_percentile(50):>7,} us {latency.get_value_at_percentile(99):>7,} us")
        if policy is Durability.BATCHED:
            exposed.append(("one in flight", writer))
    return exposed


def _bench_recovery(args, scratch):
    directory = os.path.join(scratch, "recovery")
    count = args.recovery_orders
    every = args.snapshot_every
    print(f"\nrecovery: building a {count:,}-command log (policy none, snapshots every "
          f"{every:,} commands, {args.segment_mib} MiB segments; not timed) ...", flush=True)
    exchange = JournaledExchange(directory, policy=Durability.NONE, snapshot_every=every,
                                 clock=ManualClock(START_NS, STEP_NS),
                                 segment_bytes=args.segment_mib << 20)
    for command in seeded_commands(args.seed, count):
        exchange.submit(*command)
    exchange.close()
    size = sum(os.path.getsize(path) for _, path in list_segments(directory))
    expected = exchange.engine.state_hash()
    snapshots = list_snapshots(directory)

    started = time.perf_counter()
    records = _check_every_record(directory)
    scan = time.perf_counter() - started
    rows = [("read + CRC-check every record", scan, count)]
    engine, report = recover(directory, use_snapshots=False)
    assert engine.state_hash() == expected, "recovery gave another state"
    rows.append(("recover: full replay (default checks)", report.seconds, report.replayed))
    if args.verify:
        engine, verified = recover(directory, use_snapshots=False, verify_outputs=True)
        assert engine.state_hash() == expected and verified.verified == count
        rows.append(("recover --verify: full replay + OUTPUTs", verified.seconds, verified.replayed))
    # The production path: a snapshot plus the commands after it. The newest
    # snapshot is the best case; the one before it leaves the longest tail the
    # cadence allows (a crash just before a snapshot was due).
    for label, limit in (("newest snapshot", None),
                         ("snapshot before it", snapshots[0][0] - 1 if snapshots else 0)):
        if len(snapshots) < (1 if limit is None else 2):
            break
        engine, tail = recover(directory, snapshot_limit=limit)
        assert engine.state_hash() == expected, f"recovery from the {label} gave another state"
        rows.append((f"recover: {label} (seq {tail.snapshot_seq:,}) + tail", tail.seconds,
                     tail.replayed))

    started = time.perf_counter()
    state = capture(engine, 0)
    captured = time.perf_counter() - started
    data = encode(state)
    encoded = time.perf_counter() - started - captured
    write_snapshot(scratch, data, state.last_seq)
    written = time.perf_counter() - started - captured - encoded
    live = len(engine.orders)

    print(f"log: {report.inputs:,} commands, {records:,} records, {size / 1e6:.1f} MB "
          f"in {len(report.segments)} segments, {len(snapshots)} snapshots kept "
          f"({', '.join(f'seq {seq:,}' for seq, _ in snapshots)})")
    print(f"{'step':<50} {'seconds':>8} {'replayed':>9} {'per command':>12}")
    for label, seconds, replayed in rows:
        per = f"{seconds / replayed * 1e6:>9.2f} us" if replayed == count else f"{'-':>12}"
        print(f"{label:<50} {seconds:>8.3f} {replayed:>9,} {per}")
    print(f"\nsnapshot of that state ({live:,} live orders, {len(state.used_ids):,} used ids):")
    print(f"  capture (matching paused) {captured * 1e3:8.1f} ms")
    print(f"  encode (background)       {encoded * 1e3:8.1f} ms")
    print(f"  write + fsync             {written * 1e3:8.1f} ms")
    print(f"  size                      {len(data) / 1e6:8.2f} MB")
    print(f"state hash: {expected}")


def _check_every_record(directory):
    """Read every segment and check every record as recovery does, applying nothing."""
    records, next_seq, output_seen = 0, None, True
    for _, path in list_segments(directory):
        with open(path, "rb") as file:
            data = file.read()
        _, first_seq = decode_segment_header(data)
        end = check_records(data, first_seq if next_seq is None else next_seq,
                            output_seen=output_seen)
        assert end.damage is None, end.damage
        records += end.next_seq - first_seq + end.outputs
        next_seq, output_seen = end.next_seq, end.output_seen
    return records
