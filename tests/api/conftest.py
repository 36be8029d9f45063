"""An app over a database filled through the real write path, on both backends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal as D
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ohmycoins.api import create_app
from ohmycoins.api.keys import create_key
from ohmycoins.publish import Broker, MemoryBroker
from ohmycoins.records import Record
from ohmycoins.scheduling.registry import Registry
from ohmycoins.settings import Settings
from ohmycoins.storage.database import Database
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
