"""`build_exchange`: the one place that assembles a running exchange from its config.

Order entry (OUCH over its port: host/ouch/), write-ahead log (recovered
first), standby replication, hybrid pipeline lanes and market data, wired as
`gatebook run` runs them; `gatebook run` only parses options into an
`ExchangeConfig` (gatebook.host.config) and prints what it built.
"""

import logging

from .clock import WallClock
from .config import ConfigError, check_config

__all__ = ["build_exchange", "BuildError", "BuiltExchange", "risk_front"]

_log = logging.getLogger(__name__)


class BuildError(Exception):
    """The exchange could not be assembled; `status` is the exit status `gatebook run` uses.

    2: a config, accounts file or secret that cannot be used; 3: a log that
    cannot be recovered or a newer primary; 1: an order-entry backend that
    cannot be opened. Whatever was opened before the failure is closed.
    """

    def __init__(self, message, status):
        super().__init__(message)
        self.status = status


class BuiltExchange:
    """A ready exchange: call `run` (or `poll` in a loop), then `close`.

    Attributes
    ----------
    config : ExchangeConfig
    exchange : gatebook.host.net.exchange_server.Exchange
        The loop: order entry, engine, replies and market data.
    entry : gatebook.host.ouch.OuchEntry
        OUCH order entry over `port` (sessions, gateway, replies).
    fix_entry : gatebook.host.fix.FixEntry or None
        FIX 4.4 order entry over TCP, when `[fix] listen` is set.
    port : DatagramPort
        Order entry (and market data).
    accounts : gatebook.host.net.accounts.Accounts
    journal, acks : JournaledExchange and Acknowledgements, or None without a log
    replication : ReplicationServer or None
        Serves the log to a standby.
    standby_epoch : int or None
        What the standby asked before starting answered (None: nothing answered).
    hybrid : HybridExchange or None
        The pipeline lanes, when a link is configured.
    matcher : str
        Where matching happens, in words.
    md_service : gatebook.host.marketdata.service.RecoveryService or None
        Market-data re-requests and snapshots, when configured.
    md_websocket : gatebook.host.marketdata.websocket.MarketDataServer or None
        The WebSocket feed and live page, when configured.
    md_nats : gatebook.host.marketdata.nats.NatsFanout or None
        Symbol states published to NATS JetStream, when configured.
    metrics : gatebook.host.metrics.MetricsServer or None
        The Prometheus endpoint, when `[metrics] listen` is set.
    risk : gatebook.host.risk.RiskGate or None
        Pre-trade risk in front of the matching engine, when `[risk]` is set.
    """

    def __init__(self, config):
        self.config = config
        self.exchange = self.entry = self.port = self.accounts = self.fix_entry = None
        self.journal = self.acks = self.replication = self.hybrid = None
        self.standby_epoch = self.md_service = self.md_websocket = self.md_nats = None
        self.metrics = self.risk = None
        self.matcher = "golden model in-process"
        self._closed = False

    def poll(self, burst=None):
        """Handle one burst of received datagrams; return how many came."""
        return self.exchange.poll(burst or self.config.order_entry.burst)

    def run(self, seconds=None, max_orders=None):
        """Poll until `seconds` pass or `max_orders` orders were handled.

        Defaults come from the config's `[run]` section. Raises what stops an
        exchange from taking orders (`stopping_errors()`): a failed log, a
        newer primary, a pipeline that stopped answering.
        """
        run = self.config.run
        self.exchange.run(seconds=run.seconds if seconds is None else seconds,
                          max_orders=run.max_orders if max_orders is None else max_orders,
                          burst=self.config.order_entry.burst)

    def close(self):
        """Sync and close the log, send what is acknowledged, close every part.

        Returns the LogFailure met while syncing the log, or None. Safe to
        call twice.
        """
        if self._closed:
            return None
        self._closed = True
        failure = _close_journal(self.journal) if self.journal is not None else None
        if self.exchange is None and self.fix_entry is not None:
            self.fix_entry.close()          # else the exchange closes its entries
        for part in (self.metrics, self.exchange, self.md_service, self.md_websocket,
                     self.md_nats, self.port, self.hybrid, self.replication):
            if part is not None:
                part.close()
        return failure

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def stopping_errors():
    """The exceptions after which a running exchange must take no more orders."""
    from .hybrid.link import LinkError
    from .wal import LogFailure
    from .wal.epoch import Fenced
    return LogFailure, Fenced, LinkError


def build_exchange(config, clock=None):
    """Assemble the exchange `config` describes; recover its log first if it has one.

    Parameters
    ----------
    config : gatebook.host.config.ExchangeConfig
    clock : callable returning int nanoseconds, optional
        The sequencer's and sessions' clock; the wall clock by default.

    Returns
    -------
    BuiltExchange

    Raises
    ------
    BuildError
        With the sentence to show and an exit status; nothing stays open.
    """
    try:
        check_config(config)
    except ConfigError as error:
        raise BuildError(str(error), 2) from None
    clock = clock or WallClock()
    built = BuiltExchange(config)
    try:
        _assemble(built, config, clock)
    except BaseException:
        built.close()
        raise
    entry = config.order_entry
    _log.info("built: %d symbols, orders on %s:%d (%s), matching: %s", len(config.symbols),
              entry.listen[0], entry.listen[1], entry.backend, built.matcher)
    return built


def _assemble(built, config, clock):
    from gatebook.dpdk_bridge import DpdkError, DpdkUnavailable
    from gatebook.dpdk_bridge.udp import open_udp
    from .net.accounts import Accounts, AccountsError
    from .net.exchange_server import Exchange
    from .ouch import OuchEntry
    sessions = config.sessions
    try:
        built.accounts = Accounts.load(sessions.accounts)
    except AccountsError as error:
        raise BuildError(str(error), 2) from None
    secret = _secret(config.log)          # before anything is opened or created
    risk = _risk_settings(config, built.accounts) if config.risk is not None else None
    make_hybrid = _lanes(built, config) if config.link.used else None
    engine = None
    if config.log.directory:
        _open_journal(built, config, clock, make_hybrid, secret, risk)
        built.hybrid = built.journal.matcher if make_hybrid else None
    elif make_hybrid is not None:
        built.hybrid = make_hybrid()
    elif risk is not None:
        from .engine import MatchingEngine
        from .risk import RiskGate
        built.risk = engine = RiskGate(MatchingEngine(config.symbols), config.symbols, risk[0],
                                       default_limits=risk[1], fees=risk[2])
    entry = config.order_entry
    try:
        built.port = open_udp(entry.backend, *entry.listen, devargs=entry.dpdk,
                              burst=entry.burst)
    except (DpdkUnavailable, DpdkError, OSError, ValueError) as error:
        raise BuildError(f"cannot open the {entry.backend} backend: {error}", 1) from None
    built.entry = OuchEntry(built.port, built.accounts, session_options=dict(
        timeout_ns=int(sessions.timeout * 1e9), max_sessions=sessions.max_sessions,
        max_live_orders=sessions.max_live_orders, messages_per_second=sessions.max_message_rate))
    md = config.market_data
    tap = nats_tap = None
    md_port = built.port            # the feed's packets also go to the WebSocket server / NATS
    if md.websocket or md.nats:
        from .marketdata.feed_tap import FeedTap
        if md.websocket:
            tap = md_port = FeedTap(md_port)
        if md.nats:
            nats_tap = md_port = FeedTap(md_port)
    built.exchange = Exchange(
        built.port, config.symbols, clock, md_destination=config.market_data.destination,
        md_port=md_port, session=config.market_data.session,
        engine=(built.hybrid or engine) if built.journal is None else None,
        journal=built.journal,
        acks=built.acks, order_entry=(built.entry,) + _fix_entry(built, config),
        md_store_messages=config.market_data.store_messages)
    if tap is not None:
        from .marketdata.feed_tap import LocalSource
        from .marketdata.websocket import MarketDataServer
        try:
            built.md_websocket = MarketDataServer(LocalSource(tap, built.exchange.publisher),
                                                  *md.websocket)
        except OSError as error:
            raise BuildError(f"cannot serve the WebSocket feed: {error}", 1) from None
    if nats_tap is not None:
        from .marketdata.feed_tap import LocalSource
        from .marketdata.nats import NatsFanout
        try:
            built.md_nats = NatsFanout(LocalSource(nats_tap, built.exchange.publisher), md.nats,
                                       md.nats_replicas)
        except Exception as error:      # nats-py's own errors (no servers, JetStream off)
            raise BuildError(f"cannot publish market data to NATS {md.nats}: "
                             f"{type(error).__name__}: {error}", 1) from None
    if md.request or md.snapshot:
        from .marketdata.service import RecoveryService
        try:
            built.md_service = RecoveryService(built.exchange.publisher, md.request, md.snapshot,
                                               heartbeat=(entry.listen[0], md.destination))
        except OSError as error:
            raise BuildError(f"cannot serve market-data recovery: {error}", 1) from None
    if config.metrics.listen is not None:
        _serve_metrics(built, config.metrics.listen)


def _serve_metrics(built, listen):
    """The Prometheus endpoint; the exchange's polls are timed per burst, not per command."""
    from .metrics import exchange_metrics
    metrics = exchange_metrics(built)
    built.exchange.burst_timer = metrics.time_burst
    try:
        built.metrics = metrics.serve(*listen)
    except OSError as error:
        raise BuildError(f"cannot serve metrics on {listen[0]}:{listen[1]}: {error}", 1) from None


def _fix_entry(built, config):
    """(FixEntry,) when `[fix] listen` is set, else ()."""
    fix = config.fix
    if fix.listen is None:
        return ()
    from .fix import FixEntry
    sessions = config.sessions
    try:
        built.fix_entry = FixEntry(fix.listen, built.accounts, comp_id=fix.comp_id,
                                   client_comp_id=fix.client_comp_id,
                                   max_live_orders=sessions.max_live_orders,
                                   messages_per_second=sessions.max_message_rate)
    except OSError as error:
        raise BuildError(f"cannot listen for FIX on {fix.listen[0]}:{fix.listen[1]}: "
                         f"{error}", 1) from None
    return (built.fix_entry,)


def _secret(log):
    if not (log.standby or log.standby_listen):
        return None
    from .wal.channel import SecretError, load_secret
    try:
        return load_secret(log.replication_secret)
    except SecretError as error:
        raise BuildError(str(error), 2) from None


# Commands in flight to the lane at most. A handover in flight sends every later
# command of the symbol back (NOT_OWNED), so the lane's share falls as more fly at
# once: on the hot flow 84 % at 8, 79 % at 32, 53 % at 256, for 607, 156 and 20 waits
# (docs/network.md, `python -m gatebook.host.cli.link_run_bench --windows ...`).
LINK_IN_FLIGHT = 32


def _lanes(built, config):
    """A function making the hybrid host (around a recovered engine, if given)."""
    from .hybrid import HybridExchange
    from .net.link import PacketLaneLink
    link = config.link
    home = link.home or config.symbols[0].name
    homes = [spec.symbol_id for spec in config.symbols if spec.name == home]
    if link.dpdk:
        from gatebook.dpdk_bridge.eal import Eal
        link_port = Eal.start().attach(link.dpdk)
    else:
        from gatebook.dpdk_bridge.raw import RawSocketPort
        from gatebook.wire.link_frame import ETHERTYPE
        link_port = RawSocketPort(link.iface, ETHERTYPE)
    lane = PacketLaneLink(link_port, link.peer, link.depth)
    built.matcher = (f"pipeline at {link.peer} via {link.dpdk or link.iface} "
                     f"(depth {link.depth}, home {home}), the rest in-process")

    def make_hybrid(engine=None):
        return HybridExchange(config.symbols, [lane], homes, engine=engine,
                              window=LINK_IN_FLIGHT)
    return make_hybrid


def _risk_settings(config, accounts):
    """(limits by user, default limits, FeeSchedule) of `[risk]`; BuildError 2 if unusable."""
    from .ledger.postings import load_fees
    from .risk.settings import limits_by_user
    try:
        limits, default = limits_by_user(config.risk, {account.name: account.user_id
                                                       for account in accounts})
        fees = load_fees(config.risk.fees)
    except ValueError as error:
        raise BuildError(f"[risk]: {error}", 2) from None
    except OSError as error:
        raise BuildError(f"[risk] fees: cannot read {config.risk.fees}: {error.strerror}",
                         2) from None
    return limits, default, fees


def risk_front(config):
    """The `front` that reads `config`'s log as its exchange does (`recover(front=...)`,
    `Follower(front=...)`): the pre-trade risk gate of `[risk]`, or None without one.

    Raises
    ------
    BuildError
        The accounts file or `[risk]` cannot be used (status 2).
    """
    if config.risk is None:
        return None
    from .net.accounts import Accounts, AccountsError
    path = config.sessions.accounts
    try:
        # Without an accounts file, [risk] can name accounts by user id only.
        accounts = Accounts.load(path) if path is not None else ()
    except AccountsError as error:
        raise BuildError(str(error), 2) from None
    return _risk_front(config.symbols, _risk_settings(config, accounts))


def _risk_front(symbols, risk):
    """The journal's `front`: the gate a snapshot kept (its limits decide the replay of
    the commands after it, as they decided them first), else one from `[risk]`."""
    from .risk import RiskGate

    def front(engine, saved):
        if saved is not None:
            return RiskGate.restore(engine, symbols, saved)
        if risk is None:
            return None
        return RiskGate(engine, symbols, risk[0], default_limits=risk[1], fees=risk[2])
    return front


def _settle_risk(journal, risk):
    """Make the recovered gate the configured one; snapshot if that changed anything.

    Limits change only at a restart, and the snapshot taken here, before any order,
    records the new ones: recovery then replays every later command with the limits
    that decided it, whatever the config says by then.
    """
    gate = journal.front
    recovered = journal.recovery.snapshot_risk if journal.recovery is not None else None
    if gate is None and risk is None:
        return
    if risk is None:
        journal.front = None
    elif (gate.limits, gate.default_limits, gate.fees) != risk:
        gate.configure(*risk)
    elif recovered is not None:
        return                          # the snapshot already holds these limits
    journal.snapshot(wait=True)


def _open_journal(built, config, clock, make_hybrid, secret, risk=None):
    from .net.exchange_server import Acknowledgements
    from .ouch import KEPT_PER_USER, GatewayState
    from .protocols import shipped_codecs
    from .wal import CorruptLog, JournaledExchange
    from .wal.epoch import Fenced, check_peer
    from .wal.replication import ReplicationServer
    log = config.log
    # Recovery remembers each user's latest replies, so a client that logs in
    # again learns what was logged but never reported before a crash.
    GatewayState.keep_recent = KEPT_PER_USER
    built.acks = Acknowledgements()
    try:
        built.journal = JournaledExchange(
            log.directory, config.symbols, policy=log.durability or "strict", clock=clock,
            on_ack=built.acks, snapshot_every=log.snapshot_every, matcher=make_hybrid,
            origin_codecs=shipped_codecs(), front=_risk_front(config.symbols, risk))
        _settle_risk(built.journal, risk)
    except (CorruptLog, ValueError, OSError) as error:
        raise BuildError(f"cannot recover {log.directory}: {error}", 3) from None
    built.risk = built.journal.front
    built.acks(built.journal.acked_seq)         # everything recovered is on disk
    _log.info("log %s: next seq %d", log.directory, built.journal.sequencer.next_seq)
    try:
        if log.standby:
            built.standby_epoch = check_peer(log.directory, log.standby, secret)
        if log.standby_listen:
            built.replication = ReplicationServer(built.journal, *log.standby_listen,
                                                  synchronous=True, secret=secret)
    except (Fenced, OSError) as error:
        raise BuildError(str(error), 3) from None


def _close_journal(journal):
    """Sync and close the log; the LogFailure if that failed."""
    from .wal import LogFailure
    try:
        journal.close()
    except LogFailure as error:
        return error
    return None
