"""Local servers on their own thread and event loop, for blocking callers (the CLI run
in-process)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ohmycoins.sim import SimulatorConfig, SimulatorHandle, running_simulator


@contextmanager
def simulator_thread(config: SimulatorConfig) -> Iterator[SimulatorHandle]:
    """A running simulator for the block's duration; read its handle once the caller's
    requests are answered (the simulator's loop runs in the other thread)."""
    ready = threading.Event()
    stop: list[asyncio.Event] = []
    handles: list[SimulatorHandle] = []

    async def serve() -> None:
        stop.append(asyncio.Event())
        async with running_simulator(config) as handle:
            handles.append(handle)
            ready.set()
            await stop[0].wait()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    try:
        assert ready.wait(10), "the simulator did not start"
        yield handles[0]
    finally:
        if stop:
            loop.call_soon_threadsafe(stop[0].set)
        thread.join(10)
        loop.close()
