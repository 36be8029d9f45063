"""The dashboard in a real headless Chromium, over the real app served by uvicorn.

Uses Debian's `/usr/bin/chromium` through the Python playwright package (never
`playwright install`); skips when that browser is absent, unless OMC_TEST_CHROMIUM
names it (as CI does).
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal as D
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ohmycoins.api import api_server, create_app
from ohmycoins.api.keys import create_key
from ohmycoins.collectors.collect import check_and_publish
from ohmycoins.publish import MemoryBroker
from ohmycoins.quality.alerts import AlertState
from ohmycoins.records import Record
from ohmycoins.scheduling.registry import Collector, Registry, RunContext, RunOutcome
from ohmycoins.scheduling.schedule import Schedule
from ohmycoins.scheduling.tasks import sync_tasks
from ohmycoins.settings import Settings
from ohmycoins.sources.parsing import Parsed
from ohmycoins.storage.alerts import write_alerts
from ohmycoins.storage.database import Database
from ohmycoins.storage.upsert import upsert
from tests import factories as f

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM = Path(os.environ.get("OMC_TEST_CHROMIUM") or "/usr/bin/chromium")
"""CI names the browser in OMC_TEST_CHROMIUM, and then the test must run, never skip."""
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MINUTE = 60_000
CANDLES = 120

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("OMC_TEST_CHROMIUM"),
        reason="/usr/bin/chromium is absent (apt-get install chromium)",
    ),
]


async def _run(_context: RunContext) -> RunOutcome:
    return RunOutcome()


def _registry() -> Registry:
    return Registry(
        [
            Collector("binance_candles_1m", "exchange", "binance", Schedule.every(60), _run),
            Collector("binance_tickers", "exchange", "binance", Schedule.every(30), _run),
            Collector("coingecko_markets", "exchange", "coingecko", Schedule.every(300), _run),
            Collector(
                "fred_observations",
                "macro",
                "fred",
                Schedule.every(86_400),
                _run,
                enabled=False,
                disabled_reason="no API key",
            ),
        ]
    )


def _market(now: int) -> list[Record]:
    """Two hours of BTC/USDT 1m candles ending now (a seeded random walk), three tickers,
    a news item, a catalyst event, and collector runs: one fresh success, one failure,
    one stale success."""
    rng = random.Random(7)
    first = now // MINUTE * MINUTE - (CANDLES - 1) * MINUTE
    records: list[Record] = []
    close = 37_000.0
    for i in range(CANDLES):
        open_ = close
        close = open_ + rng.gauss(0, 25)
        high = max(open_, close) + abs(rng.gauss(0, 10))
        low = min(open_, close) - abs(rng.gauss(0, 10))
        prices = [D(f"{price:.2f}000000") for price in (open_, high, low, close)]  # as sent
        volume = D(f"{rng.uniform(2, 30):.5f}")
        records.append(
            f.candle(
                ts=first + i * MINUTE,
                open=prices[0],
                high=prices[1],
                low=prices[2],
                close=prices[3],
                volume=volume,
            )
        )
    last = D(f"{close:.2f}000000")
    records += [
        f.ticker(ts=now - 5_000, last=last, bid=last - D("0.01"), ask=last + D("0.01")),
        f.ticker(
            symbol="ETH/USDT",
            ts=now - 7_000,
            last=D("2000.5"),
            bid=D("2000.4"),
            ask=D("2000.6"),
            change_pct_24h=D("-1.25"),
        ),
        f.ticker(
            symbol="SOL/USDT",
            ts=now - 9_000,
            last=D("61.234"),
            bid=D("61.23"),
            ask=D("61.24"),
            change_pct_24h=D("3.5"),
        ),
    ]
    records += [
        f.news_item(published_ts=now - 600_000, title="Bitcoin ETF inflows hit a record"),
        f.news_item(
            item_id="undated",
            url="https://example.com/undated",
            title="Ether staking story with no readable date",
            published_ts=None,
            fetched_ts=now - 120_000,
        ),
        f.catalyst_event(ts=now - 1_200_000),
    ]
    records += [
        f.collector_run(run_id="r1", started_ts=now - 30_000, finished_ts=now - 29_000),
        f.collector_run(
            run_id="r2",
            collector="binance_tickers",
            status="error",
            started_ts=now - 20_000,
            finished_ts=now - 19_000,
            records_written=0,
            error="binance: 503 Service Unavailable",
        ),
        f.collector_run(
            run_id="r3",
            collector="coingecko_markets",
            started_ts=now - 3_600_000,
            finished_ts=now - 3_599_000,
        ),
    ]
    return records


def _alerts(now: int) -> list[AlertState]:
    return [
        AlertState("stale", "binance_tickers", "firing", "binance_tickers's data is 9 min old",
                   now - 5 * MINUTE, now, notified="firing", sent_ts=now),
        AlertState("circuit_open", "coingecko", "resolved", "coingecko's circuit open for 31 min",
                   now - 90 * MINUTE, now - 60 * MINUTE, resolved_ts=now - 60 * MINUTE),
    ]  # fmt: skip


@dataclass(frozen=True)
class Served:
    """The app being served: its address, and its broker on the server's event loop."""

    url: str
    broker: MemoryBroker
    loop: asyncio.AbstractEventLoop

    def stream(self, records: Sequence[Record]) -> None:
        """Publish `records` as a live stream does, before they are stored."""
        published = check_and_publish(self.broker, Parsed(list(records)), _now())
        asyncio.run_coroutine_threadsafe(published, self.loop).result(timeout=10)


def _now() -> int:
    return time.time_ns() // 1_000_000


@contextmanager
def _serving(db: Database, *, demo: bool = False, **options: Any) -> Iterator[Served]:
    """The real app over a filled SQLite database, served by uvicorn in a thread."""
    now = _now()
    registry = _registry()
    sync_tasks(db, registry, now)
    upsert(db, _market(now))
    write_alerts(db, _alerts(now))
    settings = Settings(database_url=db.url, **options)
    broker = MemoryBroker()
    app = create_app(settings, db=db, broker=broker, registry=registry, demo=demo)
    port = _free_port()
    server = api_server(app, port=port)
    loops: list[asyncio.AbstractEventLoop] = []

    async def serve() -> None:
        loops.append(asyncio.get_running_loop())
        await server.serve()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield Served(f"http://127.0.0.1:{port}", broker, loops[0])
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def _chromium() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def base_url(sqlite_db: Database) -> Iterator[str]:
    with _serving(sqlite_db) as served:
        yield served.url


def test_dashboard_renders_in_chromium(base_url: str, tmp_path: Path) -> None:
    errors: list[str] = []
    requests: list[str] = []
    with _chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("request", lambda request: requests.append(request.url))
        page.goto(f"{base_url}/", wait_until="domcontentloaded")

        page.wait_for_selector(f'#chart[data-candles="{CANDLES}"]', timeout=10_000)
        page.wait_for_selector("#tickers tbody tr >> nth=2", timeout=5_000)
        page.wait_for_selector("#news[data-state='items']", state="attached")
        page.wait_for_selector("#catalysts[data-state='items']", state="attached")
        page.wait_for_selector("#collectors tbody tr >> nth=3", timeout=5_000)
        page.wait_for_selector("#alerts tbody tr >> nth=1", timeout=5_000)

        assert page.locator("#chart canvas").count() > 0
        assert page.locator("#tickers tbody tr").count() == 3
        # prices arrive padded as Binance sends them; shown and charted without the padding
        assert page.get_attribute("#chart", "data-precision") == "2"
        assert "000000" not in page.inner_text("#tickers") + page.inner_text("#chart-note")
        assert "61.234" in page.inner_text("#tickers")
        assert page.input_value("#exchange") == "binance"
        assert page.input_value("#symbol") == "BTC/USDT"
        assert page.input_value("#timeframe") == "1m"
        lights = page.eval_on_selector_all(
            "#collectors tbody tr", "rows => rows.map(r => r.dataset.light)"
        )
        assert sorted(lights) == ["amber", "green", "off", "red"]
        off = page.inner_text("#collectors tbody tr[data-light='off']")
        assert "fred_observations" in off and "disabled" in off and "no API key" in off
        assert "503 Service Unavailable" in page.inner_text("#collectors")
        states = page.eval_on_selector_all(
            "#alerts tbody tr", "rows => rows.map(r => r.dataset.state)"
        )
        assert states == ["firing", "resolved"]  # firing first
        assert "binance_tickers's data is 9 min old" in page.inner_text("#alerts tbody tr >> nth=0")
        assert "circuit open" in page.inner_text("#alerts tbody tr >> nth=1")
        assert "Bitcoin ETF inflows hit a record" in page.inner_text("#news")
        undated = page.inner_text("#news li >> nth=0")  # listed by its fetch time: newest
        assert "no readable date" in undated and "date unknown" in undated
        assert "min ago" not in undated  # its fetch time is not shown as a publish time
        assert "impact 7/10" in page.inner_text("#catalysts")
        assert page.get_attribute("#news a >> nth=1", "href") == "https://example.com/btc-etf"
        assert "updated" in page.inner_text("#status")
        assert page.is_hidden("#demo-banner")

        screenshot = tmp_path / "dashboard.png"
        page.screenshot(path=str(screenshot), full_page=True)

        page.click("#tickers tbody tr >> text=ETH/USDT")
        page.wait_for_selector('#chart[data-candles="0"]', timeout=5_000)
        assert page.input_value("#symbol") == "ETH/USDT"
        assert "No 1m candles stored for binance ETH/USDT" in page.inner_text("#chart-note")

    png = screenshot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 20_000
    remote = [url for url in requests if not url.startswith((base_url, "data:"))]
    assert remote == [], "the page must work offline"
    assert errors == []


def test_dashboard_asks_for_a_key_and_sends_it(sqlite_db: Database) -> None:
    key = create_key(sqlite_db, "read", name="dashboard").key
    with _serving(sqlite_db, api_require_key=True) as served, _chromium() as browser:
        page = browser.new_page()
        page.goto(f"{served.url}/", wait_until="domcontentloaded")
        page.wait_for_selector("#status.error")
        assert "requires an API key" in page.inner_text("#status")
        assert page.get_attribute("#chart", "data-candles") == "0"

        page.fill("#api-key", key)
        page.click("#key-form button")
        page.wait_for_selector(f'#chart[data-candles="{CANDLES}"]', timeout=10_000)
        assert page.locator("#tickers tbody tr").count() == 3
        assert page.evaluate("localStorage.getItem('ohmycoins.apiKey')") == key

        page.reload(wait_until="domcontentloaded")  # the stored key is used again
        page.wait_for_selector(f'#chart[data-candles="{CANDLES}"]', timeout=10_000)
        assert "updated" in page.inner_text("#status")


def test_a_demo_server_marks_its_data_simulated(sqlite_db: Database) -> None:
    now = time.time_ns() // 1_000_000
    upsert(sqlite_db, [f.ticker(exchange="sim", symbol="BTC/USDT", ts=now - 1_000)])
    with _serving(sqlite_db, demo=True) as served, _chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{served.url}/", wait_until="domcontentloaded")
        page.wait_for_selector("#demo-banner", state="visible", timeout=10_000)
        page.wait_for_selector("#tickers tbody tr.simulated", timeout=5_000)
        assert "simulated" in page.inner_text("#demo-banner")
        assert page.locator("#tickers tbody tr.simulated").count() == 1
        assert "sim (simulated)" in page.inner_text("#tickers tbody tr.simulated")
        labels = page.eval_on_selector_all("#exchange option", "os => os.map(o => o.text)")
        assert labels == ["binance", "sim (simulated)"]
        page.click("#tickers tbody tr.simulated")
        page.wait_for_selector('#chart[data-candles="0"]', timeout=5_000)
        assert "sim (simulated) BTC/USDT" in page.inner_text("#chart-note")


def test_the_dashboard_updates_live_and_polls_when_the_socket_closes(sqlite_db: Database) -> None:
    """Records a stream publishes reach the page over `/api/v1/stream` before they are
    stored: a trade on top of the tape, a ticker's row, the chart's last candle. Once the
    socket closes, the page polls: a trade that was only stored appears, and the badge
    says the page is polling."""
    sockets: list[Any] = []

    def route(socket: Any) -> None:
        sockets.append(socket)
        if len(sockets) == 1:
            socket.connect_to_server()  # the first socket reaches the real server
        else:
            socket.close()  # any reconnect is refused: the page keeps polling

    with _serving(sqlite_db) as served, _chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.route_web_socket("**/api/v1/stream", route)
        page.goto(f"{served.url}/", wait_until="domcontentloaded")
        page.wait_for_selector("#live[data-state='live'][data-channels~='trades:binance:BTC/USDT']")
        page.wait_for_selector("#live[data-channels~='tickers:binance:ETH/USDT']")
        page.wait_for_selector(f'#chart[data-candles="{CANDLES}"]', timeout=10_000)
        assert page.inner_text("#trades-market") == "binance BTC/USDT"

        now = _now()
        newest_candle = now // MINUTE * MINUTE
        trade = f.trade(trade_id="900001", ts=now, price=D("37123.45000000"), side="sell")
        quotes = {"last": D("2101.5"), "bid": D("2101.4"), "ask": D("2101.6")}
        eth = f.ticker(symbol="ETH/USDT", ts=now, **quotes)
        prices = {"open": D("37000"), "high": D("37200"), "low": D("36900"), "close": D("37150.5")}
        served.stream([trade, eth, f.candle(ts=newest_candle, **prices)])
        tape = page.wait_for_selector("#trades tbody tr[data-trade-id='900001']")
        assert tape is not None
        assert "37123.45" in tape.inner_text() and "sell" in tape.inner_text()
        assert page.get_attribute("#trades", "data-source") == "live"
        assert page.get_attribute("#trades tbody tr >> nth=0", "data-trade-id") == "900001"
        page.wait_for_selector("#tickers tbody tr[data-live='1'][data-symbol='ETH/USDT']")
        assert "2101.5" in page.inner_text("#tickers tbody tr[data-symbol='ETH/USDT']")
        page.wait_for_selector(f"#chart[data-live='{newest_candle}']")
        assert "close 37150.5" in page.inner_text("#chart-note")
        assert page.locator("#tickers tbody tr").count() == 3

        upsert(sqlite_db, [f.trade(trade_id="900002", ts=_now(), price=D("37200.10"))])
        sockets[0].close()
        page.wait_for_selector("#live[data-state='polling']")
        page.wait_for_selector("#trades tbody tr[data-trade-id='900002']", timeout=10_000)
        assert page.get_attribute("#trades", "data-source") == "polling"
        assert "polling" in page.inner_text("#live")
