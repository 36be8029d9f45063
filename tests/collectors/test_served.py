"""What the default collectors store is what the API serves: every ledger's endpoints
over a database filled by a run of every default collector, on both backends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from ohmycoins.api import create_app
from ohmycoins.publish import MemoryBroker
from ohmycoins.records import NewsItem
from ohmycoins.settings import Settings
from ohmycoins.sim import SimulatorHandle
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import read_records
from tests.collectors.test_defaults import collect_everything

HOUR = 3_600_000

SERVED = {
    "/api/v1/markets": {},
    "/api/v1/assets": {},
    "/api/v1/tickers/latest": {"exchange": "coinspot"},
    "/api/v1/orderbook/latest": {"exchange": "coinspot", "symbol": "BTC/AUD"},
    "/api/v1/trades": {"exchange": "binance", "symbol": "BTC/USDT"},
    "/api/v1/glass/protocols": {},
    "/api/v1/onchain": {"asset": "bitcoin"},
    "/api/v1/glass/community": {"asset": "bitcoin"},
    "/api/v1/macro": {"series_id": "yahoo:^GSPC"},
    "/api/v1/news": {},
    "/api/v1/social": {"platform": "reddit"},
    "/api/v1/catalyst/events": {"hours": 8784},
}


def _rows(body: Any) -> list[Any]:
    return body if isinstance(body, list) else body.get("data", [])


async def test_every_ledger_is_served(db: Database, sim: SimulatorHandle, tmp_path: Path) -> None:
    await collect_everything(db, sim, tmp_path)
    tagged = next(item for item in read_records(db, NewsItem) if item.currencies)
    with TestClient(create_app(Settings(database_url=db.url), db=db, broker=MemoryBroker())) as api:
        empty = {}
        for path, params in SERVED.items():
            response = api.get(path, params=params)
            assert response.status_code == 200, (path, response.text)
            if not _rows(response.json()):
                empty[path] = response.text[:200]
        assert empty == {}
        sentiment = api.get(
            "/api/v1/sentiment",
            params={
                "asset": tagged.currencies[0],
                "start": tagged.published_ts - HOUR,
                "end": tagged.published_ts + HOUR,
            },
        )
        assert sentiment.status_code == 200, sentiment.text
        assert sum(hour["count"] for hour in _rows(sentiment.json())) > 0
        integrity = api.get("/api/v1/quality/integrity")
        coverage = api.get("/api/v1/quality/coverage", params={"hours": 24})
        assert integrity.status_code == coverage.status_code == 200
        assert "onchain_metrics" in coverage.text
