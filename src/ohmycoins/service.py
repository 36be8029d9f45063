"""The main job: migrations, the schedule and its workers, in one process.

`omc run` and `omc worker` both come here. `run_service` builds every client once,
syncs the persistent schedule with the default collectors (and the settings'
overrides), then runs a `Worker` (and, for `omc run`, the API server beside it)
until SIGINT or SIGTERM asks it to stop: it stops claiming, lets runs in flight
finish (or checkpoints them: every write moves its cursor in the same transaction),
releases its leases and returns.

`--demo` starts the exchange simulator in-process and points Binance at it, so a
newcomer with no internet and no keys sees data flowing within a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Iterator

import uvicorn

from ohmycoins.api import api_server, create_app
from ohmycoins.collectors.defaults import Sources, registry_for
from ohmycoins.publish import create_broker
from ohmycoins.scheduling.policy import policy_from_settings
from ohmycoins.scheduling.tasks import sync_tasks
from ohmycoins.scheduling.worker import Worker
from ohmycoins.settings import Settings, SourceSettings
from ohmycoins.storage.database import Database
from ohmycoins.timeframes import now_ms

log = logging.getLogger(__name__)


async def run_service(
    settings: Settings,
    *,
    demo: bool = False,
    serve_at: tuple[str, int] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Collect (and serve the API at `serve_at`) until `stop` is set, or SIGINT/SIGTERM."""
    db = Database(settings.database_url)
    db.upgrade()
    stop = stop or asyncio.Event()
    async with _demo_exchange(settings, demo) as settings:
        broker = create_broker(settings.redis_url)
        sources = Sources.open(settings, db, broker, offline=demo)
        try:
            registry = registry_for(sources)
            policy = policy_from_settings(settings)
            changes = sync_tasks(db, registry, now_ms(), max_slowdown=policy.max_slowdown)
            log.info(
                "schedule: %d collectors (%d new)", len(registry.enabled()), len(changes.added)
            )
            worker = Worker(db, registry, policy)
            server = None
            if serve_at is not None:
                app = create_app(
                    settings,
                    db=db,
                    broker=broker,
                    registry=registry,
                    wake=worker.wake,
                )
                server = api_server(app, *serve_at)
                log.info("API at http://%s:%d/api/v1", *serve_at)
            with _stop_on_signals(stop):
                running = [asyncio.create_task(worker.run())]
                if server is not None:
                    running.append(asyncio.create_task(_serve_quietly(server)))
                await stop.wait()
                log.info("stopping: finishing runs in flight, releasing leases")
                if server is not None:
                    server.should_exit = True
                await worker.stop()
                await asyncio.gather(*running)
        finally:
            await sources.close()
            await broker.close()
            db.dispose()


async def _serve_quietly(server: uvicorn.Server) -> None:
    """Serve without uvicorn's own signal handling: this process stops the server and
    the workers together, on its own signal handlers."""
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign, assignment]
    await server.serve()


@contextlib.asynccontextmanager
async def _demo_exchange(settings: Settings, demo: bool) -> AsyncIterator[Settings]:
    """With `demo`, the settings with Binance pointed at an in-process simulator."""
    if not demo:
        yield settings
        return
    from ohmycoins.sim import SimulatorConfig, running_simulator

    async with running_simulator(SimulatorConfig()) as sim:
        log.info("demo: exchange simulator at %s", sim.base_url)
        sources = {**settings.sources, "binance": SourceSettings(url=sim.base_url)}
        universe = settings.universe.model_copy(update={"exchanges": ("binance",)})
        yield settings.model_copy(update={"sources": sources, "universe": universe})


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
