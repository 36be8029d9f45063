"""The default collectors, scheduled and run once by a real worker against local
servers: the simulator for Binance, recorded-shape bodies for CoinGecko and CoinSpot."""

from __future__ import annotations

from pathlib import Path

from ohmycoins.collectors.defaults import Sources
from ohmycoins.publish import MemoryBroker
from ohmycoins.records import Asset, CollectorRun, MarketSnapshot, OrderBook, Ticker
from ohmycoins.scheduling.tasks import list_tasks, sync_tasks
from ohmycoins.scheduling.worker import Worker
from ohmycoins.service import registry_for
from ohmycoins.settings import load_settings
from ohmycoins.sim import SimulatorHandle
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import read_records
from ohmycoins.timeframes import now_ms
from tests.support.replay import Reply, replay_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


async def test_every_default_collector_runs(
    sqlite_db: Database, sim: SimulatorHandle, tmp_path: Path
) -> None:
    coingecko = {
        "/coins/markets": Reply.file(FIXTURES / "coingecko" / "markets_usd.json"),
        "/coins/bitcoin/ohlc": Reply.file(FIXTURES / "coingecko" / "ohlc_bitcoin_usd_1d.json"),
        "/coins/ethereum/ohlc": Reply.file(FIXTURES / "coingecko" / "ohlc_bitcoin_usd_1d.json"),
    }
    coinspot = {
        "/pubapi/v2/latest": Reply.file(FIXTURES / "coinspot" / "latest.json"),
        "/pubapi/v2/orders/open/BTC": Reply.file(FIXTURES / "coinspot" / "orders_open_btc.json"),
        "/pubapi/v2/orders/completed/BTC": Reply.file(
            FIXTURES / "coinspot" / "orders_completed_btc.json"
        ),
    }
    config = tmp_path / "ohmycoins.toml"
    config.write_text('[universe]\nsymbols = ["BTC/USDT"]\ntimeframes = ["1h"]\ntop_n = 3\n')
    async with replay_server(coingecko) as gecko_url, replay_server(coinspot) as spot_url:
        env = {
            "OMC_BINANCE_URL": sim.base_url,
            "OMC_COINGECKO_URL": gecko_url,
            "OMC_COINGECKO_RATE_LIMIT": "6000",
            "OMC_COINSPOT_URL": f"{spot_url}/pubapi/v2",
        }
        settings = load_settings(env, config)
        sources = Sources.open(settings, sqlite_db, MemoryBroker())
        try:
            registry = registry_for(sources)
            sync_tasks(sqlite_db, registry, now_ms())
            ran = await Worker(sqlite_db, registry).run_once()
        finally:
            await sources.close()
    names = {task.task_id for task in list_tasks(sqlite_db)}
    assert names == {
        "binance_candles_1h",
        "binance_tickers",
        "binance_orderbooks",
        "binance_trades",
        "coingecko_markets",
        "coingecko_ohlc",
        "coinspot_tickers",
        "coinspot_orderbooks",
        "coinspot_trades",
    }
    assert ran == len(names)
    runs = {run.collector: run for run in read_records(sqlite_db, CollectorRun)}
    assert set(runs) == names
    assert all(run.status in ("ok", "partial") for run in runs.values()), runs
    assert read_records(sqlite_db, Asset) and read_records(sqlite_db, MarketSnapshot)
    assert {t.exchange for t in read_records(sqlite_db, Ticker)} == {"binance", "coinspot"}
    assert {b.exchange for b in read_records(sqlite_db, OrderBook)} == {"binance", "coinspot"}
