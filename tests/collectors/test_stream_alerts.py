"""Stream alerts from real stream stats: a stream runs against the simulator's
websocket and reports through the broker; a stall makes it quiet, dropped diffs make
it resync, and a stream no worker holds is not running. Each alert reaches a local
webhook once when it fires, not again inside the cool-down, and once when it clears."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pydantic import SecretStr

from ohmycoins.collectors.alerting import evaluate
from ohmycoins.collectors.ingest import store
from ohmycoins.collectors.streams import STREAM_SCHEDULE, Stream, StreamSpec
from ohmycoins.publish import MemoryBroker, stream_stats_key
from ohmycoins.scheduling.leases import claim_due
from ohmycoins.scheduling.registry import Collector, Registry, RunContext, RunOutcome
from ohmycoins.scheduling.tasks import sync_tasks
from ohmycoins.settings import AlertSettings, SourceSettings
from ohmycoins.sim import SimulatorConfig, SimulatorHandle, running_simulator
from ohmycoins.sim.faults import FaultPlan, FaultRule
from ohmycoins.sources.exchange_ws import ExchangeStream
from ohmycoins.storage.alerts import read_alerts
from ohmycoins.storage.database import Database
from ohmycoins.timeframes import now_ms
from tests import factories as f
from tests.support.polling import until
from tests.support.replay import ReplayUrl, Reply, replay_server

STREAM = "binance_stream"
WAIT = 120.0  # a loaded machine: what a stream run waits for can take long
LEASE_MS = 60_000
T0 = 1_796_000_000_000


async def _never(context: RunContext) -> RunOutcome:
    raise AssertionError("the alert rules read the task and the reports; they run nothing")


def _stream_task(db: Database, now: int) -> None:
    """The stream's task, as the scheduler stores it."""
    collector = Collector(STREAM, "exchange", "binance", STREAM_SCHEDULE, _never, kind="stream")
    sync_tasks(db, Registry([collector]), now)


def _lease(db: Database, now: int) -> None:
    """A worker claims the stream, as it does before running it."""
    [claimed] = claim_due(db, "worker-1", [STREAM], now, 1, LEASE_MS)
    assert claimed.task_id == STREAM


@pytest.fixture
async def sim() -> AsyncIterator[SimulatorHandle]:
    config = SimulatorConfig(seed=5, symbols=("BTCUSDT",), stream_rate=20.0)
    async with running_simulator(config) as handle:
        yield handle


@pytest.fixture
async def webhook() -> AsyncIterator[ReplayUrl]:
    async with replay_server({"/hook": [Reply({"ok": True})]}) as url:
        yield url


def rules(webhook: ReplayUrl, **changes: object) -> AlertSettings:
    values: dict[str, object] = {
        "urls": [SecretStr(f"json://{webhook.removeprefix('http://')}/hook")],
        "cooldown_minutes": 60,
        "disk_percent": 0,
        "stream_quiet_seconds": 0,
        "stream_resyncs": 0,
    }
    return AlertSettings.model_validate(values | changes)


def titles(webhook: ReplayUrl) -> list[str]:
    return [json.loads(seen.body)["title"] for seen in webhook.requests]


async def until_reported(
    broker: MemoryBroker, condition: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The stream's report, once one it published meets `condition`."""
    async with asyncio.timeout(WAIT):
        while True:
            report = dict(await broker.get_latest(stream_stats_key(STREAM)) or {})
            if report and condition(report):
                return report
            await asyncio.sleep(0.05)  # the report is refreshed every second: nothing to await


def spec(channels: tuple[str, ...]) -> StreamSpec:
    """A stream whose watchdog lets a stall of seconds pass (the alert tells it first)."""
    return StreamSpec(
        "binance", ("BTC/USDT",), channels, depth=20, snapshot_seconds=0.1,
        batch_seconds=0.1, stale_seconds=30.0, backoff_initial_seconds=0.1,
    )  # fmt: skip


@contextlib.asynccontextmanager
async def running_stream(
    db: Database, sim: SimulatorHandle, channels: tuple[str, ...]
) -> AsyncIterator[tuple[Stream, MemoryBroker, asyncio.Task[RunOutcome]]]:
    """The stream, leased as a worker leases it, running against the simulator and
    reporting to a broker; stopped (it then reports once more) when the block ends."""
    _stream_task(db, now_ms())
    _lease(db, now_ms())
    broker = MemoryBroker()
    client = ExchangeStream("binance", SourceSettings(url=sim.base_url, ws_url=sim.ws_url))
    stream = Stream(spec(channels), client, db, broker)
    stopping = asyncio.Event()
    job = asyncio.create_task(stream.run(stopping))
    try:
        yield stream, broker, job
    finally:
        stopping.set()
        await job
        await client.close()


async def test_quiet_stream_fires_and_resolves(
    sqlite_db: Database, sim: SimulatorHandle, webhook: ReplayUrl
) -> None:
    quiet = rules(webhook, stream_quiet_seconds=1)
    async with running_stream(sqlite_db, sim, ("trades",)) as (_, broker, job):
        await until_reported(broker, lambda r: r["messages"] >= 5)
        talking = await evaluate(sqlite_db, quiet, [], now_ms(), streams=[STREAM], broker=broker)
        assert talking.changed == [] and webhook.requests == []

        sim.set_faults(FaultPlan(rules=(FaultRule("stall", count=1, path="aggTrade", seconds=4),)))
        stalled = await until_reported(broker, lambda r: now_ms() - r["last_message_ts"] > 1_500)
        fired = await evaluate(sqlite_db, quiet, [], now_ms(), streams=[STREAM], broker=broker)
        assert [n.kind for n in fired.sent] == ["firing"]
        assert titles(webhook) == [f"[ohmycoins] FIRING: stream_stale {STREAM}"]
        [alert] = read_alerts(sqlite_db, "firing")
        assert f"{STREAM} has received nothing for" in alert.message
        again = await evaluate(sqlite_db, quiet, [], now_ms(), streams=[STREAM], broker=broker)
        assert again.sent == []  # inside the cool-down

        last = stalled["last_message_ts"]
        await until_reported(broker, lambda r: r["last_message_ts"] > last)  # the stall is over
        resolved = await evaluate(sqlite_db, quiet, [], now_ms(), streams=[STREAM], broker=broker)
        assert [n.kind for n in resolved.sent] == ["resolved"]
        assert titles(webhook)[-1] == f"[ohmycoins] RESOLVED: stream_stale {STREAM}"
        assert not job.done()


async def test_resyncing_stream_fires_then_resolves_once_out_of_the_window(
    sqlite_db: Database, sim: SimulatorHandle, webhook: ReplayUrl
) -> None:
    async with running_stream(sqlite_db, sim, ("book",)) as (stream, broker, _):
        for resyncs in (1, 2, 3):  # one diff dropped into a live book at a time: one resync
            served = stream.stats.books_served
            await until(lambda: stream.stats.books_served > served, WAIT)  # noqa: B023
            synced = _nonce(stream)  # a diff past it: the next one is not in the REST snapshot
            await until(lambda: _nonce(stream) not in (None, synced), WAIT)  # noqa: B023
            sim.set_faults(FaultPlan(rules=(FaultRule("drop_frame", count=1, path="depth@100ms"),)))
            await until(lambda: stream.stats.resyncs >= resyncs, WAIT)  # noqa: B023
    report = await until_reported(broker, lambda r: len(r["resync_times"]) >= 3)
    resyncing = rules(webhook, stream_resyncs=2, stream_resync_minutes=10)
    at = max(report["resync_times"])

    fired = await evaluate(sqlite_db, resyncing, [], at + 1_000, streams=[STREAM], broker=broker)
    assert [n.kind for n in fired.sent] == ["firing"]
    [alert] = read_alerts(sqlite_db, "firing")
    assert alert.rule == "stream_resyncing"
    count = len(report["resync_times"])
    assert alert.message == f"{STREAM} resynced its books {count} times in the last 10 min (over 2)"
    later = await evaluate(sqlite_db, resyncing, [], at + 60_000, streams=[STREAM], broker=broker)
    assert later.sent == []
    cleared = at + 10 * 60_000 + 1  # every resync has left the window
    resolved = await evaluate(sqlite_db, resyncing, [], cleared, streams=[STREAM], broker=broker)
    assert [n.kind for n in resolved.sent] == ["resolved"]
    assert titles(webhook) == [
        f"[ohmycoins] FIRING: stream_resyncing {STREAM}",
        f"[ohmycoins] RESOLVED: stream_resyncing {STREAM}",
    ]


def _nonce(stream: Stream) -> int | None:
    """The update id ccxt's maintained BTC/USDT book is at (None while there is none)."""
    book = stream.client.api.orderbooks.get("BTC/USDT")
    return None if book is None else book["nonce"]


async def test_stream_no_worker_runs_fires_until_one_claims_it(
    sqlite_db: Database, webhook: ReplayUrl
) -> None:
    """Judged by its lease: not running since it was stored, then since its lease lapsed.
    Its last finished run is old, but a stream has no schedule to be late on."""
    _stream_task(sqlite_db, T0)
    run = f.collector_run(run_id="s1", collector=STREAM, started_ts=T0 - 900_000, finished_ts=T0)
    store(sqlite_db, [run], source="test")
    quiet = rules(webhook, stream_quiet_seconds=30, stale_factor=3)

    fresh = await evaluate(sqlite_db, quiet, [], T0 + 20_000, streams=[STREAM])
    assert fresh.changed == []
    idle = await evaluate(sqlite_db, quiet, [], T0 + 45_000, streams=[STREAM])
    assert [n.kind for n in idle.sent] == ["firing"]
    [alert] = read_alerts(sqlite_db, "firing")
    assert alert.message == f"{STREAM} has not been running for 45 s (over 30 s)"

    _lease(sqlite_db, T0 + 50_000)  # held now; its report lives in another process
    held = await evaluate(sqlite_db, quiet, [], T0 + 55_000, streams=[STREAM])
    assert [n.kind for n in held.sent] == ["resolved"]
    lapsed_at = T0 + 50_000 + LEASE_MS  # its worker died: the lease is not renewed
    lapsed = await evaluate(sqlite_db, quiet, [], lapsed_at + 31_000, streams=[STREAM])
    assert [n.kind for n in lapsed.sent] == ["firing"]
    assert [a.rule for a in read_alerts(sqlite_db, "firing")] == ["stream_stale"]
    assert titles(webhook) == [
        f"[ohmycoins] FIRING: stream_stale {STREAM}",
        f"[ohmycoins] RESOLVED: stream_stale {STREAM}",
        f"[ohmycoins] FIRING: stream_stale {STREAM}",
    ]
