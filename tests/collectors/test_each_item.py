"""Runs over several items go on past one that fails: its error is named in the run's
problem (status `partial`) and the other items are stored; a rate limit stops the run.

Every collector here runs its real fetch path against a local server: the exchange
simulator (through ccxt's binance class) or a server replaying small bodies in the
real shapes. Candle pages are retried under the run's one retry rule, never twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from ohmycoins.collectors import coingecko, coinspot, defillama, market
from ohmycoins.collectors.clients import SIM_EXCHANGE, Sources
from ohmycoins.errors import RateLimitedError
from ohmycoins.records import Candle, OrderBook, ProtocolFundamental, Trade
from ohmycoins.scheduling.registry import Collector, RunContext, RunOutcome
from ohmycoins.scheduling.retry import Retry
from ohmycoins.settings import Settings, Universe, load_settings
from ohmycoins.sim import FaultKind, FaultPlan, FaultRule, SimulatorHandle
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import read_records
from ohmycoins.timeframes import now_ms
from tests.support.replay import Reply, replay_server

from .conftest import NOW_MS, retries

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
KLINES = "/api/v3/klines"


def fixture(source: str, name: str) -> Reply:
    return Reply.file(FIXTURES / source / name)


async def run(
    collectors: list[Collector], name: str, db: Database, retry: Retry | None = None
) -> RunOutcome:
    """One run of the collector `name`, as the scheduler makes it (`retry`: its rule)."""
    collector = next(c for c in collectors if c.name == name)
    due = NOW_MS if collector.source == SIM_EXCHANGE else now_ms()
    context = RunContext(name, name, collector.source, due, None, 1, db, retry or Retry())
    return await collector.run(context)


@pytest.fixture
async def opened() -> AsyncIterator[Callable[..., Sources]]:
    """`Sources.open` of some settings, closed after the test."""
    made: list[Sources] = []

    def build(db: Database, settings: Settings, **options: Any) -> Sources:
        sources = Sources.open(settings, db, None, **options)
        made.append(sources)
        return sources

    yield build
    for sources in made:
        await sources.close()


def simulated(
    opened: Callable[..., Sources], db: Database, sim: SimulatorHandle, *symbols: str
) -> Sources:
    """The demo's sources: the simulator as exchange `sim`, hourly candles of `symbols`."""
    universe = Universe(symbols=symbols, timeframes=("1h",))
    return opened(db, Settings(universe=universe), simulator_url=sim.base_url)


FAULTS = [FaultKind.SERVER_ERROR, FaultKind.MALFORMED_JSON]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.value for f in FAULTS])
@pytest.mark.parametrize(
    ("kind", "record", "noun"),
    [("orderbooks", OrderBook, "order book"), ("trades", Trade, "symbol")],
)
async def test_exchange_books_and_trades_go_on_past_a_failed_symbol(
    sqlite_db: Database,
    sim: SimulatorHandle,
    opened: Callable[..., Sources],
    fault: FaultKind,
    kind: str,
    record: type,
    noun: str,
) -> None:
    sources = simulated(opened, sqlite_db, sim, "BTC/USDT", "ETH/USDT", "SOL/USDT")
    await sources.exchanges[SIM_EXCHANGE].load_markets()
    sim.set_faults(FaultPlan(rules=(FaultRule(fault, count=1),)))  # the first symbol's call
    outcome = await run(market.default_collectors(sources), f"sim_{kind}", sqlite_db)
    assert sim.stats.faults_injected.get(fault.value) == 1
    assert outcome.status == "partial" and outcome.problem is not None
    assert outcome.problem.startswith(f"1 of 3 {noun}(s) failed: BTC/USDT: ")
    stored = {row.symbol for row in read_records(sqlite_db, record)}
    assert stored == {"ETH/USDT", "SOL/USDT"}


async def test_candle_series_go_on_past_an_unknown_symbol(
    sqlite_db: Database, sim: SimulatorHandle, opened: Callable[..., Sources]
) -> None:
    sources = simulated(opened, sqlite_db, sim, "BTC/USDT", "DOGE/USDT", "ETH/USDT")
    outcome = await run(market.default_collectors(sources), "sim_candles_1h", sqlite_db)
    assert outcome.status == "partial" and outcome.problem is not None
    assert outcome.problem.startswith("1 of 3 symbol(s) failed: DOGE/USDT: ")
    assert "unknown symbol" in outcome.problem
    stored = {candle.symbol for candle in read_records(sqlite_db, Candle)}
    assert stored == {"BTC/USDT", "ETH/USDT"}
    assert outcome.records_written == len(read_records(sqlite_db, Candle)) > 0


async def test_a_candle_page_is_retried_under_the_runs_rule_once(
    sqlite_db: Database, sim: SimulatorHandle, opened: Callable[..., Sources]
) -> None:
    """A page that fails on every try is asked `max_attempts` times, no more: the run's
    rule is the only retry layer. What it could not fetch stays missing (partial)."""
    sources = simulated(opened, sqlite_db, sim, "BTC/USDT")
    await sources.exchanges[SIM_EXCHANGE].load_markets()
    collectors = market.default_collectors(sources)
    sim.set_outage(True)
    failed = await run(collectors, "sim_candles_1h", sqlite_db, retries(3))
    sim.set_outage(False)
    assert failed.status == "partial" and failed.problem is not None
    pages = int(failed.problem.removesuffix(" page(s) failed"))
    # the listing (one candle) and every page of the range, each asked three times
    assert pages > 0 and sim.stats.requests_by_path.get(KLINES, 0) == (1 + pages) * 3
    assert read_records(sqlite_db, Candle) == []

    sim.set_faults(FaultPlan(rules=(FaultRule(FaultKind.SERVER_ERROR, count=2, path=KLINES),)))
    healed = await run(collectors, "sim_candles_1h", sqlite_db, retries(3))
    assert sim.stats.faults_injected.get(FaultKind.SERVER_ERROR.value) == 2
    assert healed.status == "ok" and healed.records_written > 0


def http_settings(url: str) -> Settings:
    """CoinGecko, CoinSpot and DeFiLlama at the replay server, the universe's coins
    BTC, ETH and SOL."""
    env = {
        "OMC_COINGECKO_URL": url,
        "OMC_COINSPOT_URL": f"{url}/pubapi/v2",
        "OMC_DEFILLAMA_URL": url,
    }
    env |= {f"OMC_{name}_RATE_LIMIT": "60000" for name in ("COINGECKO", "DEFILLAMA")}
    return load_settings(env, "absent.toml")


async def test_coingecko_history_goes_on_past_a_failed_coin(
    sqlite_db: Database, opened: Callable[..., Sources]
) -> None:
    routes = {
        "/coins/bitcoin/ohlc": Reply(b'{"error": "upstream"}', status=500),
        "/coins/ethereum/ohlc": fixture("coingecko", "ohlc_bitcoin_usd_1d.json"),
    }
    async with replay_server(routes) as url:
        sources = opened(sqlite_db, http_settings(url))
        outcome = await run(coingecko.default_collectors(sources), "coingecko_ohlc", sqlite_db)
        assert url.count("/coins/ethereum/ohlc") == 1
    assert outcome.status == "partial" and outcome.problem is not None
    assert outcome.problem.startswith("1 of 2 coin(s) failed: bitcoin: ")
    stored = read_records(sqlite_db, Candle)
    assert stored and {c.symbol for c in stored} == {"ETH/USD"}


async def test_coingecko_history_stops_at_a_rate_limit(
    sqlite_db: Database, opened: Callable[..., Sources]
) -> None:
    routes = {
        "/coins/bitcoin/ohlc": Reply(b"{}", status=429, headers={"Retry-After": "30"}),
        "/coins/ethereum/ohlc": fixture("coingecko", "ohlc_bitcoin_usd_1d.json"),
    }
    async with replay_server(routes) as url:
        sources = opened(sqlite_db, http_settings(url))
        with pytest.raises(RateLimitedError):
            await run(coingecko.default_collectors(sources), "coingecko_ohlc", sqlite_db)
        assert url.count("/coins/ethereum/ohlc") == 0
    assert read_records(sqlite_db, Candle) == []


async def test_defillama_fees_go_on_past_a_malformed_list(
    sqlite_db: Database, opened: Callable[..., Sources]
) -> None:
    routes = {
        "/overview/fees?dataType=dailyFees": Reply(b'{"protocols": [{"name": '),
        "/overview/fees?dataType=dailyRevenue": fixture("defillama", "fees_dailyRevenue.json"),
    }
    async with replay_server(routes) as url:
        sources = opened(sqlite_db, http_settings(url))
        outcome = await run(defillama.default_collectors(sources), "defillama_fees", sqlite_db)
    assert outcome.status == "partial" and outcome.problem is not None
    assert outcome.problem.startswith("1 of 2 fee list(s) failed: dailyFees: ")
    rows = read_records(sqlite_db, ProtocolFundamental)
    assert rows and all(r.fees_24h is None for r in rows)
    assert any(r.revenue_24h is not None for r in rows)


@pytest.mark.parametrize(
    ("name", "path", "body", "record", "noun"),
    [
        ("coinspot_orderbooks", "open", "orders_open_btc.json", OrderBook, "order book"),
        ("coinspot_trades", "completed", "orders_completed_btc.json", Trade, "trade list"),
    ],
)
async def test_coinspot_books_and_trades_go_on_past_a_failed_coin(
    sqlite_db: Database,
    opened: Callable[..., Sources],
    name: str,
    path: str,
    body: str,
    record: type,
    noun: str,
) -> None:
    routes = {
        f"/pubapi/v2/orders/{path}/BTC": fixture("coinspot", body),
        f"/pubapi/v2/orders/{path}/ETH": Reply(b"<html>bad gateway</html>", status=502),
        f"/pubapi/v2/orders/{path}/SOL": fixture("coinspot", body),
    }
    async with replay_server(routes) as url:
        sources = opened(sqlite_db, http_settings(url))
        outcome = await run(coinspot.default_collectors(sources), name, sqlite_db)
        assert url.count(f"/pubapi/v2/orders/{path}/ETH") == 1  # no retry under the run
    assert outcome.status == "partial" and outcome.problem is not None
    assert outcome.problem.startswith(f"1 of 3 {noun}(s) failed: ETH: ")
    assert {row.symbol for row in read_records(sqlite_db, record)} == {"BTC/AUD", "SOL/AUD"}
