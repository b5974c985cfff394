"""`gatebook recover`, `gatebook log dump` and `gatebook bench-log`, through the real CLI."""

import json
import os

from gatebook.cli import main

from wal_helpers import flip_bit, reference_hash, segments, write_log


def test_recover_prints_what_it_found(tmp_path, capsys):
    directory = str(tmp_path)
    write_log(directory, 800, segment_bytes=64 << 10)
    os.truncate(segments(directory)[-1], os.path.getsize(segments(directory)[-1]) - 5)
    assert main(["recover", "--dir", directory]) == 0
    out = capsys.readouterr().out
    assert "records: 1600" in out and "sequence: 1 .. 800" in out
    assert "snapshot: none used" in out and "tail: truncated segment-" in out
    assert f"state hash: {reference_hash(800)}" in out


def test_recover_refuses_middle_corruption_with_exit_status_3(tmp_path, capsys):
    directory = str(tmp_path)
    write_log(directory, 800, segment_bytes=64 << 10)
    flip_bit(segments(directory)[0], 1000)
    assert main(["recover", "--dir", directory]) == 3
    error = capsys.readouterr().err
    assert "segment-00000000.wal: corrupt record at offset" in error and "--accept-corruption" in error
    assert main(["recover", "--dir", directory, "--accept-corruption"]) == 0


def test_log_dump_for_people_and_for_tools(tmp_path, capsys):
    directory = str(tmp_path)
    write_log(directory, 50)
    assert main(["log", "dump", "--dir", directory]) == 0
    text = capsys.readouterr().out
    assert "INPUT" in text and "OUTPUT" in text and "new_order" in text and "accepted" in text
    assert main(["log", "dump", "--dir", directory, "--json", "--from", "10"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["seq"] == 10 and rows[0]["kind"] == "INPUT" and len(rows) == 82
    assert all(row["records"] for row in rows)


def test_log_dump_says_where_a_damaged_log_ends(tmp_path, capsys):
    directory = str(tmp_path)
    write_log(directory, 50)
    flip_bit(segments(directory)[-1], os.path.getsize(segments(directory)[-1]) - 2)
    assert main(["log", "dump", "--dir", directory]) == 1
    assert "CRC mismatch at offset" in capsys.readouterr().err


def test_bench_log_prints_its_table(tmp_path, capsys):
    assert main(["bench-log", "--orders", "2000", "--paced", "50", "--recovery-orders", "2000",
                 "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for needle in ("strict", "batched (2 ms)", "none", "fsync p99", "ack p99",
                   "recover: full replay", "size"):
        assert needle in out
    assert not os.listdir(tmp_path)                    # the scratch directory is removed


def test_bench_log_tables_follow_the_matching_bench(capsys):
    assert main(["bench", "--orders", "500", "--repeat", "1", "--log", "2000"]) == 0
    out = capsys.readouterr().out
    assert out.index("orders/s") < out.index("log append: 2,000 commands")
    for needle in ("fsync p99", "recover: full replay", "recover: newest snapshot", "size"):
        assert needle in out


SHARDED = """
[risk]
buying_power = 5000000000
max_position = 2000
max_order_qty = 500
max_order_notional = 5000000000

[[symbols]]
id = 1
name = "GATE"
[[symbols]]
id = 9
name = "ACME"
tick = 100
lot = 10
price_min = 10000
price_max = 5000000

[[shards]]
name = "A"
symbols = ["GATE"]
listen = "127.0.0.1:0"
md = "none"
[[shards]]
name = "B"
symbols = ["ACME"]
listen = "127.0.0.1:0"
md = "none"
log = "log-b"
"""


def test_recover_reads_a_shards_log_with_its_symbols_and_risk_gate(tmp_path, capsys):
    """A log of symbols and limits other than the built-in ones is read as its exchange
    wrote it only with --config (--shard); without, the replay diverges."""
    from gatebook.host.builder import risk_front
    from gatebook.host.shards import exchange_config
    from gatebook.host.wal.journal import JournaledExchange
    from gatebook.host.wal.loadgen import seeded_commands

    path = tmp_path / "x.toml"
    path.write_text(SHARDED)
    config = exchange_config(str(path), "B")
    log = JournaledExchange(config.log.directory, config.symbols, policy="none",
                            front=risk_front(config), snapshot_every=0)
    for command in seeded_commands(3, 600, symbols=config.symbols):
        log.apply(log.sequencer.stamp(*command))
    log.close()
    assert sum(log.front.rejected.values()) > 10       # the gate decided some orders
    expected = log.engine.state_hash()
    arguments = ["recover", "--dir", config.log.directory, "--verify"]
    assert main(arguments + ["--config", str(path), "--shard", "B"]) == 0
    assert f"state hash: {expected}" in capsys.readouterr().out
    assert main(arguments) != 0 or f"state hash: {expected}" not in capsys.readouterr().out
    assert main(arguments + ["--config", str(path)]) == 2
    assert "splits its symbols into shards A, B: give --shard NAME" in capsys.readouterr().err
    assert main(arguments + ["--shard", "B"]) == 2
    assert "--shard needs --config FILE" in capsys.readouterr().err
