"""Waiting for a state that no event announces: rows another task or process writes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(condition: Callable[[], bool], limit_s: float, every: float = 0.02) -> None:
    """Return once `condition()` holds; fail with TimeoutError after `limit_s` seconds.
    Polling: the state is in a database or another process, which signals nothing."""
    async with asyncio.timeout(limit_s):
        while not condition():  # noqa: ASYNC110 - nothing to await but the state itself
            await asyncio.sleep(every)
