from __future__ import annotations

import time

from prometheus_client.parser import text_string_to_metric_families

from ohmycoins.scheduling.quota import reserve_calls
from ohmycoins.settings import Settings, SourceSettings
from ohmycoins.storage.database import Database
from ohmycoins.storage.upsert import upsert
from tests import factories as f
from tests.api.conftest import make_client


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
