"""GET /api/v1/features: JSON, CSV and Parquet pages of stored features, keyset paged;
and `Client.features`, a DataFrame indexed by time, against the app served by uvicorn."""

from __future__ import annotations

import io
import math

import numpy as np
import pyarrow.parquet as pq
import pytest

from ohmycoins.api.app import create_app
from ohmycoins.client import Client
from ohmycoins.collectors.features import rebuild
from ohmycoins.enrich.default_features import DEFAULT_SET
from ohmycoins.publish import MemoryBroker
from ohmycoins.settings import Settings
from ohmycoins.storage.database import Database
from ohmycoins.storage.feature_stale import Series
from ohmycoins.storage.features import read_features
from ohmycoins.storage.upsert import upsert
from tests.api.conftest import all_pages, make_client
from tests.support.candles import MINUTE, START, random_walk
from tests.support.serve import serving

SERIES = Series("binance", "BTC/USDT", "1m")
PARAMS = {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1m"}
N = 250


@pytest.fixture
def built(db: Database) -> Database:
    upsert(db, random_walk(N))
    rebuild(db, SERIES, DEFAULT_SET, at_ms=START + N * MINUTE)
    return db


def _null(value: float) -> float | None:
    return None if math.isnan(value) else value


def test_json_pages_hold_every_stored_row(built: Database) -> None:
    client = make_client(built)
    rows = all_pages(client, "/api/v1/features", {**PARAMS, "limit": 40})
    stored = read_features(built, SERIES, DEFAULT_SET.version)
    assert [r["ts"] for r in rows] == stored.ts
    last = rows[-1]
    assert last["warm_up"] is True  # 250 candles: the longest warm-ups are not over
    for name in ("rsi_14", "macd_hist", "bb_lower", "logret_1", "news_count_1h"):
        assert last[name] == _null(stored.values[-1, DEFAULT_SET.columns.index(name)])


def test_columns_range_csv_and_parquet(built: Database) -> None:
    client = make_client(built)
    query = {**PARAMS, "columns": "rsi_14,sma_dist_200", "start": START + 10 * MINUTE,
             "end": START + 19 * MINUTE}  # fmt: skip
    body = client.get("/api/v1/features", params=query).json()
    assert [set(r) for r in body["data"]] == [{"ts", "warm_up", "rsi_14", "sma_dist_200"}] * 10
    csv = client.get("/api/v1/features", params={**query, "format": "csv"}).text.splitlines()
    assert csv[0] == "ts,warm_up,rsi_14,sma_dist_200" and len(csv) == 11
    assert csv[1] == f"{START + 10 * MINUTE},True,,"  # inside the warm-ups: empty (NULL)
    answer = client.get("/api/v1/features", params={**query, "format": "parquet"})
    table = pq.read_table(io.BytesIO(answer.content))
    assert table.column("ts").to_pylist() == [r["ts"] for r in body["data"]]
    assert str(table.schema.field("rsi_14").type) == "double"


def test_bad_columns_and_sets_are_refused_and_unbuilt_series_are_empty(built: Database) -> None:
    client = make_client(built)
    bad = client.get("/api/v1/features", params={**PARAMS, "columns": "rsi_15"})
    assert bad.status_code == 422 and "rsi_15" in bad.text
    assert client.get("/api/v1/features", params={**PARAMS, "set": "nope"}).status_code == 422
    empty = client.get("/api/v1/features", params={**PARAMS, "symbol": "ETH/USDT"})
    assert empty.status_code == 200 and empty.json() == {"data": [], "next": None}


def test_the_client_returns_a_frame_indexed_by_time(built: Database) -> None:
    settings = Settings(database_url=built.url)
    app = create_app(settings, db=built, broker=MemoryBroker())
    with serving(app) as url, Client(url, page_size=100) as api:
        frame = api.features("binance", "BTC/USDT", "1m", columns=["rsi_14", "macd_line"])
    stored = read_features(built, SERIES, DEFAULT_SET.version, columns=["rsi_14", "macd_line"])
    assert len(frame) == N and str(frame.index.tz) == "UTC"
    assert frame.index[0].value // 1_000_000 == START
    assert list(frame.columns) == ["ts", "warm_up", "rsi_14", "macd_line"]
    np.testing.assert_array_equal(frame[["rsi_14", "macd_line"]].to_numpy(), stored.values)
