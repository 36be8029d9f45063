"""Exchange websocket facts and checks that need no socket: message channels, book
depths, Kraken's checksum text, Coinbase's sequence rules and the connection pacing
(with an injected clock: no sleeps)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from ohmycoins.collectors.streams import Stream, StreamSpec
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.capture import CaptureWriter
from ohmycoins.sources.exchange_ws import (
    VENUES,
    ConnectionLimits,
    ConnectionPacer,
    ExchangeStream,
    book_checksum_text,
    book_depth,
    message_channel,
)
from ohmycoins.storage.database import Database


class Clock:
    """Monotonic seconds that move only when the test says."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("exchange", "message", "channel"),
    [
        ("kraken", {"channel": "book", "type": "update", "data": []}, "book"),
        ("kraken", {"channel": "trade", "type": "update", "data": []}, "trades"),
        ("kraken", {"channel": "ohlc", "type": "update", "data": []}, "candles"),
        ("kraken", {"channel": "heartbeat"}, "control"),
        ("kraken", {"method": "subscribe", "success": True}, "control"),
        ("coinbaseexchange", {"type": "l2update", "product_id": "BTC-USD"}, "book"),
        ("coinbaseexchange", {"type": "snapshot", "product_id": "BTC-USD"}, "book"),
        ("coinbaseexchange", {"type": "match", "product_id": "BTC-USD"}, "trades"),
        ("coinbaseexchange", {"type": "ticker", "product_id": "BTC-USD"}, "ticker"),
        ("coinbaseexchange", {"type": "subscriptions", "channels": []}, "control"),
        ("binance", {"stream": "x", "data": {"e": "aggTrade"}}, "trades"),
        ("binance", {"result": None, "id": 1}, "control"),
        ("binance", {"e": ["not", "a", "name"]}, "control"),
        ("binance", {"data": [1, 2]}, "control"),
        ("binance", [{"e": "aggTrade"}], "data"),
        ("binance", "pong", "control"),
        ("okx", {"arg": {"channel": "books"}}, "data"),
        ("okx", [1, 2], "data"),
        ("okx", "pong", "control"),
    ],
)
def test_each_message_is_told_apart_by_channel(exchange: str, message: dict, channel: str) -> None:
    assert message_channel(exchange, message) == channel


def test_a_book_is_subscribed_at_a_depth_the_exchange_accepts() -> None:
    assert book_depth("kraken", 50) == 100
    assert book_depth("kraken", 1000) == 1000
    assert book_depth("kraken", 5000) == 1000  # its deepest
    assert book_depth("binance", 100) == 100
    assert book_depth("coinbaseexchange", 50) is None  # the whole book, always
    assert book_depth("okx", 50) == 50  # unknown: as asked


def test_kraken_checksum_text_keeps_the_text_sent() -> None:
    assert book_checksum_text("0.05005000") == "5005000"
    assert book_checksum_text("354.15000000") == "35415000000"
    assert book_checksum_text(Decimal("0.00000050")) == "50"  # never an exponent


def test_coinbase_sequences_rise_and_match_ids_follow() -> None:
    client = ExchangeStream("coinbaseexchange", SourceSettings())

    def match(trade_id: int, sequence: int) -> dict:
        return {
            "type": "match",
            "product_id": "BTC-USD",
            "trade_id": trade_id,
            "sequence": sequence,
        }

    assert client.in_sequence(match(10, 100))
    assert client.in_sequence(match(11, 104))  # sequences skip (other order events)
    assert not client.in_sequence(match(11, 104))  # a repeat is dropped
    assert client.in_sequence(match(13, 110))  # trade 12 missing: passed, counted
    assert client.sequence_breaks == 2
    client.forget_sequences()  # a new connection starts afresh
    assert client.in_sequence(match(5, 50)) and client.sequence_breaks == 2


def test_the_pacer_lets_the_limit_through_then_waits_for_the_window() -> None:
    clock = Clock()
    pacer = ConnectionPacer(ConnectionLimits(3, 10.0), clock)
    for _ in range(3):
        assert pacer.delay() == 0.0
        pacer.opened()
        clock.now += 1.0  # opened at 1000, 1001, 1002
    assert pacer.delay() == pytest.approx(7.0)  # the first leaves the window at 1010
    assert pacer.delay(needed=2) == pytest.approx(8.0)
    assert pacer.delay(needed=4) == 10.0  # more than a window holds: a whole window
    clock.now = 1_010.0
    assert pacer.delay() == 0.0


def test_binance_reconnects_stay_within_300_connections_per_5_minutes() -> None:
    clock = Clock()
    pacer = ConnectionPacer(VENUES["binance"].limits, clock)
    for _ in range(300):
        pacer.opened()
        clock.now += 0.5  # 300 sockets in 150 s
    assert pacer.delay() == pytest.approx(150.0)  # the first leaves 300 s after it opened


def test_the_reconnect_delay_is_the_backoff_or_what_the_limits_require(
    sqlite_db: Database,
) -> None:
    clock = Clock()
    client = ExchangeStream("coinbaseexchange", SourceSettings())
    client.pacer = ConnectionPacer(VENUES["coinbaseexchange"].limits, clock)
    spec = StreamSpec("coinbaseexchange", ("BTC/USD",), backoff_initial_seconds=0.01)
    stream = Stream(spec, client, sqlite_db, None)
    assert stream._reconnect_delay(1, 1) < 0.03  # nothing opened: the backoff
    for _ in range(8):
        client.pacer.opened()  # eight sockets this second: Coinbase's limit
    clock.now += 0.25
    assert stream._reconnect_delay(1, 1) == pytest.approx(0.75)
    assert stream._reconnect_delay(30, 1) == pytest.approx(spec.backoff_max_seconds, abs=0.01)


async def test_a_frame_arriving_while_the_stream_stops_is_neither_captured_nor_handled(
    tmp_path: Path,
) -> None:
    local = "127.0.0.1:9"  # nothing listens: no socket is opened here
    client = ExchangeStream(
        "binance", SourceSettings(url=f"http://{local}", ws_url=f"ws://{local}")
    )
    client.capture = CaptureWriter(tmp_path, client.id)
    told: list[str] = []
    client.on_message = lambda channel, message, received: told.append(channel)
    socket = client.api.client(f"ws://{local}/ws")
    answer = {"result": None, "id": 1}  # a subscription's answer
    try:
        client.receiving = False  # the stream is stopping
        client.api.handle_message(socket, answer)
        client.receiving = True
        client.api.handle_message(socket, answer)
        await client.capture.flush()
    finally:
        await client.close()
    assert told == ["control"]  # the second frame only
    assert client.capture.events == 1
