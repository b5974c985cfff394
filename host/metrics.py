"""The exchange's Prometheus endpoint: counters the exchange already keeps, read on a scrape.

# Ref: Prometheus text exposition format 0.0.4 (prometheus-client writes it).

Nothing here runs per command. The exchange loop, the order entries, the engine and
market data keep their own counters (plain ints and Counters); a scrape calls the
`ExchangeMetrics` sources, which read them, and turns them into metric families (a
custom collector). The one thing measured here is the time the exchange takes per
burst of orders (`time_burst`): two clock reads and one histogram observation per burst
that brought anything, never per command.

Metrics (all prefixed ``gatebook_``):

==============================  ==========================================================
orders_total                    order messages taken by every order entry
rejects_total{reason}           commands the engine rejected, by `RejectReason` name
refusals_total{source,kind}     input refused before the engine (OUCH gateway and logins,
                                FIX, the UDP port), by where and why
burst_seconds                   histogram: one burst's receive, match and reply
log_acked_seq, log_last_seq     the journal's acknowledged and last sequence numbers
log_lag                         commands logged but not yet acknowledged
md_subscribers                  WebSocket market-data clients connected
md_drops_total{source,kind}     market data dropped or refused, by where and why
==============================  ==========================================================
"""

import threading
import time

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import start_http_server

from gatebook.wire.enums import RejectReason

__all__ = ["ExchangeMetrics", "MetricsServer", "exchange_metrics", "BURST_BUCKETS"]

# Seconds: one burst of up to a few dozen orders takes tens of microseconds to a few
# milliseconds here; a strict log's fdatasync is not in it (replies wait apart).
BURST_BUCKETS = (10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3,
                 25e-3, 50e-3, 100e-3, 250e-3, 1.0)


def _none():
    return None


def _empty():
    return {}


def _reason_name(reason):
    try:
        return RejectReason(reason).name
    except ValueError:
        return f"UNKNOWN_{reason}"  # a reason this build does not know: still counted


class ExchangeMetrics:
    """What a scrape reports, as functions called at scrape time.

    Parameters
    ----------
    orders : callable() -> int
        Order messages taken so far.
    rejects : callable() -> mapping of int reason -> int
        The engine's rejects by `RejectReason` value.
    refusals : mapping of str source -> callable() -> mapping of str kind -> int
        Input refused before the engine, per source ("ouch", "ouch_login", "fix", "port").
    log : callable() -> (acked_seq, last_seq) or None
        The journal's acknowledged and last sequence numbers; None without a log.
    md_subscribers : callable() -> int or None
        Market-data clients connected now; None when nothing serves them.
    md_drops : mapping of str source -> callable() -> mapping of str kind -> int
        Market data dropped or refused, per source.
    clock : callable() -> int nanoseconds
        Times bursts; `time.perf_counter_ns` by default.

    Attributes
    ----------
    registry : prometheus_client.CollectorRegistry
        This exchange's metrics only (not the process-wide default registry).
    burst_seconds : prometheus_client.Histogram
    """

    def __init__(self, orders, rejects=_empty, refusals=None, log=_none, md_subscribers=_none,
                 md_drops=None, clock=time.perf_counter_ns):
        self.orders, self.rejects, self.log = orders, rejects, log
        self.refusals = dict(refusals or {})
        self.md_subscribers, self.md_drops = md_subscribers, dict(md_drops or {})
        self.clock = clock
        self.registry = CollectorRegistry(auto_describe=False)
        self.burst_seconds = Histogram(
            "gatebook_burst_seconds", "Time to receive, match and reply to one burst of orders",
            buckets=BURST_BUCKETS, registry=self.registry)
        self.registry.register(self)

    def time_burst(self, poll, burst):
        """Run `poll(burst) -> received`, timing it if it received anything (`Exchange.burst_timer`)."""
        clock = self.clock
        start = clock()
        received = poll(burst)
        if received:
            self.burst_seconds.observe((clock() - start) / 1e9)
        return received

    def collect(self):
        """The metric families of this moment (prometheus-client's Collector interface)."""
        yield CounterMetricFamily("gatebook_orders", "Order messages taken by every order entry",
                                  value=self.orders())
        rejects = CounterMetricFamily("gatebook_rejects",
                                      "Commands the engine rejected, by reason",
                                      labels=("reason",))
        for reason, count in sorted(dict(self.rejects()).items()):
            rejects.add_metric((_reason_name(reason),), count)
        yield rejects
        yield _by_kind("gatebook_refusals", "Input refused before the engine, by source and kind",
                       self.refusals)
        log = self.log()
        if log is not None:
            acked, last = log
            for name, help_text, value in (
                    ("gatebook_log_acked_seq", "Highest acknowledged (durable) sequence number",
                     acked),
                    ("gatebook_log_last_seq", "Last sequence number logged", last),
                    ("gatebook_log_lag", "Commands logged but not yet acknowledged",
                     max(0, last - acked))):
                yield GaugeMetricFamily(name, help_text, value=value)
        subscribers = self.md_subscribers()
        if subscribers is not None:
            yield GaugeMetricFamily("gatebook_md_subscribers",
                                    "Market-data (WebSocket) clients connected", value=subscribers)
        yield _by_kind("gatebook_md_drops", "Market data dropped or refused, by source and kind",
                       self.md_drops)

    def describe(self):
        return []       # collect() is cheap; describing would call every source at register

    def serve(self, host, port):
        """Serve /metrics over HTTP on (host, port), port 0 picks one; return a MetricsServer."""
        return MetricsServer(self.registry, host, port)


def _by_kind(name, help_text, sources):
    family = CounterMetricFamily(name, help_text, labels=("source", "kind"))
    for source, read in sorted(sources.items()):
        for kind, count in sorted(dict(read()).items()):
            family.add_metric((source, str(kind)), count)
    return family


class MetricsServer:
    """prometheus-client's HTTP server on its own thread, for one registry.

    Attributes
    ----------
    address : (str, int)
        Where it listens (the port chosen when 0 was asked).
    """

    def __init__(self, registry, host, port):
        self._server, self._thread = start_http_server(port, addr=host, registry=registry)
        self.address = self._server.server_address[:2]
        self._lock = threading.Lock()

    def close(self):
        """Stop serving and close the socket; safe to call twice."""
        with self._lock:
            if self._server is None:
                return
            server, self._server = self._server, None
        server.shutdown()
        server.server_close()
        self._thread.join(5)


def exchange_metrics(built, clock=time.perf_counter_ns):
    """The `ExchangeMetrics` of an assembled exchange (`gatebook.host.builder.BuiltExchange`).

    Reads only what the parts publish: the exchange's order count, the golden engine's
    `rejects` with the risk gate's, the OUCH gateway's and sessions' refusals, FIX's, the
    port's, the journal's
    acknowledgements, the WebSocket server's clients and cuts, NATS's and the recovery
    service's refusals. With a hybrid host, rejects the lanes make themselves (an order in a
    lane's window named by another user) are not in `rejects`; the host engine's are.
    """
    exchange = built.exchange
    engine = next(part for part in (built.journal, built.hybrid, exchange) if part is not None)
    refusals = {"ouch": lambda: built.entry.gateway.bad,
                "ouch_login": lambda: {kind: count for kind, count
                                       in dict(built.entry.sessions.logins).items()
                                       if kind != "accepted"},
                "port": lambda: built.port.refused}
    if built.fix_entry is not None:
        refusals["fix"] = lambda: built.fix_entry.bad
    log = _none
    if built.journal is not None:
        journal, acks = built.journal, built.acks

        def log():
            return acks.seq, journal.sequencer.next_seq - 1
    drops, websocket, service = {}, built.md_websocket, built.md_service
    subscribers = _none
    if websocket is not None:
        def subscribers():
            return websocket.clients
        drops["websocket_cut"] = lambda: websocket.cut
        drops["websocket_refused"] = lambda: websocket.refused
    if built.md_nats is not None:
        drops["nats"] = lambda: built.md_nats.refused
    if service is not None and service.requests is not None:
        drops["requests"] = lambda: service.requests.refused
    if service is not None and service.snapshots is not None:
        drops["snapshots"] = lambda: service.snapshots.refused
    risk = built.risk

    def rejects():
        # The risk gate's refusals are rejects too (reasons 32..36), which the engine
        # behind it never sees.
        counts = dict(_golden(engine).rejects)
        for reason, count in (dict(risk.rejected) if risk is not None else {}).items():
            counts[reason] = counts.get(reason, 0) + count
        return counts
    return ExchangeMetrics(orders=lambda: exchange.messages,
                           rejects=rejects, refusals=refusals,
                           log=log, md_subscribers=subscribers, md_drops=drops, clock=clock)


def _golden(matcher):
    """The golden engine under a journal, a hybrid host or an exchange loop."""
    while not hasattr(matcher, "rejects"):
        matcher = matcher.engine
    return matcher
