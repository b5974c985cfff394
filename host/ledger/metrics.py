"""The ledger writer's Prometheus endpoint (`gatebook ledger run --metrics HOST:PORT`).

# Ref: Prometheus text exposition format 0.0.4 (prometheus-client writes it).

A scrape reads the writer's latest `Status` (writer.py), which the loop running the
writer hands over as it goes: the scrape's thread never touches the writer itself.

Metrics (all prefixed ``gatebook_ledger_``):

==========================  ============================================================
applied_seq                 every command up to this seq is in the database
produced_seq                the newest command in the log
lag                         produced_seq - applied_seq
executions_total            executions this writer applied since it started
batches_total               transactions it committed
database_up                 1 while the database answers, else 0
errors_total{kind}          problems met, by kind (database_unavailable, damaged_log, ...)
==========================  ============================================================
"""

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from ..metrics import MetricsServer

__all__ = ["LedgerMetrics"]


class LedgerMetrics:
    """A collector of the ledger writer's status; `update(status)` hands over the newest."""

    def __init__(self, status):
        self.status = status
        self.registry = CollectorRegistry()
        self.registry.register(self)

    def update(self, status):
        self.status = status                # one reference swap: the scrape sees one whole Status

    def collect(self):
        status = self.status
        for name, help_text, value in (
                ("applied_seq", "Every command up to this seq is in the database",
                 status.applied_seq),
                ("produced_seq", "The newest command in the log", status.produced_seq),
                ("lag", "Commands in the log not yet applied to the database", status.lag),
                ("database_up", "1 while the database answers, else 0",
                 int(status.database == "up"))):
            yield GaugeMetricFamily(f"gatebook_ledger_{name}", help_text, value=value)
        yield CounterMetricFamily("gatebook_ledger_executions",
                                  "Executions applied by this writer since it started",
                                  value=status.executions)
        yield CounterMetricFamily("gatebook_ledger_batches", "Transactions committed",
                                  value=status.batches)
        errors = CounterMetricFamily("gatebook_ledger_errors", "Problems met, by kind",
                                     labels=("kind",))
        for kind, count in sorted(status.errors.items()):
            errors.add_metric((str(kind),), count)
        yield errors

    def describe(self):
        return []

    def serve(self, host, port):
        """Serve /metrics over HTTP on (host, port), port 0 picks one; return a MetricsServer."""
        return MetricsServer(self.registry, host, port)
