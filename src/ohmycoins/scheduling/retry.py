"""The one retry rule: which failures get another attempt, how long to wait, when to stop.

    temporary source error → wait (Retry-After, else exponential backoff with jitter)
    → try again, at most `Policy.max_attempts` in all; anything else ends at once

The runner applies it to every run. A run made of parts it can lose one by one (the
pages of a candle sync) applies the same rule, taken from its `RunContext`, to each
part instead, and keeps what a part could not fetch as its own record (a missing
candle, fetched by a later sync): no failure is retried at two levels, so attempts
never multiply. `omc backfill` has no runner; it builds this rule from the same
`Policy` the workers use.

Once `stopping` is set there is no further attempt: a wait between attempts ends with
the failure that asked for it, so a stopping worker does not wait out a backoff.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from ohmycoins.errors import RateLimitedError, TemporarySourceError
from ohmycoins.scheduling.policy import Policy

__all__ = ["Retry", "Sleep"]

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


class Retry:
    """`Policy`'s retries, applied to one action at a time (`call`)."""

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        sleep: Sleep = asyncio.sleep,
        stopping: asyncio.Event | None = None,
    ) -> None:
        self.policy = policy or Policy()
        self.sleep = sleep
        self.stopping = stopping if stopping is not None else asyncio.Event()
        self._backoff = wait_exponential_jitter(
            multiplier=self.policy.backoff_initial_seconds,
            max=self.policy.backoff_max_seconds,
            jitter=self.policy.backoff_initial_seconds,
        )

    def __str__(self) -> str:
        policy = self.policy
        return (
            f"up to {policy.max_attempts} attempt(s), backoff from "
            f"{policy.backoff_initial_seconds:g} s to {policy.backoff_max_seconds:g} s"
        )

    async def call(
        self,
        action: Callable[[], Awaitable[T]],
        *,
        also: tuple[type[BaseException], ...] = (),
    ) -> T:
        """`action()`, attempted again while it fails in a way worth retrying (see the
        module docstring; `also`: further errors worth it for this action); the last
        failure is raised."""
        failures: list[BaseException] = []

        def wait(state: RetryCallState) -> float:
            failure = state.outcome.exception() if state.outcome is not None else None
            assert failure is not None  # tenacity waits only after a failed attempt
            failures.append(failure)
            return self._wait(failure, state)

        async def pause(seconds: float) -> None:
            await self._sleep_unless_stopping(seconds)
            if self.stopping.is_set():
                raise failures[-1]

        async def attempt() -> T:  # a coroutine function: tenacity awaits only those
            return await action()

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.policy.max_attempts),
            wait=wait,
            retry=retry_if_exception(lambda exc: self.retryable(exc) or isinstance(exc, also)),
            sleep=pause,
            reraise=True,
        )
        return await retrying(attempt)

    def retryable(self, exc: BaseException) -> bool:
        """Temporary errors, except a rate limit that asks for a longer wait than we allow."""
        if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
            return exc.retry_after <= self.policy.backoff_max_seconds
        return isinstance(exc, TemporarySourceError)

    def _wait(self, failure: BaseException, state: RetryCallState) -> float:
        """Retry-After when the source gave one, else exponential backoff with jitter."""
        if isinstance(failure, RateLimitedError) and failure.retry_after is not None:
            return failure.retry_after
        return float(self._backoff(state))

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        if self.stopping.is_set():
            return
        waits = [
            asyncio.ensure_future(self.sleep(seconds)),
            asyncio.ensure_future(self.stopping.wait()),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
