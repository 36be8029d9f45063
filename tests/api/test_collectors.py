from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from ohmycoins.scheduling.quota import reserve_calls
from ohmycoins.scheduling.registry import Collector, Registry, RunContext, RunOutcome
from ohmycoins.scheduling.schedule import Schedule
from ohmycoins.scheduling.tasks import get_task, sync_tasks
from ohmycoins.settings import Settings, SourceSettings
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import source_circuits
from ohmycoins.storage.upsert import upsert
from tests import factories as f
from tests.api.conftest import make_client


async def _run(_context: RunContext) -> RunOutcome:
    return RunOutcome()


def _registry() -> Registry:
    return Registry(
        [
            Collector("binance_candles_1m", "exchange", "binance", Schedule.every(60), _run),
            Collector("coingecko_markets", "exchange", "coingecko", Schedule.every(300), _run),
            Collector("binance_tickers", "exchange", "binance", Schedule.every(30), _run),
        ]
    )


def _now() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture
def scheduled(db: Database) -> Database:
    now = _now()
    sync_tasks(db, _registry(), now)
    upsert(
        db,
        [
            f.collector_run(run_id="r1", started_ts=now - 120_000, finished_ts=now - 119_000),
            f.collector_run(
                run_id="r2",
                status="error",
                started_ts=now - 60_000,
                finished_ts=now - 59_000,
                records_written=0,
                error="binance: 503",
            ),
            f.collector_run(
                run_id="r3",
                collector="coingecko_markets",
                started_ts=now - 10_000,
                finished_ts=now - 9_000,
            ),
        ],
    )
    with db.engine.begin() as conn:
        conn.execute(
            insert(source_circuits).values(
                source="coingecko", state="open", consecutive_failures=5, updated_ts=now
            )
        )
    reserve_calls(db, "binance", 7, None, now)
    return db


@pytest.fixture
def woken() -> list[int]:
    return []


@pytest.fixture
def client(scheduled: Database, woken: list[int]) -> Iterator[TestClient]:
    settings = Settings(
        database_url=scheduled.url, sources={"coingecko": SourceSettings(monthly_quota=10_000)}
    )
    with make_client(
        scheduled, settings=settings, registry=_registry(), wake=lambda: woken.append(1)
    ) as client:
        yield client


def test_list_collectors(client: TestClient) -> None:
    body = client.get("/api/v1/collectors").json()
    assert [c["name"] for c in body] == [
        "binance_candles_1m",
        "binance_tickers",
        "coingecko_markets",
    ]
    first = body[0]
    assert first["source"] == "binance"
    assert first["paused"] is False
    assert first["interval_seconds"] == 60
    assert body[2]["circuit_state"] == "open"


def test_collectors_health(client: TestClient) -> None:
    body = client.get("/api/v1/collectors/health").json()
    health = {c["name"]: c for c in body["collectors"]}
    candles = health["binance_candles_1m"]
    assert candles["status"] == "failing"
    assert candles["last_run"]["run_id"] == "r2"
    assert candles["last_error"] == "binance: 503"
    assert 118 <= candles["freshness_seconds"] <= 130  # the last *successful* run, r1
    assert candles["quota_used"] == 7
    assert candles["quota_limit"] is None
    assert health["binance_tickers"]["status"] == "never_run"
    assert health["binance_tickers"]["freshness_seconds"] is None
    gecko = health["coingecko_markets"]
    assert gecko["status"] == "circuit_open"
    assert gecko["quota_used"] == 0
    assert gecko["quota_limit"] == 10_000
    assert body["quota_used"] == {"binance": 7}


def test_write_endpoints_refuse_without_admin_key(client: TestClient, read_key: str) -> None:
    url = "/api/v1/collectors/binance_candles_1m/pause"
    assert client.post(url).status_code == 401
    assert client.post(url, headers={"X-API-Key": "omc_0123456789ab_nope" * 2}).status_code == 401
    refused = client.post(url, headers={"X-API-Key": read_key})
    assert refused.status_code == 403
    assert "admin" in refused.json()["detail"]


def test_pause_resume_trigger(
    client: TestClient, scheduled: Database, admin_key: str, woken: list[int]
) -> None:
    headers = {"X-API-Key": admin_key}
    name = "binance_candles_1m"
    paused = client.post(f"/api/v1/collectors/{name}/pause", headers=headers)
    assert paused.status_code == 200
    assert paused.json()["paused"] is True
    assert get_task(scheduled, name).paused
    health = client.get("/api/v1/collectors/health").json()["collectors"]
    assert {c["name"]: c["status"] for c in health}[name] == "paused"
    resumed = client.post(f"/api/v1/collectors/{name}/resume", headers=headers)
    assert resumed.json()["paused"] is False
    before = _now()
    bearer = {"Authorization": f"Bearer {admin_key}"}
    triggered = client.post(f"/api/v1/collectors/{name}/trigger", headers=bearer)
    assert triggered.status_code == 200
    assert before - 1000 <= triggered.json()["next_run_ts"] <= _now()
    assert woken == [1, 1]  # resume and trigger wake the in-process worker


def test_unknown_collector_is_404(client: TestClient, admin_key: str) -> None:
    for action in ("trigger", "pause", "resume"):
        response = client.post(
            f"/api/v1/collectors/nope/{action}", headers={"X-API-Key": admin_key}
        )
        assert response.status_code == 404
        assert "nope" in response.json()["detail"]


def test_only_the_collectors_this_process_runs_are_listed(scheduled: Database) -> None:
    """Tasks another configuration left in the database (an exchange no longer in the
    universe, a collector switched off) are not this process's: neither list shows them,
    and a switched-off collector is listed once, as disabled. An API without a worker
    (`omc serve`) shows every stored task."""
    now = _now()
    kraken = Collector("kraken_candles_1m", "exchange", "kraken", Schedule.every(60), _run)
    sync_tasks(scheduled, Registry([*_registry(), kraken]), now)
    upsert(scheduled, [f.collector_run(run_id="k1", collector="kraken_candles_1m")])
    off = _registry().get("binance_tickers")
    assert off is not None
    running = Registry(
        [c for c in _registry() if c.name != "binance_tickers"]
        + [
            Collector(
                off.name,
                off.ledger,
                off.source,
                off.schedule,
                _run,
                enabled=False,
                disabled_reason="no API key",
            )
        ]
    )
    with make_client(scheduled, registry=running) as client:
        listed = [c["name"] for c in client.get("/api/v1/collectors").json()]
        health = client.get("/api/v1/collectors/health").json()
    assert listed == ["binance_candles_1m", "coingecko_markets"]
    assert [c["name"] for c in health["collectors"]] == listed
    assert [c["name"] for c in health["disabled"]] == ["binance_tickers"]
    with make_client(scheduled) as client:
        every = [c["name"] for c in client.get("/api/v1/collectors").json()]
    assert every == [
        "binance_candles_1m",
        "binance_tickers",
        "coingecko_markets",
        "kraken_candles_1m",
    ]
