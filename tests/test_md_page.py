"""The live market-data page, in a real browser, on `gatebook run`'s own WebSocket feed.

`gatebook run --md-websocket` (a real process, real sockets on loopback) takes
a seeded flow from logged-in OUCH clients; Debian's chromium, headless and
driven by Playwright, opens the page the exchange serves. The ladder it
shows must be the book the exchange's log recovers, and an order sent while
the page is open must appear on it.

The screenshot in docs/marketdata.md comes from this test:

    GATEBOOK_PAGE_SCREENSHOT=docs/img/md_page.png .venv/bin/python -m pytest tests/test_md_page.py
"""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from gatebook.dpdk_bridge.udp import SocketUdp
from gatebook.host.flow import generate_flow
from gatebook.host.ouch.framing import HEADER_STRUCT
from gatebook.host.ouch.gateway import flow_datagrams
from gatebook.host.ouch.inject import script_datagrams
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.host.wal.recovery import recover
from gatebook.wire.enums import Side

sync_api = pytest.importorskip("playwright.sync_api",
                               reason="playwright is not installed: pip install -e '.[test]'")

from md_ws_clients import Client  # noqa: E402
from ouch_login import FlowClient, flow_accounts, login  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
MARKER_USER = 999
SYMBOL = DEFAULT_SYMBOLS[1]                # AAPL
LEVELS = 10                                # what page.js shows per side

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                reason="Debian's chromium is not installed (scripts/bootstrap)")


def _free_port(kind=socket.SOCK_DGRAM):
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _price(units):
    return f"{units / 10000:.2f}"


def _expected_ladder(book):
    """The rows page.js draws: asks (worst of the top `LEVELS` first), then bids."""
    asks = [level for level in book.depth(Side.SELL, LEVELS)][::-1]
    bids = list(book.depth(Side.BUY, LEVELS))
    return [[str(orders), str(qty), _price(price)] for price, qty, orders in asks + bids]


def _ladder(page):
    return page.eval_on_selector_all(
        "#ladder tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))")


def _send_marker(sock, server, price):
    """A buy of 7 shares from MARKER_USER resting at `price`."""
    answer = login(sock, server, MARKER_USER)
    (_, payload), = script_datagrams(
        f"{MARKER_USER} enter_order order_token=1 stock={SYMBOL.name} side=BUY "
        f"shares=7 price={price / 10000:.2f}")
    _, _, count = HEADER_STRUCT.unpack_from(payload)
    sock.send([(HEADER_STRUCT.pack(answer.session, answer.next_inbound, count)
                + payload[HEADER_STRUCT.size:], server)])


def test_the_page_shows_the_exchange_book_live(tmp_path):
    directory = str(tmp_path / "log")
    order_port, md_port = _free_port(), _free_port()
    web_port = _free_port(socket.SOCK_STREAM)
    child = subprocess.Popen(
        [sys.executable, "-m", "gatebook.cli", "run", "--listen", f"127.0.0.1:{order_port}",
         "--md", f"127.0.0.1:{md_port}", "--md-websocket", f"127.0.0.1:{web_port}",
         "--log", directory, "--durability", "none", "--seconds", "120",
         "--accounts", flow_accounts(directory)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        started = []
        while not any("WebSocket feed on" in line for line in started):
            line = child.stdout.readline()
            assert line, (started, child.stderr.read())
            started.append(line)
        server = ("127.0.0.1", order_port)
        datagrams = flow_datagrams(generate_flow(1500, seed=21), DEFAULT_SYMBOLS, batch=2)
        with SocketUdp() as client, SocketUdp() as marker, \
                sync_api.sync_playwright() as playwright:
            flow = FlowClient(client, server, (user for user, _ in datagrams))
            for start in range(0, len(datagrams), 20):
                flow.send(datagrams[start:start + 20])
                time.sleep(0.002)
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 560})
            page.goto(f"http://127.0.0.1:{web_port}/?symbol={SYMBOL.name}")
            page.wait_for_function("document.getElementById('status').textContent === 'live'")
            # A marker sent after the flow, as the best bid: once the page shows it,
            # it shows everything (order entry is handled in order).
            feed = Client(("127.0.0.1", web_port))
            feed.subscribe(SYMBOL.name, channels=["l1"])
            feed.read_until(lambda c: ("l1", SYMBOL.name) in c.latest)
            feed.read(1.0)                               # the flow is handled by now
            bid, ask = feed.latest["l1", SYMBOL.name]["bid"], feed.latest["l1", SYMBOL.name]["ask"]
            feed.close()
            price = bid[0] + SYMBOL.tick_size
            if ask is not None and price >= ask[0]:
                price = bid[0]
            best = [price, 7 + (bid[1] if price == bid[0] else 0),
                    1 + (bid[2] if price == bid[0] else 0)]
            _send_marker(marker, server, price)
            deadline = time.monotonic() + 20
            top_bid = [str(best[2]), str(best[1]), _price(best[0])]
            while top_bid not in _ladder(page):
                assert time.monotonic() < deadline, (_ladder(page), top_bid)
                time.sleep(0.1)
            shown = _ladder(page)
            trades = page.eval_on_selector_all("#trades tbody tr", "rows => rows.length")
            inked = page.evaluate("""() => {
                const c = document.getElementById('chart');
                const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let inked = 0;
                for (let i = 3; i < data.length; i += 4) if (data[i]) inked++;
                return inked; }""")
            shot = os.environ.get("GATEBOOK_PAGE_SCREENSHOT") or str(tmp_path / "page.png")
            page.screenshot(path=shot)
            browser.close()
    finally:
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=30)
    assert child.returncode == 0, err
    engine, _ = recover(directory)
    book = engine.books[SYMBOL.symbol_id]
    assert shown == _expected_ladder(book)
    assert 0 < trades <= 20 and inked > 100
    assert os.path.getsize(shot) > 10_000
    assert "run: market data: WebSocket served: connections 2" in out, out
    assert "run: market data: WebSocket clients cut: none" in out, out
