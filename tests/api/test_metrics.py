from __future__ import annotations

import random
import time
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from ohmycoins.api import create_app
from ohmycoins.api.keys import create_key
from ohmycoins.publish import MemoryBroker
from ohmycoins.scheduling.quota import reserve_calls
from ohmycoins.settings import Settings, SourceSettings
from ohmycoins.storage.database import Database
from ohmycoins.storage.upsert import upsert
from tests import factories as f
from tests.api.conftest import make_client
from tests.support.serve import serving

TOKEN = "scrape-token-0123456789abcdef"
ODD_METHODS = ("PURGE", "PROPFIND", "MKCOL", "LOCK", "SEARCH", "REPORT", "LINK", "UNLOCK")


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def test_metrics_families(filled_db: Database) -> None:
    now = time.time_ns() // 1_000_000
    upsert(
        filled_db,
        [
            f.collector_run(run_id="a", records_written=10, records_quarantined=2),
            f.collector_run(run_id="b", status="error", records_written=0, records_quarantined=0),
        ],
    )
    reserve_calls(filled_db, "coingecko", 3, None, now)
    settings = Settings(
        database_url=filled_db.url, sources={"coingecko": SourceSettings(monthly_quota=10_000)}
    )
    with make_client(filled_db, settings=settings) as client:
        client.get("/api/v1/candles", params={"exchange": "binance", "symbol": "BTC/USDT"})
        client.get("/api/v1/health")
        client.get("/api/v1/no-such-thing")
        client.post("/api/v1/collectors/pause/pause")
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)

    latency = samples["omc_api_request_duration_seconds_count"]
    assert ({"method": "GET", "route": "/api/v1/health"}, 1.0) in latency
    requests = samples["omc_api_requests_total"]
    assert ({"method": "GET", "route": "/api/v1/candles", "status": "422"}, 1.0) in requests
    assert ({"method": "GET", "route": "unmatched", "status": "404"}, 1.0) in requests
    pause = {"method": "POST", "route": "/api/v1/collectors/{name}/pause", "status": "401"}
    assert (pause, 1.0) in requests

    collector = {"collector": "binance_candles_1m"}
    assert (collector, 2.0) in samples["omc_collector_runs_total"]
    assert (collector, 1.0) in samples["omc_collector_failures_total"]
    assert (collector, 10.0) in samples["omc_collector_records_written_total"]
    assert (collector, 2.0) in samples["omc_collector_records_quarantined_total"]

    freshness = dict(
        (labels["table"], value) for labels, value in samples["omc_data_freshness_seconds"]
    )
    assert freshness["candles"] > 0
    assert "news_items" not in freshness  # empty tables have no age
    assert ({"source": "coingecko"}, 3.0) in samples["omc_source_quota_used_calls"]
    assert ({"source": "coingecko"}, 10_000.0) in samples["omc_source_quota_limit_calls"]
    assert samples["omc_metrics_database_up"] == [({}, 1.0)]


def test_labels_stay_bounded_under_random_paths(sqlite_db: Database) -> None:
    """2,000 distinct paths no route serves (API, dashboard files, odd methods, WebSocket
    handshakes) over HTTP: `/metrics` grows by a few counter digits, and holds none."""
    rng = random.Random(15)
    settings = Settings(database_url=sqlite_db.url, api_anon_rate_limit=1e9)
    app = create_app(settings, db=sqlite_db, broker=MemoryBroker())
    with serving(app) as url, httpx.Client(base_url=url) as http:
        ws_url = url.replace("http://", "ws://")

        def hostile(n: int) -> str:
            """One request no route serves; returns the random text it carried."""
            token = f"r{rng.getrandbits(64):x}"
            kind = n % 8
            if kind == 7:
                with pytest.raises(InvalidStatus):
                    connect(f"{ws_url}/api/v1/{token}")
            elif kind == 6:
                http.request(rng.choice(ODD_METHODS), f"/api/v1/candles/{token}")
            elif kind == 5:
                http.request(f"X{token.upper()}", f"/{token}")  # refused by the server or OTHER
            else:
                path = ("/", "/api/v1/", "/static/", "/api/v1/collectors/")[kind % 4]
                assert http.get(f"{path}{token}/{n}/x.js").status_code == 404
            return token

        for n in range(8):
            hostile(n)  # every kind once: the labels they add, they add now
        http.get("/metrics")  # and the scrape's own
        before = http.get("/metrics").text
        tokens = [hostile(n) for n in range(8, 2008)]
        after = http.get("/metrics").text
    assert len(after) - len(before) < 400, "the body grew with the paths"  # counter digits
    assert not [token for token in tokens if token in after or token.upper() in after]
    requests = _samples(after)["omc_api_requests_total"]
    routes = {labels["route"] for labels, _ in requests}
    assert routes <= {"unmatched", "/static/{path:path}", "/metrics"}
    assert {labels["method"] for labels, _ in requests} <= {"GET", "OTHER"}
    handshakes = [
        v for labels, v in requests if labels["route"] == "unmatched" and labels["status"] == "403"
    ]
    assert handshakes == [251.0]  # every refused WebSocket handshake counted, once


def test_websocket_handshakes_are_counted(sqlite_db: Database) -> None:
    with make_client(sqlite_db) as client:
        with client.websocket_connect("/api/v1/stream"):
            pass
        text = client.get("/metrics").text
    requests = _samples(text)["omc_api_requests_total"]
    assert ({"method": "GET", "route": "/api/v1/stream", "status": "101"}, 1.0) in requests
    latency = _samples(text).get("omc_api_request_duration_seconds_count", [])
    assert all(labels["route"] != "/api/v1/stream" for labels, _ in latency)


@pytest.mark.parametrize(
    ("options", "headers", "status"),
    [
        ({}, {}, 200),
        ({"api_require_key": True}, {}, 401),
        ({"api_require_key": True}, {"X-API-Key": "read"}, 200),
        ({"api_require_key": True}, {"Authorization": "Bearer read"}, 200),
        ({"api_require_key": True}, {"Authorization": f"Bearer {TOKEN}"}, 401),
        ({"api_metrics_token": TOKEN}, {}, 401),
        ({"api_metrics_token": TOKEN}, {"Authorization": f"Bearer {TOKEN}"}, 200),
        ({"api_metrics_token": TOKEN}, {"Authorization": f"Bearer {TOKEN}x"}, 401),
        (
            {"api_metrics_token": TOKEN},
            {"Authorization": "Bearer omc_0123456789ab_" + "x" * 43},
            401,
        ),
        ({"api_metrics_token": TOKEN}, {"X-API-Key": "read"}, 200),
        (
            {"api_metrics_token": TOKEN, "api_require_key": True},
            {"Authorization": f"Bearer {TOKEN}"},
            200,
        ),
    ],
    ids=[
        "open",
        "keys-required-no-key",
        "keys-required-read-key",
        "keys-required-bearer-key",
        "keys-required-unset-token",
        "token-set-nothing",
        "token",
        "wrong-token",
        "invalid-key",
        "token-set-read-key",
        "both-token",
    ],
)
def test_metrics_access(
    sqlite_db: Database, options: dict[str, Any], headers: dict[str, str], status: int
) -> None:
    read_key = create_key(sqlite_db, "read").key
    headers = {name: value.replace("read", read_key) for name, value in headers.items()}
    settings = Settings(database_url=sqlite_db.url, **options)
    app = create_app(settings, db=sqlite_db, broker=MemoryBroker())
    with serving(app) as url:
        response = httpx.get(f"{url}/metrics", headers=headers)
    assert response.status_code == status, response.text
    if status == 200:
        assert "omc_api_requests_total" in response.text
    else:
        assert response.headers["content-type"] == "application/json"
        assert b"\n" not in response.content
        assert response.json()["detail"]
        assert TOKEN not in response.text
