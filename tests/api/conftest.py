"""An app over a database filled through the real write path, on both backends."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from decimal import Decimal as D
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from ohmycoins.api import create_app
from ohmycoins.api.encode import NEXT_CURSOR_HEADER
from ohmycoins.api.keys import create_key
from ohmycoins.api.schemas import DECIMAL_PATTERN
from ohmycoins.publish import Broker, MemoryBroker
from ohmycoins.records import Record
from ohmycoins.scheduling.registry import Registry
from ohmycoins.settings import Settings
from ohmycoins.storage.database import Database
from ohmycoins.storage.export import DECIMAL_METADATA
from ohmycoins.storage.upsert import upsert
from tests import factories as f
from tests.factories import T0

MINUTE = 60_000


def market_records() -> list[Record]:
    """A small market: ten 1m candles, trades sharing a ts, two markets' tickers and books,
    CoinGecko snapshots at two times, assets."""
    records: list[Record] = [
        f.candle(ts=T0 + i * MINUTE, close=D("37000.") + i, volume=D("0.00000001"))
        for i in range(10)
    ]
    records += [f.candle(timeframe="1h", ts=T0 - 40 * MINUTE)]
    records += [f.trade(trade_id=str(1000 + i), ts=T0 + (i // 2) * 1000) for i in range(6)]
    for symbol, last in (("BTC/USDT", "37005.25"), ("ETH/USDT", "2000.5")):
        records += [
            f.ticker(symbol=symbol, ts=T0, last=D("1")),
            f.ticker(symbol=symbol, ts=T0 + MINUTE, last=D(last)),
            f.orderbook(symbol=symbol, ts=T0),
            f.orderbook(symbol=symbol, ts=T0 + 5000, bids=((D("36999"), D("2")),)),
        ]
    for ts in (T0, T0 + MINUTE):
        records += [
            f.market_snapshot(ts=ts, price=D("37005.1") + (ts - T0) // MINUTE),
            f.market_snapshot(asset_id="ethereum", symbol="ETH", ts=ts, rank=2, price=D("2000")),
            f.market_snapshot(asset_id="newcoin", symbol="NEW", ts=ts, rank=None, price=D("0.1")),
        ]
    records += [
        f.asset(),
        f.asset(asset_id="ethereum", symbol="ETH", name="Ethereum", rank=2, network_type="pos"),
        f.asset(asset_id="newcoin", symbol="NEW", name="New", rank=None, active=False),
    ]
    return records


def make_client(
    db: Database,
    *,
    settings: Settings | None = None,
    broker: Broker | None = None,
    registry: Registry | None = None,
    wake: Callable[[], None] | None = None,
    **setting_values: Any,
) -> TestClient:
    """A test client of an app over `db` (and an in-process broker unless one is given);
    `setting_values` (`api_require_key=True`) make the settings when none are given."""
    settings = settings or Settings(database_url=db.url, **setting_values)
    app = create_app(settings, db=db, broker=broker or MemoryBroker(), registry=registry, wake=wake)
    return TestClient(app)


def all_pages(client: TestClient, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every row of a JSON range endpoint, following its `next` cursors."""
    rows: list[dict[str, Any]] = []
    while True:
        body = client.get(path, params=params).json()
        rows += body["data"]
        if body["next"] is None:
            return rows
        params = params | {"cursor": body["next"]}


def parquet_equals_json(client: TestClient, path: str, params: dict[str, Any]) -> set[str]:
    """The Parquet page of a range endpoint, checked against its JSON page: the same rows
    and cursor, and exactly the columns its OpenAPI schema calls decimal strings marked
    `decimal: exact` (the parameters must select rows, or there is nothing to compare).
    Returns the names of those columns."""
    page = client.get(path, params=params).json()
    response = client.get(path, params=params | {"format": "parquet"})
    assert response.status_code == 200, response.text
    table = pq.read_table(io.BytesIO(response.content))
    assert page["data"] and table.to_pylist() == page["data"]
    assert response.headers.get(NEXT_CURSOR_HEADER) == page["next"]
    documented = {
        name
        for name, spec in _row_schema(client, path)["properties"].items()
        if any(option.get("pattern") == DECIMAL_PATTERN for option in spec.get("anyOf", [spec]))
    }
    marked = {field.name for field in table.schema if field.metadata == DECIMAL_METADATA}
    assert marked == documented
    return marked


def _row_schema(client: TestClient, path: str) -> dict[str, Any]:
    """The OpenAPI schema of what the `data` array of a range endpoint's page holds."""
    spec = client.get("/api/v1/openapi.json").json()
    models = spec["components"]["schemas"]
    answer = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    page = models[answer["schema"]["$ref"].rsplit("/", 1)[-1]]
    return models[page["properties"]["data"]["items"]["$ref"].rsplit("/", 1)[-1]]


@pytest.fixture
def filled_db(db: Database) -> Database:
    upsert(db, market_records())
    return db


@pytest.fixture
def client(filled_db: Database) -> Iterator[TestClient]:
    with make_client(filled_db) as client:
        yield client


@pytest.fixture
def admin_key(db: Database) -> str:
    return create_key(db, "admin", name="test admin").key


@pytest.fixture
def read_key(db: Database) -> str:
    return create_key(db, "read", name="test reader").key
