from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal as D

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from ohmycoins.publish import MemoryBroker, RedisBroker, publish_records
from ohmycoins.records import Record
from ohmycoins.storage.database import Database
from tests import factories as f
from tests.api.conftest import make_client

CANDLES = "candles:binance:BTC/USDT:1m"
TICKERS = "tickers:binance:ETH/USDT"


def _publish(client: TestClient, broker: object, records: Sequence[Record]) -> None:
    client.portal.call(publish_records, broker, records)  # type: ignore[union-attr]


def test_subscribe_receive_unsubscribe(sqlite_db: Database) -> None:
    broker = MemoryBroker()
    with (
        make_client(sqlite_db, broker=broker) as client,
        client.websocket_connect("/api/v1/stream") as ws,
    ):
        ws.send_json({"subscribe": [CANDLES, TICKERS]})
        assert ws.receive_json() == {"subscribed": [CANDLES, TICKERS]}
        candle = f.candle(volume=D("0.00000001"))
        _publish(client, broker, [candle, f.ticker(symbol="ETH/USDT"), f.trade()])
        first = ws.receive_json()
        assert first["channel"] == CANDLES
        assert first["data"]["type"] == "candles"
        assert first["data"]["open"] == "37000.10"
        assert first["data"]["ts"] == candle.ts
        assert ws.receive_json()["channel"] == TICKERS

        ws.send_json({"unsubscribe": [CANDLES]})
        assert ws.receive_json() == {"unsubscribed": [CANDLES]}
        _publish(client, broker, [f.candle(ts=f.T0 + 60_000), f.ticker(symbol="ETH/USDT")])
        assert ws.receive_json()["channel"] == TICKERS  # the candle is no longer sent


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("not json", "JSON"),
        ({"hello": 1}, "subscribe"),
        ({"subscribe": "candles"}, "list"),
        ({"subscribe": ["candles:binance:btcusdt:1m"]}, "unknown channel"),
        ({"subscribe": ["candles:binance:BTC/USDT:2m"]}, "unknown channel"),
    ],
)
def test_bad_messages_get_an_error(sqlite_db: Database, message: object, error: str) -> None:
    with make_client(sqlite_db) as client, client.websocket_connect("/api/v1/stream") as ws:
        if isinstance(message, str):
            ws.send_text(message)
        else:
            ws.send_json(message)
        assert error in ws.receive_json()["error"]
        ws.send_json({"subscribe": ["market_snapshots"]})  # still open
        assert ws.receive_json() == {"subscribed": ["market_snapshots"]}


def test_slow_consumer_closed_with_1013(sqlite_db: Database) -> None:
    broker = MemoryBroker(queue_size=4)
    with (
        make_client(sqlite_db, broker=broker) as client,
        client.websocket_connect("/api/v1/stream") as ws,
    ):
        ws.send_json({"subscribe": [CANDLES]})
        ws.receive_json()
        burst = [f.candle(ts=f.T0 + i * 60_000) for i in range(50)]
        _publish(client, broker, burst)  # one burst: the bounded queue overflows
        received = 0
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                ws.receive_json()
                received += 1
        assert closed.value.code == 1013
        assert received <= 4


@pytest.mark.redis
def test_a_client_whose_redis_subscription_is_lost_is_told_to_come_back(
    sqlite_db: Database, redis_url: str
) -> None:
    """Redis dropping the API's subscription closes the client's socket with 1013 and a
    reason, rather than leaving it open with nothing more to come."""
    import redis

    name = f"omc-test-api-{uuid.uuid4().hex[:8]}"
    broker = RedisBroker(f"{redis_url}?client_name={name}", prefix=f"{name}:")
    admin = redis.from_url(redis_url)
    with (
        make_client(sqlite_db, broker=broker) as client,
        client.websocket_connect("/api/v1/stream") as ws,
    ):
        ws.send_json({"subscribe": [CANDLES]})
        assert ws.receive_json() == {"subscribed": [CANDLES]}
        _publish(client, broker, [f.candle()])  # received: the subscription is in place
        assert ws.receive_json()["data"]["close"] == "37005.25"
        pubsub = [c for c in admin.client_list() if c["name"] == name and c["sub"] != "0"]
        assert len(pubsub) == 1
        admin.client_kill_filter(_id=pubsub[0]["id"])
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert (closed.value.code, closed.value.reason) == (
            1013,
            "broker connection lost: subscribe again",
        )
    admin.close()


def test_stream_needs_key_when_required(db: Database, read_key: str) -> None:
    with make_client(db, api_require_key=True) as client:
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            client.websocket_connect("/api/v1/stream") as ws,
        ):
            ws.receive_json()
        assert refused.value.code == 1008
        with client.websocket_connect("/api/v1/stream", headers={"X-API-Key": read_key}) as ws:
            ws.send_json({"subscribe": [CANDLES]})
            assert ws.receive_json() == {"subscribed": [CANDLES]}


@pytest.mark.redis
def test_stream_over_redis(sqlite_db: Database, redis_url: str) -> None:
    broker = RedisBroker(redis_url, prefix="omc-test-api:")
    with (
        make_client(sqlite_db, broker=broker) as client,
        client.websocket_connect("/api/v1/stream") as ws,
    ):
        ws.send_json({"subscribe": [CANDLES]})
        assert ws.receive_json() == {"subscribed": [CANDLES]}
        _publish(client, broker, [f.candle()])
        assert ws.receive_json()["data"]["close"] == "37005.25"
        client.portal.call(broker.close)  # type: ignore[union-attr]
