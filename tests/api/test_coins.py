from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import MINUTE
from tests.factories import T0


def test_markets_latest_snapshot_per_coin_by_rank(client: TestClient) -> None:
    body = client.get("/api/v1/markets").json()
    assert [(m["asset_id"], m["rank"], m["ts"]) for m in body] == [
        ("bitcoin", 1, T0 + MINUTE),
        ("ethereum", 2, T0 + MINUTE),
        ("newcoin", None, T0 + MINUTE),
    ]
    assert body[0]["price"] == "37006.1"
    assert body[0]["market_cap"] == "723000000000"
    assert [m["asset_id"] for m in client.get("/api/v1/markets?limit=1").json()] == ["bitcoin"]


def test_assets_by_rank(client: TestClient) -> None:
    body = client.get("/api/v1/assets").json()
    assert [a["asset_id"] for a in body] == ["bitcoin", "ethereum", "newcoin"]
    assert body[1]["network_type"] == "pos"
    active = client.get("/api/v1/assets", params={"active": True}).json()
    assert [a["asset_id"] for a in active] == ["bitcoin", "ethereum"]
