"""The flow split by symbol: shards give the events one engine gives, and the shard benchmark."""

import re

import pytest

from gatebook.cli import main
from gatebook.host.engine import MatchingEngine
from gatebook.host.flow import FlowMix, generate_flow
from gatebook.host.shards.bench import assign_round_robin, run_shards, split_flow
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.wire.enums import ALL_SYMBOLS, AdminAction, MassCancelScope
from gatebook.wire.positions import CODE, INTERNAL
from gatebook.wire.internal import ADMIN, EXECUTED, MASS_CANCEL, NEW_ORDER, TRADE

SPECS = DEFAULT_SYMBOLS[:4]
IDS = tuple(spec.symbol_id for spec in SPECS)


def _flow(count, seed=3):
    # mass cancels of one user's orders in one symbol, every 97 commands
    mix = FlowMix(symbols=IDS, mass_cancel_every=97)
    return generate_flow(count, seed=seed, mix=mix, specs=SPECS)


_MATCHED = {EXECUTED.code: INTERNAL.EXECUTED.match_id, TRADE.code: INTERNAL.TRADE.match_id}


def _events_by_seq(engine, commands):
    """{seq: events} with match numbers left out, and the match numbers in order."""
    out, matches = {}, []
    for command in commands:
        events = []
        for event in engine.apply(command):
            position = _MATCHED.get(event[CODE])
            if position is not None:
                matches.append(event[position])
                event = event[:position] + (None,) + event[position + 1:]
            events.append(event)
        out[command[INTERNAL.NEW_ORDER.seq]] = events
    return out, matches


@pytest.mark.parametrize("shards", [2, 3])
def test_shards_give_every_command_the_events_one_engine_gives(shards):
    """The same events for every command (stamps kept), but for the match numbers."""
    flow = _flow(6_000)
    one, _ = _events_by_seq(MatchingEngine(SPECS), flow)
    groups = assign_round_robin(SPECS, shards)
    parts = split_flow(flow, groups)
    assert sum(len(part) for part in parts) == len(flow)
    sharded = {}
    for group, part in zip(groups, parts):
        assert {c[INTERNAL.NEW_ORDER.symbol] for c in part if c[CODE] == NEW_ORDER.code} \
            <= set(group)
        events, matches = _events_by_seq(MatchingEngine(SPECS), part)
        sharded.update(events)
        # each shard numbers its own matches (its own ITCH channel), from 1 without a gap;
        # an execution and its trade print share one
        assert sorted(set(matches)) == list(range(1, len(set(matches)) + 1))
    assert sharded == one


def test_commands_for_every_symbol_go_to_every_shard():
    stamp = (1, 2)
    # (code, seq, ts, scope, user, symbol): scope USER cancels the user's orders in every symbol
    everyone = (MASS_CANCEL.code, *stamp, int(MassCancelScope.USER), 5, 1)
    one_symbol = (MASS_CANCEL.code, *stamp, int(MassCancelScope.USER_SYMBOL), 5, 2)
    halt_all = (ADMIN.code, *stamp, int(AdminAction.HALT), ALL_SYMBOLS)
    parts = split_flow([everyone, one_symbol, halt_all], [[1, 3], [2, 4]])
    assert parts == [[everyone, halt_all], [everyone, one_symbol, halt_all]]


def test_shard_processes_report_their_commands_and_the_hash_of_their_books():
    flow = _flow(3_000)
    groups = assign_round_robin(SPECS, 2)
    parts = split_flow(flow, groups)
    result = run_shards(parts, SPECS)
    assert [shard.commands for shard in result.shards] == [len(part) for part in parts]
    for shard, part in zip(result.shards, parts):
        engine = MatchingEngine(SPECS)
        for command in part:
            engine.apply(command)
        assert shard.state_hash == engine.state_hash()
        assert shard.end_ns > shard.start_ns and shard.cpu_seconds > 0
    assert result.commands == len(flow) and result.per_second > 0


def test_bench_shards_prints_one_row_per_shard_count_and_the_ratio(capsys):
    assert main(["bench-shards", "--orders", "4000", "--repeat", "1", "--shards", "1,2"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^\s+1\s+[\d,]+\s+[\d.]+\s+[\d,]+\s+GATE\+AAPL\+MSFT\+PENNY 4,000 ", out,
                     re.MULTILINE), out
    assert re.search(r"^\s+2\s+[\d,]+ .* GATE\+MSFT [\d,]+ [\d,]+ [\d.]+; AAPL\+PENNY ", out,
                     re.MULTILINE), out
    assert re.search(r"2 shards / 1 shard: [\d.]+x commands/s; [\d.]+x per CPU second", out), out


def test_bench_shards_refuses_more_shards_than_symbols(capsys):
    assert main(["bench-shards", "--symbols", "2", "--shards", "3", "--orders", "10"]) == 2


def test_end_to_end_every_shard_answers_every_order_the_golden_engine_expects(tmp_path):
    """Through two `gatebook run --shard` processes over UDP: each shard's replies are
    exactly those its part of the flow draws on the golden engine, with no gap."""
    from gatebook.host.cli.shards_e2e import run_end_to_end
    flow = _flow(2_000)
    groups = assign_round_robin(SPECS, 2)
    run, results, summaries = run_end_to_end(flow, SPECS, groups, workdir=str(tmp_path),
                                             batch=16)
    parts = split_flow(flow, groups)
    # mass cancels have no OUCH message: the senders carry the rest
    sent = [sum(1 for c in part if c[CODE] != MASS_CANCEL.code) for part in parts]
    assert [shard.commands for shard in run.shards] == sent
    for result, summary, count in zip(results, summaries, sent):
        assert result["replies"] == result["expected"] > count, (result, summary)
        assert result["gap_messages"] == 0 and not result["refused"], result
        assert f" {count:,} orders," in summary and "gap messages 0" in summary, summary


def test_bench_shards_e2e_reports_the_senders_cpu_beside_the_shards(capsys):
    assert main(["bench-shards", "--orders", "3000", "--repeat", "1", "--shards", "1,2",
                 "--e2e", "--e2e-orders", "1500"]) == 0
    out = capsys.readouterr().out
    # shards, commands/s, shards' CPU s, senders' CPU s, per CPU s; then per shard:
    # commands, commands/s, CPU s, waited s, sender CPU s, replies/expected, gap messages 0
    row = r"[\d,]+ [\d,]+ [\d.]+ [\d.]+ [\d.]+ ([\d,]+)/([\d,]+) 0"
    for count in (1, 2):
        match = re.search(rf"^\s+{count}\s+[\d,]+\s+[\d.]+\s+[\d.]+\s+[\d,]+  {row}"
                          + (f"; {row}$" if count == 2 else "$"), out, re.MULTILINE)
        assert match, out
        assert match.group(1) == match.group(2)
    assert re.search(r"end to end, 2 shards / 1 shard: [\d.]+x commands/s", out), out
