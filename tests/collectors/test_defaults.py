"""The default collectors of a fresh install, scheduled and run once by a real worker
against local servers: the simulator for Binance, recorded-shape bodies for every
other free source. Keyed sources without keys are listed, disabled, with the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ohmycoins.collectors.clients import Sources
from ohmycoins.collectors.defaults import registry_for
from ohmycoins.publish import MemoryBroker
from ohmycoins.records import (
    Asset,
    CatalystEvent,
    CollectorRun,
    MacroObservation,
    MarketSnapshot,
    NewsItem,
    OnchainMetric,
    OrderBook,
    ProtocolFundamental,
    SocialPost,
    Ticker,
)
from ohmycoins.scheduling.registry import Registry
from ohmycoins.scheduling.tasks import list_tasks, sync_tasks
from ohmycoins.scheduling.worker import Worker
from ohmycoins.settings import RETENTION_TABLES, load_settings
from ohmycoins.sim import SimulatorHandle
from ohmycoins.storage.backup import backups_in
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import read_records
from ohmycoins.timeframes import now_ms
from tests.collectors.test_catalyst import LIST_PATH, _fresh_submissions
from tests.collectors.test_glass_sources import mempool_routes
from tests.support.replay import Reply, replay_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
KEYED = {
    "glassnode_metrics",
    "nansen_exchange_flows",
    "fred_observations",
    "cryptopanic_news",
    "guardian_news",
    "newscatcher_news",
    "x_posts",
}
FAST_SOURCES = (
    "COINGECKO",
    "DEFILLAMA",
    "DEFILLAMA_STABLECOINS",
    "BLOCKCHAIN_INFO",
    "MEMPOOL",
    "ETHEREUM_RPC",
    "YAHOO",
    "RSS",
    "REDDIT",
    "SEC_EDGAR",
    "SEC_EFTS",
    "BINANCE_ANNOUNCEMENTS",
    "COINSPOT_ANNOUNCEMENTS",
)


def _file(source: str, name: str, **options: Any) -> Reply:
    return Reply.file(FIXTURES / source / name, **options)


def _routes() -> dict[str, Any]:
    """Every free source's endpoints on one local server (paths do not collide)."""
    rpc = [_file("ethereum_rpc", n) for n in ("block_number.json", "gas_price.json")]
    rpc += [_file("ethereum_rpc", n) for n in ("block_latest.json", "block_earlier.json")]
    return {
        "/coins/markets": _file("coingecko", "markets_usd.json"),
        "/coins/bitcoin/ohlc": _file("coingecko", "ohlc_bitcoin_usd_1d.json"),
        "/coins/ethereum/ohlc": _file("coingecko", "ohlc_bitcoin_usd_1d.json"),
        # the third by rank once the markets are stored
        "/coins/pepe/ohlc": _file("coingecko", "ohlc_bitcoin_usd_1d.json"),
        "/coins/bitcoin": _file("coingecko", "coin_detail_bitcoin.json"),
        "/coins/ethereum": _file("coingecko", "coin_detail_ethereum_recent_nulls.json"),
        "/pubapi/v2/latest": _file("coinspot", "latest.json"),
        "/pubapi/v2/orders/open/BTC": _file("coinspot", "orders_open_btc.json"),
        "/pubapi/v2/orders/completed/BTC": _file("coinspot", "orders_completed_btc.json"),
        "/protocols": _file("defillama", "protocols.json"),
        "/overview/fees?dataType=dailyFees": _file("defillama", "fees_dailyFees.json"),
        "/overview/fees?dataType=dailyRevenue": _file("defillama", "fees_dailyRevenue.json"),
        "/protocol/aave-v3": _file("defillama", "protocol_aave-v3.json"),
        "/v2/chains": _file("defillama", "chains.json"),
        "/stablecoins": _file("defillama", "stablecoins.json"),
        "/stats": _file("blockchain_info", "stats.json"),
        "/rpc": rpc,
        **mempool_routes(),
        "/v8/finance/chart/^GSPC": _file("yahoo", "chart_gspc_1d.json"),
        "/feeds/coindesk": _file("rss", "coindesk.xml", content_type="application/rss+xml"),
        "/feeds/decrypt": _file("rss", "decrypt.atom", content_type="application/atom+xml"),
        "/r/Bitcoin/new.json": _file("reddit", "new_bitcoin.json"),
        "/submissions/CIK0001980994.json": _fresh_submissions(),
        "/LATEST/search-index": _file("sec_edgar", "efts_search.json"),
        f"{LIST_PATH}?catalogId=48": _file("announcements", "binance_listings.json"),
        f"{LIST_PATH}?catalogId=161": _file("announcements", "binance_delistings.json"),
        "/hc/en-us/sections/announcements": _file(
            "announcements", "coinspot_section.html", content_type="text/html"
        ),
    }


def _config(url: str, backups: Path) -> str:
    return f"""
[universe]
symbols = ["BTC/USDT"]
timeframes = ["1h"]
top_n = 3

[macro]
yahoo_symbols = ["^GSPC"]

[streams]
enabled = false  # a stream never ends: test_streams runs them

[news]
feeds = ["{url}/feeds/coindesk", "{url}/feeds/decrypt"]
subreddits = ["Bitcoin"]

[catalysts]
sec_ciks = ["0001980994"]
announcement_pages = [
  {{exchange = "coinspot", url = "{url}/hc/en-us/sections/announcements"}},
]

[backup]
dir = "{backups}"

[collectors.backup]
interval_seconds = 86400

{_KEEP_EVERYTHING}
"""


_KEEP_EVERYTHING = "[retention]\n" + "\n".join(f'{table} = "forever"' for table in RETENTION_TABLES)
"""The recorded answers are dated when they were recorded (months ago): the retention
job runs with the rest, and keeps them to be read back."""


async def collect_everything(db: Database, sim: SimulatorHandle, config_dir: Path) -> Registry:
    """Schedule every default collector of a fresh install and run each once, every
    source served locally; returns the registry."""
    async with replay_server(_routes()) as url:
        config = config_dir / "ohmycoins.toml"
        config.write_text(_config(url, config_dir / "backups"))
        env = {f"OMC_{name}_URL": url for name in FAST_SOURCES}
        env |= {f"OMC_{name}_RATE_LIMIT": "60000" for name in FAST_SOURCES}
        env |= {
            "OMC_BINANCE_URL": sim.base_url,
            "OMC_COINSPOT_URL": f"{url}/pubapi/v2",
            "OMC_MEMPOOL_URL": f"{url}/api",
            "OMC_ETHEREUM_RPC_URL": f"{url}/rpc",
        }
        settings = load_settings(env, config)
        sources = Sources.open(settings, db, MemoryBroker())
        try:
            registry = registry_for(sources)
            sync_tasks(db, registry, now_ms())
            worker = Worker(db, registry)
            # The universe first, as on a running install: coin detail and news
            # tagging read the assets it stores.
            ran = await worker.run_once(only=["coingecko_markets"])
            ran += await worker.run_once()
        finally:
            await sources.close()
    assert ran == len(registry.enabled())
    return registry


async def test_every_default_collector_runs(
    sqlite_db: Database, sim: SimulatorHandle, tmp_path: Path
) -> None:
    registry = await collect_everything(sqlite_db, sim, tmp_path)
    disabled = {c.name: c.disabled_reason for c in registry if not c.enabled}
    assert disabled == dict.fromkeys(KEYED, "no API key")
    names = {task.task_id for task in list_tasks(sqlite_db)}
    assert names == set(registry.names())
    assert {c.ledger for c in registry.enabled()} == {
        "exchange",
        "glass",
        "macro",
        "human",
        "catalyst",
        "maintenance",
    }
    runs = {run.collector: run for run in read_records(sqlite_db, CollectorRun)}
    assert set(runs) == names
    failed = {name: run.error for name, run in runs.items() if run.status not in ("ok", "partial")}
    assert failed == {}
    assert read_records(sqlite_db, Asset) and read_records(sqlite_db, MarketSnapshot)
    assert {t.exchange for t in read_records(sqlite_db, Ticker)} == {"binance", "coinspot"}
    assert {b.exchange for b in read_records(sqlite_db, OrderBook)} == {"binance", "coinspot"}
    for glass in (ProtocolFundamental, OnchainMetric, MacroObservation):
        assert read_records(sqlite_db, glass), glass.__name__
    news = read_records(sqlite_db, NewsItem)
    assert news and all(item.sentiment_model for item in news)
    assert read_records(sqlite_db, SocialPost)
    assert read_records(sqlite_db, CatalystEvent)
    assert [path.suffix for path in backups_in(tmp_path / "backups")] == [".db"]
