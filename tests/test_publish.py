"""Publishing works the same in-process and over Redis; slow consumers are dropped."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from ohmycoins.publish import (
    MemoryBroker,
    RedisBroker,
    SlowConsumerError,
    SubscriptionLostError,
    channel_for,
    create_broker,
    publish_records,
)
from tests import factories


def test_channels() -> None:
    assert channel_for(factories.candle()) == "candles:binance:BTC/USDT:1m"
    assert channel_for(factories.ticker()) == "tickers:binance:BTC/USDT"
    assert channel_for(factories.orderbook()) == "orderbook:binance:BTC/USDT"
    assert channel_for(factories.news_item()) == "news"


@pytest.fixture(params=["memory", "redis"])
async def broker(request: pytest.FixtureRequest):
    if request.param == "memory":
        chosen = create_broker(None)
        assert isinstance(chosen, MemoryBroker)
    else:
        url = request.getfixturevalue("redis_url")
        chosen = RedisBroker(url, prefix=f"omc-test-{uuid.uuid4().hex[:8]}:")
    yield chosen
    await chosen.close()


async def test_subscriber_receives_records_and_latest_is_kept(broker) -> None:
    candle = factories.candle()
    channel = channel_for(candle)
    async with broker.subscribe(channel) as subscription:
        if isinstance(broker, RedisBroker):
            await asyncio.sleep(0.05)  # Redis SUBSCRIBE has no acknowledgement we can await here
        await publish_records(broker, [candle])
        message = await asyncio.wait_for(anext(aiter(subscription)), 5)
    assert message["close"] == "37005.25" and message["type"] == "candles"
    assert await broker.get_latest(channel) == message


async def test_slow_consumer_is_dropped() -> None:
    broker = MemoryBroker(queue_size=3)
    async with broker.subscribe("trades:binance:BTC/USDT") as subscription:
        for i in range(10):
            await broker.publish("trades:binance:BTC/USDT", {"i": i})
        received = []
        with pytest.raises(SlowConsumerError):
            async for message in subscription:
                received.append(message["i"])
    assert received == [0, 1, 2]
    assert len(broker._subscribers["trades:binance:BTC/USDT"]) == 0


async def test_a_batch_reaches_its_channel_in_order_and_every_channel_keeps_its_latest(
    broker,
) -> None:
    """A stream's batch is published one call per channel (pipelined over Redis); a
    channel no one listens to still gets its latest value."""
    listened = [factories.trade(trade_id=str(n)) for n in range(1, 301)]
    unheard = [factories.trade(symbol="ETH/USDT", trade_id=str(n)) for n in range(1, 4)]
    mixed = [record for pair in zip(listened, unheard * 100, strict=True) for record in pair]
    channel = channel_for(listened[0])
    async with broker.subscribe(channel) as subscription:
        if isinstance(broker, RedisBroker):
            await asyncio.sleep(0.05)  # Redis SUBSCRIBE has no acknowledgement we can await here
        assert await publish_records(broker, mixed) == 600
        messages = aiter(subscription)
        received = [(await asyncio.wait_for(anext(messages), 5))["trade_id"] for _ in listened]
    assert received == [str(n) for n in range(1, 301)]
    assert (await broker.get_latest(channel))["trade_id"] == "300"  # type: ignore[index]
    latest_unheard = await broker.get_latest(channel_for(unheard[0]))
    assert latest_unheard is not None and latest_unheard["trade_id"] == "3"


@pytest.mark.redis
async def test_a_redis_subscription_whose_connection_is_lost_ends_with_an_error(
    redis_url: str,
) -> None:
    """A subscriber is told when Redis drops its connection, after the messages that
    arrived before; it never waits in silence for messages that cannot come."""
    import redis.asyncio as redis

    name = f"omc-test-{uuid.uuid4().hex[:8]}"
    broker = RedisBroker(f"{redis_url}?client_name={name}", prefix=f"{name}:")
    admin = redis.from_url(redis_url)
    try:
        async with broker.subscribe("news") as subscription:
            await asyncio.sleep(0.05)  # Redis SUBSCRIBE has no acknowledgement we can await here
            await broker.publish("news", {"n": 1})
            messages = aiter(subscription)
            assert await asyncio.wait_for(anext(messages), 5) == {"n": 1}
            ours = [c for c in await admin.client_list() if c["name"] == name and c["sub"] != "0"]
            assert len(ours) == 1
            await admin.client_kill_filter(_id=ours[0]["id"])
            with pytest.raises(SubscriptionLostError, match="redis connection lost"):
                await asyncio.wait_for(anext(messages), 5)
    finally:
        await admin.aclose()
        await broker.close()
