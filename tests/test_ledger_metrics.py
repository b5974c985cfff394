"""`gatebook ledger run --metrics`: the writer's lag as Prometheus metrics, from a real
writer process following a real log."""

import signal
import subprocess
import sys

from gatebook.cli import main
from gatebook.host.ledger.bench import write_seeded_log

from test_metrics import scrape
from waiting import wait_for


def test_a_scrape_shows_the_writer_catching_up_to_the_log(tmp_path):
    log = str(tmp_path / "log")
    total = write_seeded_log(log, 3000)
    child = subprocess.Popen(
        [sys.executable, "-m", "gatebook.cli", "ledger", "run", "--log", log, "--db",
         f"sqlite:///{tmp_path / 'ledger.db'}", "--metrics", "127.0.0.1:0",
         "--status-every", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        while "metrics on" not in line:
            line = child.stdout.readline()
            assert line, child.stderr.read()
        address = line.split("http://")[1].split("/")[0].rpartition(":")
        address = (address[0], int(address[2]))

        def caught_up():
            seen = scrape(address)
            return seen if seen[("gatebook_ledger_lag", ())] == 0 and \
                seen[("gatebook_ledger_applied_seq", ())] == total else None
        seen = wait_for(caught_up, "the writer to catch up", 60)
        assert seen[("gatebook_ledger_produced_seq", ())] == total
        assert seen[("gatebook_ledger_executions_total", ())] > 100
        assert seen[("gatebook_ledger_batches_total", ())] >= 1
        assert seen[("gatebook_ledger_database_up", ())] == 1
        # More commands in the log: the scrape sees the lag, then the catch-up.
        more = write_seeded_log(log, 6000)
        wait_for(lambda: scrape(address)[("gatebook_ledger_applied_seq", ())] == more,
                 "the writer to follow the log", 60)
        child.send_signal(signal.SIGTERM)
        _, errors = child.communicate(timeout=30)
        assert child.returncode == 0, errors
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()


def test_a_bad_metrics_address_is_refused(tmp_path, capsys):
    log = str(tmp_path / "log")
    write_seeded_log(log, 10)
    assert main(["ledger", "run", "--log", log, "--db", f"sqlite:///{tmp_path / 'l.db'}",
                 "--metrics", "nowhere"]) == 2
    assert "--metrics nowhere" in capsys.readouterr().err
