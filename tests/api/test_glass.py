"""The glass, macro and quality endpoints over seeded data, on both backends."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Context
from decimal import Decimal as D
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ohmycoins.records import (
    CommunityMetric,
    MacroObservation,
    OnchainMetric,
    ProtocolFundamental,
    Record,
)
from ohmycoins.storage.database import Database
from ohmycoins.storage.upsert import upsert
from tests.api.conftest import all_pages, make_client, parquet_equals_json
from tests.quality.seeds import broken_records, clean_records

HOUR = 3_600_000
DAY = 86_400_000
H0 = 1_700_002_800_000
D0 = 1_699_920_000_000


def glass_records() -> list[Record]:
    """Bitcoin every hour for two days with a growing supply; three protocols over
    four days; community rows; two macro series."""
    records: list[Record] = [
        OnchainMetric(
            "bitcoin",
            H0 + i * HOUR,
            ("blockchain_info", "coingecko"),
            block_height=817_000 + i,
            circulating_supply=D("19500000") + 18 * i,
            market_cap=D("723000000000"),
            tvl=D("300000000"),
            nvt=D("60.25"),
        )
        for i in range(48)
    ]
    records += [OnchainMetric("ethereum", H0, ("coingecko",), market_cap=D("1"))]
    records += [
        ProtocolFundamental(
            slug,
            D0 + day * DAY,
            D0 + day * DAY + 5,
            "defillama",
            name=slug.title(),
            tvl=D("1000.5"),
            market_cap=D("2000") if slug == "aave" else None,
        )
        for day in range(4)
        for slug in ("aave", "lido", "uniswap")
    ]
    records += [
        CommunityMetric("bitcoin", H0 + i * HOUR, ("coingecko",), reddit_subscribers=5_000_000 + i)
        for i in range(3)
    ]
    records += [MacroObservation("DGS10", D0 + i * DAY, "fred", D("4.63") + i) for i in range(3)]
    records += [MacroObservation("DGS10", D0 + 3 * DAY, "fred", None)]
    records += [MacroObservation("yahoo:^GSPC", D0, "yahoo", D("4500.25"))]
    return records


@pytest.fixture
def glass(db: Database) -> Iterator[TestClient]:
    upsert(db, glass_records())
    with make_client(db) as client:
        yield client


def test_protocols_all_by_day_then_protocol(glass: TestClient) -> None:
    body = glass.get("/api/v1/glass/protocols").json()
    assert [(r["day"], r["protocol"]) for r in body["data"][:4]] == [
        (D0, "aave"),
        (D0, "lido"),
        (D0, "uniswap"),
        (D0 + DAY, "aave"),
    ]
    first = body["data"][0]
    assert first["tvl"] == "1000.5" and first["market_cap"] == "2000"
    assert first["mcap_to_tvl"] == "1.99900049975"  # 2000 / 1000.5 to 12 digits
    assert body["data"][1]["mcap_to_tvl"] is None


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_protocols_keyset_pages(glass: TestClient, order: str) -> None:
    rows = all_pages(glass, "/api/v1/glass/protocols", {"limit": 5, "order": order})
    keys = [(r["day"], r["protocol"]) for r in rows]
    expected = sorted((D0 + d * DAY, p) for d in range(4) for p in ("aave", "lido", "uniswap"))
    assert keys == (expected if order == "asc" else expected[::-1])


def test_protocols_of_one_protocol_in_a_range(glass: TestClient) -> None:
    params = {"protocol": "lido", "start": D0 + DAY, "end": D0 + 2 * DAY}
    body = glass.get("/api/v1/glass/protocols", params=params).json()
    assert [(r["protocol"], r["day"]) for r in body["data"]] == [
        ("lido", D0 + DAY),
        ("lido", D0 + 2 * DAY),
    ]


def test_onchain_with_read_time_measures(glass: TestClient) -> None:
    body = glass.get("/api/v1/onchain", params={"asset": "bitcoin", "limit": 30}).json()
    rows = body["data"]
    assert len(rows) == 30 and body["next"] is not None
    assert rows[0]["sources"] == ["blockchain_info", "coingecko"]
    assert rows[0]["block_height"] == 817_000
    assert rows[0]["nvt"] == "60.25"
    assert rows[0]["mcap_to_tvl"] == "2410"
    # no observation a day older before hour 24; from then on 432 coins a day on 19.5M
    assert rows[23]["inflation_rate"] is None
    assert D(rows[24]["inflation_rate"]) == D("0.00808615384615")


def test_onchain_inflation_on_a_later_page_reads_earlier_rows(glass: TestClient) -> None:
    cursor_page = glass.get("/api/v1/onchain", params={"asset": "bitcoin", "limit": 40}).json()
    later = glass.get(
        "/api/v1/onchain", params={"asset": "bitcoin", "limit": 40, "cursor": cursor_page["next"]}
    ).json()
    assert [r["ts"] for r in later["data"]] == [H0 + i * HOUR for i in range(40, 48)]
    # each row against the one 24 hours before it: 432 coins on that row's supply
    expected = [
        Context(prec=12).divide(D(432 * 365), D("19500000") + 18 * (i - 24)) for i in range(40, 48)
    ]
    assert [D(r["inflation_rate"]) for r in later["data"]] == expected


def test_onchain_csv_joins_sources(glass: TestClient) -> None:
    params = {"asset": "bitcoin", "limit": 2, "format": "csv", "order": "desc"}
    response = glass.get("/api/v1/onchain", params=params)
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(r["ts"]) for r in rows] == [H0 + 47 * HOUR, H0 + 46 * HOUR]
    assert rows[0]["sources"] == "blockchain_info;coingecko"
    assert rows[0]["hash_rate"] == ""
    assert "inflation_rate" in rows[0] and "X-Next-Cursor" in response.headers


@pytest.mark.parametrize(
    ("path", "params", "some_decimals"),
    [
        ("/api/v1/glass/protocols", {"limit": 5}, {"tvl", "mcap_to_tvl"}),
        ("/api/v1/onchain", {"asset": "bitcoin", "limit": 30}, {"nvt", "inflation_rate"}),
        ("/api/v1/glass/community", {"asset": "bitcoin"}, set()),
        ("/api/v1/macro", {"series_id": "DGS10"}, {"value"}),
    ],
)
def test_parquet_pages_mark_their_decimals(
    glass: TestClient, path: str, params: dict[str, Any], some_decimals: set[str]
) -> None:
    """Read-time measures (`mcap_to_tvl`, `inflation_rate`) are decimals too."""
    assert some_decimals <= parquet_equals_json(glass, path, params)


def test_community_of_one_asset(glass: TestClient) -> None:
    body = glass.get("/api/v1/glass/community", params={"asset": "bitcoin", "limit": 2}).json()
    assert [r["reddit_subscribers"] for r in body["data"]] == [5_000_000, 5_000_001]
    rest = glass.get(
        "/api/v1/glass/community", params={"asset": "bitcoin", "limit": 2, "cursor": body["next"]}
    ).json()
    assert [r["ts"] for r in rest["data"]] == [H0 + 2 * HOUR] and rest["next"] is None
    empty = glass.get("/api/v1/glass/community", params={"asset": "nothing"}).json()
    assert empty == {"data": [], "next": None}


def test_macro_series(glass: TestClient) -> None:
    body = glass.get("/api/v1/macro", params={"series_id": "DGS10"}).json()
    assert [(r["ts"], r["value"]) for r in body["data"]] == [
        (D0, "4.63"),
        (D0 + DAY, "5.63"),
        (D0 + 2 * DAY, "6.63"),
        (D0 + 3 * DAY, None),
    ]
    yahoo = glass.get("/api/v1/macro", params={"series_id": "yahoo:^GSPC"}).json()
    assert [r["value"] for r in yahoo["data"]] == ["4500.25"]
    csv_body = glass.get("/api/v1/macro", params={"series_id": "DGS10", "format": "csv"}).text
    assert csv_body.splitlines()[0] == "series_id,ts,source,value"
    assert csv_body.splitlines()[-1] == f"DGS10,{D0 + 3 * DAY},fred,"


@pytest.mark.parametrize(
    ("path", "params", "parameter"),
    [
        ("/api/v1/onchain", {}, "asset"),
        ("/api/v1/onchain", {"asset": "bit coin"}, "asset"),
        ("/api/v1/onchain", {"asset": "bitcoin", "start": 10, "end": 5}, "start"),
        ("/api/v1/onchain", {"asset": "bitcoin", "cursor": "!!garbage"}, "cursor"),
        ("/api/v1/onchain", {"asset": "bitcoin", "limit": 0}, "limit"),
        ("/api/v1/glass/protocols", {"format": "xml"}, "format"),
        ("/api/v1/glass/protocols", {"protocol": "<script>"}, "protocol"),
        ("/api/v1/glass/protocols", {"start": "yesterday"}, "start"),
        ("/api/v1/glass/community", {}, "asset"),
        ("/api/v1/macro", {}, "series_id"),
        ("/api/v1/macro", {"series_id": "DGS10", "order": "sideways"}, "order"),
        ("/api/v1/quality/coverage", {"hours": 0}, "hours"),
        ("/api/v1/quality/coverage", {"hours": "a day"}, "hours"),
        ("/api/v1/quality/integrity", {"tvl_jump": -1}, "tvl_jump"),
        ("/api/v1/quality/integrity", {"tvl_jump": "nan"}, "tvl_jump"),
    ],
)
def test_bad_input_names_the_parameter(
    glass: TestClient, path: str, params: dict[str, Any], parameter: str
) -> None:
    response = glass.get(path, params=params)
    assert response.status_code == 422
    assert repr(parameter) in response.json()["message"]


def test_a_cursor_of_another_order_is_refused(glass: TestClient) -> None:
    body = glass.get("/api/v1/glass/protocols", params={"limit": 1}).json()
    params = {"limit": 1, "order": "desc", "cursor": body["next"]}
    response = glass.get("/api/v1/glass/protocols", params=params)
    assert response.status_code == 422 and "order=asc" in response.json()["message"]


def test_quality_integrity_endpoint(db: Database) -> None:
    upsert(db, [*clean_records(), *broken_records()])
    with make_client(db) as client:
        body = client.get("/api/v1/quality/integrity").json()
        assert body["violations"] == 10 and body["anomalies"] == 2
        checks = {(f["check"], f["table"]) for f in body["findings"]}
        assert ("tvl_jump", "protocol_fundamentals") in checks
        assert ("block_height_decrease", "onchain_metrics") in checks
        strict = client.get("/api/v1/quality/integrity", params={"tvl_jump": "0.4"}).json()
        assert strict["anomalies"] == 4


def test_quality_coverage_endpoint(glass: TestClient) -> None:
    body = glass.get("/api/v1/quality/coverage", params={"hours": 1}).json()
    assert body["hours"] == 1 and body["until_ts"] - body["since_ts"] == HOUR
    assert [t["table"] for t in body["tables"]] == [
        "onchain_metrics",
        "protocol_fundamentals",
        "community_metrics",
        "macro_observations",
    ]
    assert all(t["rows"] == 0 for t in body["tables"])  # the seeded data is from 2023


def test_endpoints_are_in_the_openapi_schema(glass: TestClient) -> None:
    schema = glass.get("/api/v1/openapi.json").json()
    for path in ("/glass/protocols", "/onchain", "/glass/community", "/macro"):
        assert f"/api/v1{path}" in schema["paths"]
    assert "/api/v1/quality/integrity" in schema["paths"]
    onchain = schema["components"]["schemas"]["OnchainOut"]["properties"]
    assert onchain["hash_rate"]["anyOf"][0]["type"] == "string"
    assert "inflation_rate" in onchain and "mcap_to_tvl" in onchain
