"""The `gatebook` command as a user runs it: a real process, its real output."""

import re
import subprocess
import sys

import pytest

from gatebook.host.engine import MatchingEngine
from gatebook.host.flow import generate_flow
from gatebook.host.symbols import DEFAULT_SYMBOLS

GATEBOOK = [sys.executable, "-m", "gatebook.cli"]
TIMING = re.compile(r"(orders/s|latency)")


def gatebook(*args, expect=0):
    done = subprocess.run(GATEBOOK + list(args), capture_output=True, text=True, timeout=120)
    assert done.returncode == expect, done.stderr
    return done


def gatebook_together(*commands):
    """`gatebook(*args)` for each of `commands`, the processes side by side (independent
    commands: their start-up, most of the cost, overlaps)."""
    children = [subprocess.Popen(GATEBOOK + list(args), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for args in commands]
    outputs = [child.communicate(timeout=120) for child in children]
    for child, (_, errors) in zip(children, outputs):
        assert child.returncode == 0, errors
    return [out for out, _ in outputs]


def untimed(text):
    return [line for line in text.splitlines() if not TIMING.search(line)]


def test_version_is_the_package_version():
    import gatebook as package
    assert gatebook("--version").stdout.strip() == f"gatebook {package.__version__}"


def test_help_lists_every_subcommand():
    out = gatebook("--help").stdout
    for command in ("demo", "bench", "book"):
        assert re.search(rf"^\s+{command}\s", out, re.MULTILINE), command


def test_demo_prints_books_trades_and_summary():
    out = gatebook("demo", "--orders", "4000").stdout
    for name in ("GATE", "AAPL", "MSFT"):
        assert re.search(rf"^{name}\s+bid .* \| ask .* last", out, re.MULTILINE), name
    assert "Last trades" in out
    summary = out[out.index("Summary"):]
    assert re.search(r"commands\s+4,000", summary)
    for label in ("orders accepted", "trades (executions)", "rejects",
                  "matching latency p50", "matching latency p99 ", "matching latency p99.9"):
        assert label in summary, label


def test_demo_is_deterministic_and_matches_the_engine():
    first, second = gatebook_together(("demo", "--orders", "3000", "--seed", "7"),
                                      ("demo", "--orders", "3000", "--seed", "7"))
    assert untimed(first) == untimed(second)
    engine = MatchingEngine(DEFAULT_SYMBOLS)
    for command in generate_flow(3000, seed=7):
        engine.apply(command)
    assert "state hash" in first and engine.state_hash() in first


def test_recorded_flow_replays_to_the_same_book(tmp_path):
    flow = tmp_path / "flow.bin"
    demo = gatebook("demo", "--orders", "2500", "--seed", "3", "--record", str(flow)).stdout
    assert flow.stat().st_size > 0
    from_file, generated = gatebook_together(
        ("book", "GATE", "--level", "2", "--input", str(flow)),
        ("book", "GATE", "--level", "2", "--orders", "2500", "--seed", "3"))
    assert from_file == generated
    l1_line = next(line for line in demo.splitlines() if line.startswith("GATE "))
    assert l1_line in from_file


@pytest.mark.parametrize("level, pattern", [
    ("1", r"^GATE\s+bid"),
    ("2", r"orders\s+bid size\s+bid \| ask"),
    ("3", r"^(BUY|SELL)\s+\d+\.\d{4}\s+#\d+:\d+\(u\d+\)"),
])
def test_book_levels(level, pattern):
    out = gatebook("book", "gate", "--level", level, "--orders", "3000").stdout
    assert re.search(pattern, out, re.MULTILINE)


def test_book_unknown_symbol_says_what_is_listed():
    err = gatebook("book", "NOPE", "--orders", "10", expect=2).stderr
    assert "unknown symbol 'NOPE'" in err and "GATE (1)" in err


def test_bench_prints_a_table():
    out = gatebook("bench", "--orders", "3000", "--repeat", "1").stdout
    assert re.search(r"run\s+orders/s\s+events/s\s+p50 us\s+p99 us\s+p99.9 us", out)
    assert re.search(r"^\s+1\s+[\d,]+\s+[\d,]+\s+[\d.]+", out, re.MULTILINE)
    assert "state hash" in out


def test_bench_counts_pipeline_cycles():
    out = gatebook("bench", "--orders", "500", "--repeat", "1", "--hw-sim", "4").stdout
    assert re.search(r"^\s+4\s+resting add\s+2\.0\s+\d+\.\d\s+\d+\.\d", out, re.MULTILINE)
