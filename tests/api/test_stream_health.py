"""A live stream's report reaches `/collectors/health` and `/metrics` through the broker."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client.parser import text_string_to_metric_families

from ohmycoins.api import create_app
from ohmycoins.collectors.streams import STREAM_SCHEDULE, Stream, StreamSpec
from ohmycoins.publish import MemoryBroker
from ohmycoins.scheduling.registry import Collector, Registry, RunContext, RunOutcome
from ohmycoins.scheduling.tasks import sync_tasks
from ohmycoins.settings import Settings, SourceSettings
from ohmycoins.sources.exchange_ws import ExchangeStream
from ohmycoins.storage.database import Database
from ohmycoins.timeframes import now_ms
from tests.support.binance_ws import STALL, agg_trade, binance_stub
from tests.support.polling import until


async def _held_elsewhere(context: RunContext) -> RunOutcome:
    raise AssertionError("the stream runs in the test, not in the app")


async def test_a_streams_counters_are_in_health_and_metrics(sqlite_db: Database) -> None:
    registry = Registry(
        [
            Collector(
                "binance_stream",
                "exchange",
                "binance",
                STREAM_SCHEDULE,
                _held_elsewhere,
                kind="stream",
            )
        ]
    )
    sync_tasks(sqlite_db, registry, now_ms())
    broker = MemoryBroker()
    scripts = {"btcusdt@aggTrade": [[agg_trade(1), agg_trade(2), STALL]]}
    async with binance_stub(scripts) as stub:
        client = ExchangeStream("binance", SourceSettings(url=stub.url, ws_url=stub.ws_url))
        spec = StreamSpec("binance", ("BTC/USDT",), ("trades",), batch_seconds=0.05)
        stream = Stream(spec, client, sqlite_db, broker)
        stopping = asyncio.Event()
        job = asyncio.create_task(stream.run(stopping))
        await until(lambda: stream.stats.stored >= 2, 30)
        stopping.set()
        await job
        await client.close()
    app = create_app(Settings(), db=sqlite_db, broker=broker, registry=registry)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as api:
        health = (await api.get("/api/v1/collectors/health")).json()
        metrics = (await api.get("/metrics")).text
    report = health["streams"]["binance_stream"]
    assert (report["messages"], report["stored"], report["resyncs"]) == (2, 2, 0)
    assert report["exchange_lag_ms"] is not None and report["publish_lag_ms"] is not None
    samples = {
        (s.name, s.labels.get("stream")): s.value
        for family in text_string_to_metric_families(metrics)
        for s in family.samples
    }
    assert samples[("omc_stream_messages_total", "binance_stream")] == 2
    assert samples[("omc_stream_resyncs_total", "binance_stream")] == 0
    assert ("omc_stream_publish_lag_seconds", "binance_stream") in samples
    last_message = samples[("omc_stream_last_message_timestamp_seconds", "binance_stream")]
    reported = samples[("omc_stream_reported_timestamp_seconds", "binance_stream")]
    assert round(last_message * 1000) == stream.stats.last_message_ms
    assert last_message <= reported and round(reported * 1000) == report["reported_ts"]
