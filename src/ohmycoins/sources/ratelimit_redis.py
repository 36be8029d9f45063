"""The rate limits of `ratelimit.py`, kept in Redis so the limit holds across every worker.

`RedisTokenBucket` and `RedisWeightWindow` update their budget with Lua scripts (one
round trip, atomic); `shared_bucket` / `shared_window` pick them, or this process's own
`TokenBucket` / `WeightWindow`, by `OMC_REDIS_URL`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Iterable
from typing import Any

from ohmycoins.errors import TemporarySourceError
from ohmycoins.sources.ratelimit import Limit, TokenBucket, WeightWindow, WindowCount

log = logging.getLogger(__name__)

KEY_PREFIX = "omc:ratelimit"
"""Every Redis key of a shared limiter starts with this; `{key}` is a Cluster hash tag."""

_RAISE_TO = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local value = tonumber(ARGV[1])
if value > current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
return tostring(current)
"""
"""KEYS[1] = max(KEYS[1], ARGV[1]), expiring after ARGV[2] ms when raised."""

_WINDOW_ACQUIRE = """
local now = tonumber(ARGV[1])
local ban = tonumber(redis.call('GET', KEYS[2]) or '0')
if now < ban then return {'ban', tostring(ban)} end
local pause = tonumber(redis.call('GET', KEYS[1]) or '0')
if now < pause then return {'pause', tostring(pause)} end
local n = (#KEYS - 2) / 2
local used, full = {}, false
for i = 1, n do
  used[i] = tonumber(redis.call('GET', KEYS[1 + 2 * i]) or '0')
  if used[i] > 0 and used[i] + tonumber(ARGV[4 * i - 2]) > tonumber(ARGV[4 * i - 1]) then
    full = true
  end
end
local answer = {full and 'full' or 'ok'}
for i = 1, n do
  if not full then
    used[i] = redis.call('INCRBYFLOAT', KEYS[1 + 2 * i], ARGV[4 * i - 2])
    redis.call('PEXPIRE', KEYS[1 + 2 * i], ARGV[4 * i])
    if ARGV[4 * i + 1] == '1' then
      redis.call('INCRBYFLOAT', KEYS[2 + 2 * i], ARGV[4 * i - 2])
      redis.call('PEXPIRE', KEYS[2 + 2 * i], ARGV[4 * i])
    end
  end
  answer[i + 1] = tostring(used[i])
end
return answer
"""
"""KEYS: pause-until, ban-until, then per limit the used units of its current window and
of the next. ARGV: now, then per limit its units, usable units, TTL ms of a window key,
and '1' when the request also counts in the next window. Checks every limit and adds to
all of them in one step, answering the verdict and each limit's count."""

_SET = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 'ok'
"""
_GET = "return redis.call('GET', KEYS[1])"

PUBLISHED_TTL_S = 86_400.0
"""How long the limits a worker read from the exchange are offered to the others."""

_BUCKET_ACQUIRE = """
local now = tonumber(ARGV[1])
local pause = tonumber(redis.call('GET', KEYS[2]) or '0')
if now < pause then return tostring(pause - now) end
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
local new_tat = tat + tonumber(ARGV[2])
local wait = new_tat - tonumber(ARGV[3]) - now
if wait > 1e-9 then return tostring(wait) end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
return '0'
"""
"""GCRA. KEYS: theoretical arrival time, pause-until. ARGV: now, cost / rate (the
increment), capacity / rate (the burst tolerance). Answers the seconds to wait (0: taken)."""

_BUCKET_PAUSE = """
local now = tonumber(ARGV[1])
local until_ = now + tonumber(ARGV[2])
local pause = tonumber(redis.call('GET', KEYS[2]) or '0')
if until_ > pause then
  redis.call('SET', KEYS[2], tostring(until_), 'PX', math.ceil(tonumber(ARGV[2]) * 1000) + 1000)
end
local empty = now + tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if empty > tat then
  redis.call('SET', KEYS[1], tostring(empty), 'PX', math.ceil(tonumber(ARGV[3]) * 1000) + 1000)
end
return 'ok'
"""
"""Pause for ARGV[2] seconds and empty the bucket (its TAT moves to now + tolerance)."""


class _Redis:
    """A Redis connection per event loop (redis.asyncio connections belong to one loop),
    Lua scripts loaded once per connection, and writes that sync callers send later."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Any = None
        self._scripts: dict[str, Any] = {}
        self._writes: set[asyncio.Task[Any]] = set()
        self._queued: list[tuple[str, list[str], list[str]]] = []

    def _connection(self) -> Any:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new loop (tests, `asyncio.run` twice): a new client
            import redis.asyncio as aioredis

            self._loop, self._scripts = loop, {}
            self._client = aioredis.Redis.from_url(self.url)
        return self._client

    async def run(self, script: str, keys: list[str], args: list[str]) -> Any:
        """Run a Lua script atomically; writes queued before it are sent first. Redis
        out of reach is a temporary error: nothing is sent without the shared budget."""
        from redis.exceptions import RedisError

        await self.flush()
        try:
            return await self._script(script)(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            raise TemporarySourceError("rate limiter", f"Redis: {exc!r}") from None

    def _script(self, script: str) -> Any:
        client = self._connection()
        if script not in self._scripts:
            self._scripts[script] = client.register_script(script)
        return self._scripts[script]

    def send_later(self, script: str, keys: list[str], args: list[str]) -> None:
        """Send from synchronous code: at once when a loop runs, else before the next run."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self._queued.append((script, keys, args))
            return
        task = asyncio.ensure_future(self._send(script, keys, args))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _send(self, script: str, keys: list[str], args: list[str]) -> None:
        """A write from synchronous code; this process keeps it in memory anyway, so a
        failure only means the other workers do not learn it."""
        from redis.exceptions import RedisError

        try:
            await self._script(script)(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            log.warning("could not share %s with the other workers: %r", keys[0], exc)

    async def flush(self) -> None:
        """Wait for the writes sent from synchronous code."""
        queued, self._queued = self._queued, []
        for script, keys, args in queued:
            await self._send(script, keys, args)
        writes = [task for task in self._writes if task.get_loop() is asyncio.get_running_loop()]
        if writes:
            await asyncio.gather(*writes)


def _ms(seconds: float) -> str:
    return str(max(1, math.ceil(seconds * 1000)))


class RedisWeightWindow(WeightWindow):
    """A `WeightWindow` whose windows, pause and ban live in Redis, shared by every worker.

    The used units of a limit's window are the key
    `omc:ratelimit:{key}:used:<w|r><seconds>:<window id>`, taken for every limit at once
    by a check-and-add Lua script, so two workers never both take the last units; the
    pause-until and ban-until keys stop every worker, and the limits one worker read from
    the exchange (`publish`) reach the others, which take them before sending on an
    assumed budget. Windows are numbered from this process's clock, as Binance numbers
    them from its own. `spent`, `rate_limited` and
    `banned` count what this process sent and saw; `used()` is the shared count as of
    this process's last answer from Redis (`shared_used()` asks).
    """

    def __init__(self, redis_url: str, key: str, limit: float, window_s: float = 60.0,
                 **options: Any) -> None:  # fmt: skip
        super().__init__(limit, window_s, **options)
        self.key = key
        self._redis = _Redis(redis_url)
        base = f"{KEY_PREFIX}:{{{key}}}"
        self._pause_key, self._ban_key, self._used_prefix = (
            f"{base}:pause",
            f"{base}:ban",
            f"{base}:used:",
        )
        self._published_key = f"{base}:limits"
        self._published = False
        self._asked_at = -math.inf

    def publish(self, limits: Iterable[Limit]) -> bool:
        """The exchange's limits, offered to every worker through Redis as well."""
        published = list(limits)
        self._published = True
        shared = json.dumps([[x.limit, x.window_s, x.per_request] for x in published])
        self._redis.send_later(_SET, [self._published_key], [shared, _ms(PUBLISHED_TTL_S)])
        return super().publish(published)

    async def _learn_published(self, now: float) -> None:
        """Limits another worker read from the exchange, until this one knows them (asked
        at most once a second)."""
        if self._published or now - self._asked_at < 1.0:
            return
        self._asked_at = now
        shared = await self._redis.run(_GET, [self._published_key], [])
        if shared is not None:
            self._published = True
            super().publish(Limit(a, b, bool(c)) for a, b, c in json.loads(shared))

    def _used_key(self, count: WindowCount, ahead: int = 0) -> str:
        """The shared count of a limit's window last rolled to (or the one after)."""
        unit = "r" if count.limit.per_request else "w"
        return f"{self._used_prefix}{unit}{count.limit.window_s:g}:{count.window + ahead}"

    def _window_ttl(self, count: WindowCount) -> str:
        return _ms(2 * count.limit.window_s)

    async def acquire(self, cost: float = 1.0) -> None:
        """Wait until `cost` fits in every shared limit; BannedError while banned."""
        async with self._lock:
            while True:
                now = self._clock()  # read once: the window ids and the waits agree
                self._check_ban(now)
                if now < self._paused_until:  # seen here, even if Redis has not heard yet
                    await self._sleep(self._paused_until - now)
                    continue
                await self._learn_published(now)
                keys, args = [self._pause_key, self._ban_key], [repr(now)]
                for count in self._counts:
                    count.roll(now)
                    keys += [self._used_key(count), self._used_key(count, 1)]
                    ahead = "1" if self._near_end(count, now) else "0"
                    units = repr(count.limit.units(cost))
                    args += [units, repr(count.usable), self._window_ttl(count), ahead]
                verdict, *values = await self._redis.run(_WINDOW_ACQUIRE, keys, args)
                verdict = verdict.decode()
                if verdict == "ban":
                    self.banned_until = max(self.banned_until, float(values[0]))
                    continue
                if verdict == "pause":
                    await self._sleep(max(float(values[0]) - now, 0.001))
                    continue
                for count, value in zip(self._counts, values, strict=True):
                    count.used = float(value)
                if verdict == "ok":
                    self.spent += cost
                    return
                await self._sleep(max(self._room_in(now, cost), 0.001))

    async def shared_used(self, window_s: float | None = None) -> float:
        """The weight every worker has counted in the current window (default: the
        longest weight window)."""
        count = self._count(window_s)
        if count is None:
            return 0.0
        count.roll(self._clock())
        key, ttl = self._used_key(count), self._window_ttl(count)
        count.used = float(await self._redis.run(_RAISE_TO, [key], ["0", ttl]))
        return count.used

    async def flush(self) -> None:
        """Wait until what `observe_used`, `pause` and `ban` told Redis has arrived."""
        await self._redis.flush()

    def observe_used(self, weight: float, window_s: float | None = None) -> None:
        """The exchange's own count (it covers every worker on this IP)."""
        super().observe_used(weight, window_s)
        count = self._count(window_s)
        if count is not None:
            key, ttl = self._used_key(count), self._window_ttl(count)
            self._redis.send_later(_RAISE_TO, [key], [repr(weight), ttl])

    def pause(self, seconds: float) -> None:
        """The exchange answered 429: no worker sends for `seconds`."""
        super().pause(seconds)
        until = repr(self._paused_until)
        self._redis.send_later(_RAISE_TO, [self._pause_key], [until, _ms(seconds + 1)])

    def ban(self, seconds: float) -> None:
        """The exchange answered 418: no worker sends until the ban expires."""
        super().ban(seconds)
        until = repr(self.banned_until)
        self._redis.send_later(_RAISE_TO, [self._ban_key], [until, _ms(seconds + 1)])


class RedisTokenBucket(TokenBucket):
    """A `TokenBucket` shared by every worker: GCRA in Redis (one key, the theoretical
    arrival time, plus a pause-until key). The clock must be wall time, shared by all
    workers, so it defaults to `time.time`. `wait_time` is this process's own estimate."""

    def __init__(self, redis_url: str, key: str, rate_per_s: float,
                 capacity: float | None = None, **options: Any) -> None:  # fmt: skip
        options.setdefault("clock", time.time)
        super().__init__(rate_per_s, capacity, **options)
        self.key = key
        self._redis = _Redis(redis_url)
        base = f"{KEY_PREFIX}:{{{key}}}"
        self._keys = [f"{base}:tat", f"{base}:pause"]

    async def acquire(self, cost: float = 1.0) -> None:
        """Wait until `cost` units are available to this worker, then take them."""
        increment = repr(min(cost, self.capacity) / self.rate_per_s)
        tolerance = repr(self.capacity / self.rate_per_s)
        async with self._lock:
            while True:
                local = self.wait_time(cost)  # a pause this process saw, even before Redis did
                if local > 0 and self._paused_until > self._clock():
                    await self._sleep(local)
                    continue
                args = [repr(self._clock()), increment, tolerance]
                wait = float(await self._redis.run(_BUCKET_ACQUIRE, self._keys, args))
                if wait <= 0:
                    self._tokens = max(0.0, self._tokens - min(cost, self.capacity))
                    return
                await self._sleep(wait)

    def pause(self, seconds: float) -> None:
        """Send nothing for `seconds`, on any worker."""
        super().pause(seconds)
        args = [repr(self._clock()), repr(seconds), repr(self.capacity / self.rate_per_s)]
        self._redis.send_later(_BUCKET_PAUSE, self._keys, args)

    async def flush(self) -> None:
        """Wait until a `pause` has reached Redis."""
        await self._redis.flush()


def shared_window(
    redis_url: str | None, key: str, limit: float, window_s: float = 60.0, **options: Any
) -> WeightWindow:
    """A weight window shared by every worker through Redis, or this process's own."""
    if redis_url:
        return RedisWeightWindow(redis_url, key, limit, window_s, **options)
    return WeightWindow(limit, window_s, **options)


def shared_bucket(
    redis_url: str | None, key: str, per_minute: float, *, burst_seconds: float = 1.0
) -> TokenBucket:
    """A bucket of `per_minute` units, allowing `burst_seconds` of burst, shared through
    Redis, or this process's own."""
    rate = per_minute / 60
    capacity = max(1.0, rate * burst_seconds)
    if redis_url:
        return RedisTokenBucket(redis_url, key, rate, capacity)
    return TokenBucket(rate, capacity)
