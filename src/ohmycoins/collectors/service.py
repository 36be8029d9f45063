"""The main job: migrations, the schedule and its workers, in one process.

`omc run` and `omc worker` both come here. `run_service` builds every client once,
syncs the persistent schedule with the default collectors (and the settings'
overrides), then runs a `Worker` (and, for `omc run`, the API server beside it)
until SIGINT or SIGTERM asks it to stop: it stops claiming, lets runs in flight
finish (or checkpoints them: every write moves its cursor in the same transaction),
releases its leases and returns.

A signal always stops the process. Its handler runs in the main thread, so it is
heard even while a call holds the event loop; the first migration (the first thing to
meet a database that does not answer) runs beside the loop and is abandoned on a
signal; and a process still stopping `STOP_GRACE_SECONDS` past the workers' own stop
timeout, or signalled a second time, exits at once.

`--demo` starts the exchange simulator in-process and collects it as the exchange
`sim`, into its own database (`OMC_DEMO_DATABASE_URL`, never `OMC_DATABASE_URL`), so
a newcomer with no internet and no keys sees data flowing within a minute and no
simulated row ever lands beside real ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from types import FrameType
from typing import Any, TypeVar

import uvicorn

from ohmycoins.api import api_server, create_app
from ohmycoins.collectors.clients import SIM_EXCHANGE, Sources
from ohmycoins.collectors.defaults import registry_for
from ohmycoins.errors import ConfigError
from ohmycoins.publish import create_broker
from ohmycoins.scheduling.policy import Policy, policy_from_settings
from ohmycoins.scheduling.tasks import sync_tasks
from ohmycoins.scheduling.worker import Worker
from ohmycoins.settings import Settings
from ohmycoins.storage.database import Database, same_database, shown_url
from ohmycoins.timeframes import now_ms

log = logging.getLogger(__name__)
T = TypeVar("T")

STOP_GRACE_SECONDS = 15.0
"""How long past the workers' stop timeout a stopping process may take (closing the
API, releasing leases) before it exits without waiting further."""


async def run_service(
    settings: Settings,
    *,
    demo: bool = False,
    serve_at: tuple[str, int] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Collect (and serve the API at `serve_at`) until `stop` is set, or SIGINT/SIGTERM.
    With `demo`, `settings` are the user's: the demo's database replaces theirs."""
    stop = stop or asyncio.Event()
    policy = policy_from_settings(settings)
    with _stop_on_signals(stop, policy.stop_timeout_seconds + STOP_GRACE_SECONDS):
        settings = demo_settings(settings) if demo else settings
        db = Database.of(settings)
        try:
            if await _unless_stopped(stop, db.upgrade) is None:
                return
            async with _simulator(demo) as simulator_url:
                await _collect(settings, policy, db, simulator_url, serve_at, stop)
        finally:
            db.dispose()


def demo_settings(settings: Settings) -> Settings:
    """The settings the demo runs with: its own database, refused when it is the one
    of real data (`OMC_DATABASE_URL`), and of the `[collectors.NAME]` tables only those
    of its own collectors (`sim_…`): the others configure collectors it does not run."""
    if same_database(settings.demo_database_url, settings.database_url):
        raise ConfigError(
            "OMC_DEMO_DATABASE_URL",
            shown_url(settings.demo_database_url),
            "is the database of real data (OMC_DATABASE_URL); the demo needs its own",
        )
    prefix = f"{SIM_EXCHANGE}_"
    own = {name: o for name, o in settings.collectors.items() if name.startswith(prefix)}
    return settings.model_copy(
        update={"database_url": settings.demo_database_url, "collectors": own}
    )


async def _collect(
    settings: Settings,
    policy: Policy,
    db: Database,
    simulator_url: str | None,
    serve_at: tuple[str, int] | None,
    stop: asyncio.Event,
) -> None:
    """Schedule the collectors and run the worker (and the API) until `stop`."""
    broker = create_broker(settings.redis_url)
    sources = Sources.open(settings, db, broker, simulator_url=simulator_url)
    try:
        registry = registry_for(sources)
        changes = sync_tasks(db, registry, now_ms(), max_slowdown=policy.max_slowdown)
        log.info("schedule: %d collectors (%d new)", len(registry.enabled()), len(changes.added))
        worker = Worker(db, registry, policy)
        running = [asyncio.create_task(worker.run())]
        server = None
        if serve_at is not None:
            app = create_app(
                settings,
                db=db,
                broker=broker,
                registry=registry,
                wake=worker.wake,
                demo=simulator_url is not None,
            )
            server = api_server(app, *serve_at)
            running.append(asyncio.create_task(_serve_quietly(server)))
            log.info("API at http://%s:%d/api/v1", *serve_at)
        await stop.wait()
        log.info("stopping: finishing runs in flight, releasing leases")
        if server is not None:
            server.should_exit = True
        await worker.stop()
        await asyncio.gather(*running)
    finally:
        await sources.close()
        await broker.close()


async def _serve_quietly(server: uvicorn.Server) -> None:
    """Serve without uvicorn's own signal handling: this process stops the server and
    the workers together, on its own signal handlers."""
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign, assignment]
    await server.serve()


@contextlib.asynccontextmanager
async def _simulator(demo: bool) -> AsyncIterator[str | None]:
    """With `demo`, the base URL of an in-process exchange simulator; else None."""
    if not demo:
        yield None
        return
    from ohmycoins.sim import SimulatorConfig, running_simulator

    async with running_simulator(SimulatorConfig()) as sim:
        log.info("demo: exchange simulator at %s", sim.base_url)
        yield sim.base_url


async def _unless_stopped(stop: asyncio.Event, call: Callable[[], T]) -> T | None:
    """`call()` in a thread of its own; None when `stop` is set first. The thread is a
    daemon, so a call the database never answers does not keep the process alive."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(setter: Callable[[Any], None], outcome: object) -> None:
        if not done.done():
            setter(outcome)

    def target() -> None:
        try:
            report: tuple[Callable[[Any], None], object] = (done.set_result, call())
        except Exception as exc:
            report = (done.set_exception, exc)
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
            loop.call_soon_threadsafe(settle, *report)

    threading.Thread(target=target, name="omc-startup", daemon=True).start()
    stopped = asyncio.ensure_future(stop.wait())
    either: list[asyncio.Future[Any]] = [done, stopped]
    try:
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if stop.is_set():  # a signal may also end the call, with an error to ignore
        log.info("stopped while waiting for the database")
        return None
    return done.result()


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event, grace_seconds: float) -> Iterator[None]:
    """SIGINT and SIGTERM set `stop`. The handler runs in the main thread between two
    bytecodes, not as a callback of the loop, so it is heard while a blocking call holds
    the loop. From the first signal, a process still alive after `grace_seconds` exits;
    a second signal exits at once."""
    loop = asyncio.get_running_loop()
    signalled: list[int] = []

    def handle(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if signalled:
            _exit_now(f"second {name}: exiting without waiting for the stop to finish")
        signalled.append(signum)
        loop.call_soon_threadsafe(stop.set)
        message = f"not stopped {grace_seconds:g} s after {name}: a call does not return"
        watchdog = threading.Timer(grace_seconds, _exit_now, args=(message,))
        watchdog.daemon = True
        watchdog.start()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _exit_now(reason: str) -> None:
    """Leave the process now, from any thread: leases held expire on their own."""
    log.error("exiting: %s", reason)
    logging.shutdown()
    sys.stdout.flush()
    os._exit(1)
