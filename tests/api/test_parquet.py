"""`format=parquet` on the range endpoints, and through `page_response` for any route."""

from __future__ import annotations

import io
from decimal import Decimal as D
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from ohmycoins.api.encode import (
    NEXT_CURSOR_HEADER,
    PARQUET_MEDIA_TYPE,
    model_kinds,
    page_response,
    row_of,
)
from ohmycoins.api.schemas import CandleOut, DecimalStr
from ohmycoins.storage.export import DECIMAL_METADATA
from tests import factories as f
from tests.api.conftest import MINUTE
from tests.factories import T0

SERIES = {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1m"}
TRADES = {"exchange": "binance", "symbol": "BTC/USDT"}


def read_table(body: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(body))


def test_candles_round_trip_with_exact_decimals(client: TestClient) -> None:
    response = client.get("/api/v1/candles", params={**SERIES, "format": "parquet"})
    assert response.status_code == 200
    assert response.headers["content-type"] == PARQUET_MEDIA_TYPE
    assert NEXT_CURSOR_HEADER not in response.headers  # one page holds the series
    table = read_table(response.content)
    json_rows = client.get("/api/v1/candles", params=SERIES).json()["data"]
    assert table.to_pylist() == json_rows
    assert table.column_names == list(json_rows[0])
    assert table.schema.field("ts").type == pa.int64()
    for name in ("open", "high", "low", "close", "volume"):
        field = table.schema.field(name)
        assert field.type == pa.string() and field.metadata == DECIMAL_METADATA
    first = table.slice(0, 1).to_pylist()[0]
    assert (first["open"], first["close"], first["volume"]) == ("37000.10", "37000", "0.00000001")


def test_candles_in_pandas_stay_exact(client: TestClient) -> None:
    response = client.get("/api/v1/candles", params={**SERIES, "format": "parquet"})
    frame = read_table(response.content).to_pandas()
    assert list(frame["open"].map(D))[:2] == [D("37000.10"), D("37000.10")]
    assert frame["ts"].dtype == "int64"


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_parquet_pages_carry_the_cursor_in_the_header(client: TestClient, order: str) -> None:
    params: dict[str, Any] = {**SERIES, "limit": 4, "order": order, "format": "parquet"}
    seen: list[int] = []
    while True:
        response = client.get("/api/v1/candles", params=params)
        seen += read_table(response.content).column("ts").to_pylist()
        cursor = response.headers.get(NEXT_CURSOR_HEADER)
        if cursor is None:
            break
        params["cursor"] = cursor
    expected = [T0 + i * MINUTE for i in range(10)]
    assert seen == (expected if order == "asc" else expected[::-1])


def test_an_empty_page_keeps_its_schema(client: TestClient) -> None:
    params = {**SERIES, "symbol": "ETH/USDT", "format": "parquet"}
    table = read_table(client.get("/api/v1/candles", params=params).content)
    assert table.num_rows == 0
    assert table.schema.field("ts").type == pa.int64()
    assert table.schema.field("volume").metadata == DECIMAL_METADATA


def test_trades_round_trip(client: TestClient) -> None:
    params = {**TRADES, "limit": 4, "format": "parquet"}
    response = client.get("/api/v1/trades", params=params)
    table = read_table(response.content)
    assert table.column("trade_id").to_pylist() == ["1000", "1001", "1002", "1003"]
    assert set(table.column("amount").to_pylist()) == {"0.00120000"}
    assert table.column("price").to_pylist()[0] == "37001.01"
    json_page = client.get("/api/v1/trades", params={**TRADES, "limit": 4}).json()
    assert table.to_pylist() == json_page["data"]
    assert response.headers[NEXT_CURSOR_HEADER] == json_page["next"]


@pytest.mark.parametrize("path", ["/api/v1/candles", "/api/v1/trades"])
@pytest.mark.parametrize("value", ["xml", "PARQUET", "arrow", ""])
def test_an_unknown_format_is_refused(client: TestClient, path: str, value: str) -> None:
    response = client.get(path, params={**SERIES, "format": value})
    assert response.status_code == 422
    assert "'format'" in response.json()["message"]


def test_openapi_documents_parquet(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    for path in ("/api/v1/candles", "/api/v1/trades"):
        answer = spec["paths"][path]["get"]
        assert PARQUET_MEDIA_TYPE in answer["responses"]["200"]["content"]
        (fmt,) = [p for p in answer["parameters"] if p["name"] == "format"]
        assert "parquet" in fmt["schema"]["enum"]
        assert "exact" in fmt["description"]


class Row(BaseModel):
    name: str
    n: int | None
    ok: bool
    value: DecimalStr | None
    tags: list[str]
    either: int | str


def test_page_response_types_columns_as_the_model_documents() -> None:
    """`model_kinds` of the row model types a page; lists and unions are inferred."""
    assert model_kinds(Row) == {"name": str, "n": int, "ok": bool, "value": D}
    rows: list[dict[str, Any]] = [
        {"name": "a", "n": 1, "ok": True, "value": "1.50", "tags": ["x"], "either": 1},
        {"name": "b", "n": None, "ok": False, "value": None, "tags": [], "either": 2},
    ]
    response = page_response(rows, Row, "abc", "parquet")
    assert response.headers[NEXT_CURSOR_HEADER] == "abc"
    table = read_table(bytes(response.body))
    assert table.to_pylist() == rows
    assert table.schema.field("n").type == pa.int64()
    assert table.schema.field("ok").type == pa.bool_()
    assert table.schema.field("tags").type == pa.list_(pa.string())
    assert table.schema.field("value").metadata == DECIMAL_METADATA
    assert [f.name for f in table.schema if f.metadata] == ["value"]
    empty = read_table(bytes(page_response([], Row, None, "parquet").body))
    assert empty.num_rows == 0 and empty.column_names == list(Row.model_fields)
    assert empty.schema.field("value").metadata == DECIMAL_METADATA


def test_record_decimals_become_exact_text() -> None:
    candles = [f.candle(volume=None), f.candle(ts=T0 + MINUTE, volume=D("1E-8"))]
    rows = [row_of(candle, list(CandleOut.model_fields)) for candle in candles]
    response = page_response(rows, CandleOut, None, "parquet")
    assert NEXT_CURSOR_HEADER not in response.headers
    table = read_table(bytes(response.body))
    assert table.column("volume").to_pylist() == [None, "0.00000001"]
    assert table.schema.field("volume").metadata == DECIMAL_METADATA
