from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import MINUTE
from tests.factories import T0

SERIES = {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1m"}


def test_candles_oldest_first_with_exact_decimals(client: TestClient) -> None:
    body = client.get("/api/v1/candles", params=SERIES).json()
    assert [c["ts"] for c in body["data"]] == [T0 + i * MINUTE for i in range(10)]
    first = body["data"][0]
    assert first["open"] == "37000.10"
    assert first["close"] == "37000"
    assert first["volume"] == "0.00000001"  # plain notation, never 1E-8
    assert body["next"] is None


def test_candles_bounds_and_newest_first(client: TestClient) -> None:
    params = {**SERIES, "start": T0 + 2 * MINUTE, "end": T0 + 5 * MINUTE, "order": "desc"}
    body = client.get("/api/v1/candles", params=params).json()
    assert [c["ts"] for c in body["data"]] == [T0 + i * MINUTE for i in (5, 4, 3, 2)]


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_candles_keyset_pages_cover_the_range(client: TestClient, order: str) -> None:
    seen: list[int] = []
    params: dict[str, object] = {**SERIES, "limit": 3, "order": order}
    pages = 0
    while True:
        response = client.get("/api/v1/candles", params=params)
        body = response.json()
        seen += [c["ts"] for c in body["data"]]
        pages += 1
        if body["next"] is None:
            break
        assert response.headers["X-Next-Cursor"] == body["next"]
        params["cursor"] = body["next"]
    expected = [T0 + i * MINUTE for i in range(10)]
    assert seen == (expected if order == "asc" else expected[::-1])
    assert pages == 4


def test_candles_csv(client: TestClient) -> None:
    response = client.get("/api/v1/candles", params={**SERIES, "limit": 2, "format": "csv"})
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 2
    assert rows[0]["open"] == "37000.10"
    assert rows[0]["ts"] == str(T0)
    assert "X-Next-Cursor" in response.headers


def test_trades_keyset_with_shared_timestamps(client: TestClient) -> None:
    ids: list[str] = []
    params: dict[str, object] = {"exchange": "binance", "symbol": "BTC/USDT", "limit": 4}
    while True:
        body = client.get("/api/v1/trades", params=params).json()
        ids += [t["trade_id"] for t in body["data"]]
        if body["next"] is None:
            break
        params["cursor"] = body["next"]
    assert ids == [str(1000 + i) for i in range(6)]
    first = client.get("/api/v1/trades", params=params | {"cursor": None}).json()["data"][0]
    assert first["price"] == "37001.01"
    assert first["amount"] == "0.00120000"


def test_trades_time_range(client: TestClient) -> None:
    params = {"exchange": "binance", "symbol": "BTC/USDT", "start": T0 + 1000, "end": T0 + 1000}
    body = client.get("/api/v1/trades", params=params).json()
    assert [t["trade_id"] for t in body["data"]] == ["1002", "1003"]


def test_latest_tickers_per_symbol(client: TestClient) -> None:
    body = client.get("/api/v1/tickers/latest", params={"exchange": "binance"}).json()
    assert [(t["symbol"], t["ts"], t["last"]) for t in body] == [
        ("BTC/USDT", T0 + MINUTE, "37005.25"),
        ("ETH/USDT", T0 + MINUTE, "2000.5"),
    ]
    one = client.get("/api/v1/tickers/latest", params={"symbol": "ETH/USDT"}).json()
    assert [t["symbol"] for t in one] == ["ETH/USDT"]


def test_latest_orderbook(client: TestClient) -> None:
    params = {"exchange": "binance", "symbol": "BTC/USDT"}
    (book,) = client.get("/api/v1/orderbook/latest", params=params).json()
    assert book["ts"] == T0 + 5000
    assert book["bids"] == [["36999", "2"]]
    assert book["asks"] == [["37000.50", "0.7"], ["37010.00", "3.25"]]
    assert book["spread"] == "1.50"


@pytest.mark.parametrize(
    ("path", "params", "parameter"),
    [
        ("/api/v1/candles", {**SERIES, "timeframe": "2m"}, "timeframe"),
        ("/api/v1/candles", {**SERIES, "limit": 0}, "limit"),
        ("/api/v1/candles", {**SERIES, "limit": 5001}, "limit"),
        ("/api/v1/candles", {**SERIES, "symbol": "btcusdt"}, "symbol"),
        ("/api/v1/candles", {**SERIES, "exchange": "Bin ance"}, "exchange"),
        ("/api/v1/candles", {**SERIES, "start": 10, "end": 5}, "start"),
        ("/api/v1/candles", {**SERIES, "start": "yesterday"}, "start"),
        ("/api/v1/candles", {**SERIES, "cursor": "!!garbage"}, "cursor"),
        ("/api/v1/candles", {**SERIES, "format": "xml"}, "format"),
        ("/api/v1/candles", {"exchange": "binance", "symbol": "BTC/USDT"}, "timeframe"),
        ("/api/v1/trades", {"exchange": "binance", "symbol": "BTC-USDT"}, "symbol"),
        ("/api/v1/trades", {"exchange": "binance", "symbol": "BTC/USDT", "limit": -1}, "limit"),
        ("/api/v1/tickers/latest", {"symbol": "btc"}, "symbol"),
        ("/api/v1/markets", {"limit": 0}, "limit"),
    ],
)
def test_bad_input_names_the_parameter(
    client: TestClient, path: str, params: dict[str, object], parameter: str
) -> None:
    response = client.get(path, params=params)
    assert response.status_code == 422
    body = response.json()
    assert f"'{parameter}'" in body["message"], body
    assert body["detail"][0]["loc"][-1] == parameter


def test_cursor_of_other_order_is_refused(client: TestClient) -> None:
    body = client.get("/api/v1/candles", params={**SERIES, "limit": 2}).json()
    response = client.get(
        "/api/v1/candles", params={**SERIES, "limit": 2, "order": "desc", "cursor": body["next"]}
    )
    assert response.status_code == 422
    assert "'cursor'" in response.json()["message"]
