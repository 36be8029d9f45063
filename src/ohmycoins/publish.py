"""Publish: fan stored records out to subscribers and keep the latest value per key.

The broker is chosen by URL, like encode/broadcaster: `memory://` (one process, the
default) or `redis://` (many processes; the `redis` extra). Both speak the same
interface, so the WebSocket stream and the collectors never know which one runs.
Subscriber queues are bounded: a consumer that falls behind is dropped
(`SlowConsumerError`) rather than growing memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterable
from decimal import Decimal
from typing import Any, Protocol

import orjson

from ohmycoins.errors import OhMyCoinsError
from ohmycoins.records import (
    RECORD_TYPES,
    Candle,
    CatalystEvent,
    NewsItem,
    OrderBook,
    Record,
    SocialPost,
    Ticker,
    Trade,
)

Message = dict[str, Any]
QUEUE_SIZE = 1_000


class SlowConsumerError(OhMyCoinsError):
    """A subscriber fell more than its queue size behind and was dropped."""


class SubscriptionLostError(OhMyCoinsError):
    """The broker's connection under a subscription was lost: subscribe again."""


class Broker(Protocol):
    """Publish/subscribe plus a latest-value cache."""

    async def publish(self, channel: str, message: Message) -> None: ...

    async def publish_many(self, channel: str, messages: list[Message]) -> None:
        """Publish `messages` on one channel in order, at one go (a batch of trades)."""
        ...

    def listened(self, channel: str) -> bool:
        """Whether a message on `channel` may reach a subscriber (False lets a publisher
        skip building messages no one receives)."""
        ...

    def subscribe(self, channel: str) -> contextlib.AbstractAsyncContextManager[Subscription]: ...

    async def set_latest(self, key: str, message: Message) -> None: ...

    async def get_latest(self, key: str) -> Message | None: ...

    async def close(self) -> None: ...


class Subscription(Protocol):
    def __aiter__(self) -> AsyncIterator[Message]: ...


def stream_stats_key(stream: str) -> str:
    """The latest-value key under which a live stream reports its counters and lags."""
    return f"streams:{stream}"


async def latest_stream_reports(broker: Broker, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The latest report of each of these streams that has reported."""
    reports: dict[str, dict[str, Any]] = {}
    for name in names:
        report = await broker.get_latest(stream_stats_key(name))
        if report is not None:
            reports[name] = dict(report)
    return reports


def channel_for(record: Record) -> str:
    """The channel a record is published on, e.g. `candles:binance:BTC/USDT:1m`."""
    if isinstance(record, Candle):
        return f"candles:{record.exchange}:{record.symbol}:{record.timeframe}"
    market = _MARKET_CHANNELS.get(type(record))
    if market is not None:
        return f"{market}:{record.exchange}:{record.symbol}"  # type: ignore[union-attr]
    return _LEDGER_CHANNELS.get(type(record), record.TABLE)


_MARKET_CHANNELS: dict[type[Any], str] = {
    Ticker: "tickers",
    Trade: "trades",
    OrderBook: "orderbook",
}
_LEDGER_CHANNELS: dict[type[Any], str] = {
    NewsItem: "news",
    SocialPost: "social",
    CatalystEvent: "catalyst",
}
WHOLE_CHANNELS: tuple[str, ...] = tuple(
    _LEDGER_CHANNELS.get(t, t.TABLE) for t in RECORD_TYPES if t not in (Candle, *_MARKET_CHANNELS)
)
"""Channels that carry every record of a type: `news`, `catalyst`, `market_snapshots`…"""


def message_for(record: Record) -> Message:
    """A JSON-ready dict of a record: decimals as exact strings, tuples as lists.

    Built field by field (names read once per type): a live stream publishes each
    record as it comes, and a generic deep copy through JSON cost more than the rest of
    the stream's own work on a trade."""
    names = _FIELD_NAMES.get(type(record)) or _field_names(type(record))
    message: Message = {"type": record.TABLE}
    for name in names:
        value = getattr(record, name)
        message[name] = value if type(value) in _AS_IS else _jsonable(value)
    return message


_AS_IS = frozenset({str, int, bool, type(None)})
_FIELD_NAMES: dict[type[Any], tuple[str, ...]] = {}


def _field_names(record_type: type[Any]) -> tuple[str, ...]:
    _FIELD_NAMES[record_type] = tuple(f.name for f in dataclasses.fields(record_type))
    return _FIELD_NAMES[record_type]


def _jsonable(value: Any) -> Any:
    """`value` as JSON would carry it: a decimal as its string, a tuple as a list; any
    other type through orjson (a float that is not finite becomes null)."""
    if type(value) is Decimal:
        return str(value)
    if type(value) is tuple:
        return [_jsonable(item) for item in value]
    return orjson.loads(orjson.dumps(value, default=str))


async def publish_records(broker: Broker, records: Iterable[Record]) -> int:
    """Publish each record on its channel, in order within the channel, one call per
    channel; remember the last of each channel as that channel's latest value. Messages
    are built only for channels someone may listen to (the latest value always)."""
    by_channel: dict[str, list[Record]] = {}
    for record in records:
        by_channel.setdefault(channel_for(record), []).append(record)
    for channel, group in by_channel.items():
        if broker.listened(channel):
            messages = [message_for(record) for record in group]
            await broker.publish_many(channel, messages)
            latest = messages[-1]
        else:
            latest = message_for(group[-1])
        await broker.set_latest(channel, latest)
    return sum(map(len, by_channel.values()))


async def publish_in_progress(broker: Broker, records: Iterable[Record]) -> int:
    """Publish records that are not final (the candle in progress), flagged
    `"final": false`; they are never stored and never become a channel's latest value."""
    count = 0
    for record in records:
        await broker.publish(channel_for(record), {**message_for(record), "final": False})
        count += 1
    return count


_WAKE: Message = {}
"""Queued to wake a waiting subscriber when its subscription is lost (never yielded)."""


class _Queue:
    """One subscriber's bounded queue; overflow marks it dropped, a lost connection
    ends it once what was received has been read."""

    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[Message] = asyncio.Queue(size)
        self.dropped = False
        self.lost: str | None = None

    def offer(self, message: Message) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.dropped = True

    def end(self, reason: str) -> None:
        self.lost = reason
        with contextlib.suppress(asyncio.QueueFull):  # a full queue wakes it anyway
            self.queue.put_nowait(_WAKE)

    async def __aiter__(self) -> AsyncIterator[Message]:
        while True:
            if self.queue.empty():
                if self.dropped:
                    raise SlowConsumerError("subscriber fell behind and was dropped")
                if self.lost is not None:
                    raise SubscriptionLostError(self.lost)
            message = await self.queue.get()
            if message is not _WAKE:
                yield message


class MemoryBroker:
    """In-process broker for one process and for tests."""

    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self._subscribers: dict[str, set[_Queue]] = {}
        self._latest: dict[str, Message] = {}

    async def publish(self, channel: str, message: Message) -> None:
        await self.publish_many(channel, [message])

    async def publish_many(self, channel: str, messages: list[Message]) -> None:
        for subscriber in self._subscribers.get(channel, ()):
            for message in messages:
                subscriber.offer(message)

    def listened(self, channel: str) -> bool:
        return bool(self._subscribers.get(channel))

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[_Queue]:
        subscriber = _Queue(self.queue_size)
        self._subscribers.setdefault(channel, set()).add(subscriber)
        try:
            yield subscriber
        finally:
            self._subscribers[channel].discard(subscriber)

    async def set_latest(self, key: str, message: Message) -> None:
        self._latest[key] = message

    async def get_latest(self, key: str) -> Message | None:
        return self._latest.get(key)

    async def close(self) -> None:
        self._subscribers.clear()


class RedisBroker:
    """Redis pub/sub and keys, so many workers and API replicas share one stream."""

    def __init__(self, url: str, queue_size: int = QUEUE_SIZE, prefix: str = "omc:") -> None:
        import redis.asyncio as redis  # imported only when Redis is chosen

        self._redis = redis.from_url(url)
        self._lost: type[Exception] = redis.ConnectionError
        """What a dropped connection raises (a subscription then ends, see `_pump`)."""
        self.queue_size = queue_size
        self.prefix = prefix

    async def publish(self, channel: str, message: Message) -> None:
        await self._redis.publish(self.prefix + channel, orjson.dumps(message))

    async def publish_many(self, channel: str, messages: list[Message]) -> None:
        """One round trip for the batch (a pipeline), not one a message."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for message in messages:
                pipe.publish(self.prefix + channel, orjson.dumps(message))
            await pipe.execute()

    def listened(self, channel: str) -> bool:
        """Always: subscribers are in other processes, and asking costs a round trip."""
        return True

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[_Queue]:
        subscriber = _Queue(self.queue_size)
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self.prefix + channel)
        pump = asyncio.create_task(self._pump(pubsub, subscriber))
        try:
            yield subscriber
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            await self._leave(pubsub)

    async def _leave(self, pubsub: Any) -> None:
        """Unsubscribe and release the connection; when the server or a broker closing
        for shutdown has dropped it, there is nothing left to unsubscribe from."""
        with contextlib.suppress(self._lost):
            await pubsub.unsubscribe()
        await pubsub.aclose()

    async def _pump(self, pubsub: Any, subscriber: _Queue) -> None:
        """Redis messages into the subscriber's queue, until the connection is lost
        (the subscriber then ends with `SubscriptionLostError`, not in silence)."""
        try:
            async for item in pubsub.listen():
                if item.get("type") == "message":
                    subscriber.offer(orjson.loads(item["data"]))
        except self._lost as error:
            subscriber.end(f"redis connection lost: {error}")

    async def set_latest(self, key: str, message: Message) -> None:
        await self._redis.set(self.prefix + "latest:" + key, orjson.dumps(message))

    async def get_latest(self, key: str) -> Message | None:
        raw = await self._redis.get(self.prefix + "latest:" + key)
        return orjson.loads(raw) if raw is not None else None

    async def close(self) -> None:
        await self._redis.aclose()


def create_broker(url: str | None) -> MemoryBroker | RedisBroker:
    """A broker for `url`: Redis for redis:// URLs, in-process otherwise."""
    if url and url.startswith(("redis://", "rediss://", "unix://")):
        return RedisBroker(url)
    return MemoryBroker()
