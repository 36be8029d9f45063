"""Publishing works the same in-process and over Redis; slow consumers are dropped."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from ohmycoins.publish import (
    MemoryBroker,
    RedisBroker,
    SlowConsumerError,
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
