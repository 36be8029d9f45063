"""Local servers on their own thread and event loop, for blocking callers (the CLI)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ohmycoins.sim import SimulatorConfig, running_simulator

STARTUP_SECONDS = 10.0


@contextmanager
def simulator_in_thread(config: SimulatorConfig) -> Iterator[str]:
    """A simulator serving from a thread while the block runs; yields its base URL."""
    ready = threading.Event()
    stop: list[asyncio.Event] = []
    urls: list[str] = []

    async def serve() -> None:
        stop.append(asyncio.Event())
        async with running_simulator(config) as handle:
            urls.append(handle.base_url)
            ready.set()
            await stop[0].wait()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(STARTUP_SECONDS), "the simulator did not start"
    try:
        yield urls[0]
    finally:
        loop.call_soon_threadsafe(stop[0].set)
        thread.join(STARTUP_SECONDS)
