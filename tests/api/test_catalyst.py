"""GET /api/v1/catalyst/events over stored events, on both backends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from ohmycoins.records import CatalystEvent
from ohmycoins.storage.database import Database
from ohmycoins.storage.upsert import upsert
from ohmycoins.timeframes import now_ms
from tests import factories as f
from tests.api.conftest import make_client

URL = "/api/v1/catalyst/events"
HOUR = 3_600_000


def _events(now: int) -> list[CatalystEvent]:
    return [
        f.catalyst_event(event_id="e1", event_type="etf", ts=now - HOUR, impact=9, assets=("BTC",),
                         exchange=None, title="SEC approves spot ETF"),
        f.catalyst_event(event_id="e2", event_type="listing", ts=now - 2 * HOUR, impact=5,
                         assets=("BTCB", "PEPE")),
        f.catalyst_event(event_id="e3", event_type="hack", ts=now - 30 * HOUR, impact=8,
                         assets=("ETH",), exchange="bybit"),
        f.catalyst_event(event_id="e4", event_type="etf", ts=now - 3 * HOUR, impact=3,
                         assets=("ETH", "BTC"), exchange=None),
        f.catalyst_event(event_id="e5", event_type="regulatory", ts=now - 4 * HOUR, impact=6,
                         assets=(), exchange="binance"),
    ]  # fmt: skip


@pytest.fixture
def client(db: Database) -> Iterator[TestClient]:
    upsert(db, _events(now_ms()))
    with make_client(db) as client:
        yield client


def _ids(client: TestClient, **params: object) -> list[str]:
    response = client.get(URL, params=params)
    assert response.status_code == 200, response.text
    return [event["event_id"] for event in response.json()]


def test_events_newest_first_with_every_field(client: TestClient) -> None:
    response = client.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert [e["event_id"] for e in body] == ["e1", "e2", "e4", "e5", "e3"]
    first = body[0]
    assert first == {
        "event_id": "e1",
        "event_type": "etf",
        "ts": first["ts"],
        "title": "SEC approves spot ETF",
        "impact": 9,
        "assets": ["BTC"],
        "sources": ["binance"],
        "urls": ["https://binance.com/en/support/announcement/x"],
        "exchange": None,
    }


def test_filters_combine(client: TestClient) -> None:
    assert _ids(client, min_impact=6) == ["e1", "e5", "e3"]
    assert _ids(client, hours=24) == ["e1", "e2", "e4", "e5"]
    assert _ids(client, type="etf") == ["e1", "e4"]
    assert _ids(client, type="etf", min_impact=5) == ["e1"]
    assert _ids(client, limit=2) == ["e1", "e2"]


def test_asset_filter_is_an_exact_element_match(client: TestClient) -> None:
    assert _ids(client, asset="BTC") == ["e1", "e4"]  # not BTCB
    assert _ids(client, asset="btc") == ["e1", "e4"]
    assert _ids(client, asset="ETH", hours=24) == ["e4"]
    assert _ids(client, asset="BTCB") == ["e2"]
    assert _ids(client, asset="TC") == []  # no substring match


@pytest.mark.parametrize(
    "params",
    [
        {"min_impact": 0},
        {"min_impact": 11},
        {"min_impact": "high"},
        {"hours": 0},
        {"hours": 10**9},
        {"type": "rumour"},
        {"asset": "BTC%"},
        {"asset": "B" * 21},
        {"limit": 0},
        {"limit": 5000},
    ],
)
def test_bad_parameters_are_422(client: TestClient, params: dict[str, object]) -> None:
    response = client.get(URL, params=params)
    assert response.status_code == 422
    assert "invalid query parameter" in response.json()["message"]


def test_route_is_in_the_openapi_schema(client: TestClient) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/catalyst/events" in schema["paths"]
