"""A tiny local exchange websocket that answers each subscribe message and then plays
the frames scripted for what it asked for, in the exchange's wire format.

REST is served beside it by `replay_server` (`tests/support/replay.py`); point the
real client at both (`SourceSettings(url=rest_url, ws_url=stub.ws_url)`):

    def subscribed(message):            # a decoded subscribe message →
        return acks, keys               # frames to answer with, and the stream keys asked
    scripts = {"book:XMR/USD": [[snapshot, update, STALL], [snapshot, ...]]}
    async with venue_ws_stub(subscribed, scripts) as stub:
        ...

The n-th subscription of a key plays the n-th script of that key (none left: silence);
steps as in `ws_scripts` (a `Decimal` is sent as a JSON number with its exact text).

Also here: cryptofeed's recordings read (`recorded_frames`), and Kraken's v1 frames
(what cryptofeed recorded) written as Kraken's v2 frames (what ccxt.pro speaks).
"""

from __future__ import annotations

import json
import zlib
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.support.replay import serving
from tests.support.ws_scripts import Subscribed, Subscriptions, scripted_socket


@dataclass
class VenueStub(Subscriptions):
    """The running stub: its URL and what it was asked."""

    ws_url: str = ""


@asynccontextmanager
async def venue_ws_stub(
    subscribed: Subscribed, scripts: Mapping[str, Sequence[Sequence[Any]]]
) -> AsyncIterator[VenueStub]:
    """Serve the stub on 127.0.0.1 for the duration of the block."""
    stub = VenueStub()
    websocket = scripted_socket(stub, subscribed, scripts)
    app = web.Application()
    app.router.add_get("/", websocket)
    app.router.add_get("/{tail:.*}", websocket)
    async with serving(app, shutdown_timeout=0.5) as url:
        stub.ws_url = "ws" + url.removeprefix("http")
        yield stub


# --- cryptofeed recordings ---------------------------------------------------------


def recorded_frames(path: Path) -> Iterator[Any]:
    """The received messages of a cryptofeed websocket recording, in order (lines are
    `<receive time>: <json>`; the connection and sent lines, `<url> <-...`, skipped)."""
    for line in path.read_text().splitlines():
        if not line or line.startswith("wss://"):
            continue
        yield json.loads(line.split(": ", 1)[1], parse_float=Decimal)


def recorded_rest(path: Path, url_prefix: str) -> bytes:
    """The exact body of the first REST answer in a cryptofeed recording whose URL
    starts with `url_prefix` (lines are `<url> -> <receive time>: <body>`)."""
    for line in path.read_bytes().splitlines():
        if line.startswith(url_prefix.encode()):
            return line.split(b": ", 1)[1]
    raise LookupError(f"no answer from {url_prefix} in {path}")


# --- Kraken: v1 frames (recorded) as v2 frames (what ccxt.pro speaks) ---------------

V2_ASSETS = {"XBT": "BTC", "XDG": "DOGE"}
"""Kraken's v2 names of assets its v1 feed calls otherwise."""


def kraken_v2_symbol(pair: str) -> str:
    return "/".join(V2_ASSETS.get(asset, asset) for asset in pair.split("/"))


def kraken_checksum(asks: Sequence[Sequence[str]], bids: Sequence[Sequence[str]]) -> int:
    """Kraken's book checksum (CRC32 of the top 10 asks then top 10 bids, each price and
    amount without its point and leading zeros), written from its documentation here,
    apart from the code under test."""
    text = "".join(
        price.replace(".", "").lstrip("0") + amount.replace(".", "").lstrip("0")
        for price, amount in [*asks[:10], *bids[:10]]
    )
    return zlib.crc32(text.encode())


def _iso(seconds: Decimal) -> str:
    at = datetime.fromtimestamp(int(seconds), UTC).replace(
        microsecond=int((seconds % 1) * 1_000_000)
    )
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _levels(levels: Sequence[Sequence[Any]]) -> list[dict[str, Decimal]]:
    return [{"price": Decimal(level[0]), "qty": Decimal(level[1])} for level in levels]


def kraken_v2_frames(frames: Sequence[Any]) -> dict[str, list[dict[str, Any]]]:
    """The data frames of a Kraken v1 recording (`book-N`, `trade`) as v2 frames, by
    stream key (`book-<depth>:<v2 symbol>`, `trade:<v2 symbol>`), in recorded order.

    Prices, amounts and checksums are the recorded ones, numbers keeping their text. A
    v1 snapshot has no checksum and v2 always sends one: the stub computes it from the
    recorded levels (`kraken_checksum`), as Kraken would. v1 trades carry no trade id,
    so these trades have none."""
    keyed: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for frame in frames:
        if not isinstance(frame, list):
            continue
        name, pair = frame[-2], frame[-1]
        symbol = kraken_v2_symbol(pair)
        if name == "trade":
            keyed[f"trade:{symbol}"].append(_kraken_trades(symbol, frame[1]))
        elif str(name).startswith("book"):
            keyed[f"{name}:{symbol}"].append(_kraken_book(symbol, frame[1:-2]))
    return dict(keyed)


def _kraken_trades(symbol: str, trades: Sequence[Sequence[Any]]) -> dict[str, Any]:
    data = [
        {
            "symbol": symbol,
            "side": "sell" if trade[3] == "s" else "buy",
            "price": Decimal(trade[0]),
            "qty": Decimal(trade[1]),
            "ord_type": "limit" if trade[4] == "l" else "market",
            "timestamp": _iso(Decimal(trade[2])),
        }
        for trade in trades
    ]
    return {"channel": "trade", "type": "update", "data": data}


def _kraken_book(symbol: str, parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for part in parts:
        merged.update(part)
    if "as" in merged or "bs" in merged:
        asks, bids = merged.get("as", []), merged.get("bs", [])
        book = {
            "symbol": symbol,
            "bids": _levels(bids),
            "asks": _levels(asks),
            "checksum": kraken_checksum([a[:2] for a in asks], [b[:2] for b in bids]),
        }
        return {"channel": "book", "type": "snapshot", "data": [book]}
    asks, bids = merged.get("a", []), merged.get("b", [])
    stamps = [Decimal(level[2]) for level in [*asks, *bids]]
    update = {
        "symbol": symbol,
        "bids": _levels(bids),
        "asks": _levels(asks),
        "checksum": int(merged["c"]),
        "timestamp": _iso(max(stamps)),
    }
    return {"channel": "book", "type": "update", "data": [update]}


def kraken_subscribed(message: Mapping[str, Any]) -> tuple[list[Any], list[str]]:
    """Kraken v2's answer to a subscribe request (or a ping), and the stream keys asked."""
    if message.get("method") == "ping":
        return [{"method": "pong", "req_id": message.get("req_id")}], []
    if message.get("method") != "subscribe":
        return [], []
    params = message.get("params", {})
    channel = params.get("channel")
    acks, keys = [], []
    for symbol in params.get("symbol", []):
        result = {"channel": channel, "symbol": symbol, "snapshot": True}
        if "depth" in params:
            result["depth"] = params["depth"]
        acks.append(
            {
                "method": "subscribe",
                "req_id": message.get("req_id"),
                "result": result,
                "success": True,
            }
        )
        depth = f"-{params['depth']}" if "depth" in params else ""
        keys.append(f"{channel}{depth}:{symbol}")
    return acks, keys


# --- Coinbase Exchange (`ws-feed`): recorded frames as they are --------------------


def coinbase_keyed(frames: Sequence[Any]) -> dict[str, list[dict[str, Any]]]:
    """The data frames of a Coinbase `ws-feed` recording by stream key
    (`<channel>:<product>`: `level2`, `matches`, `ticker`), in recorded order."""
    channel_of = {
        "snapshot": "level2",
        "l2update": "level2",
        "match": "matches",
        "last_match": "matches",
        "ticker": "ticker",
    }
    keyed: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for frame in frames:
        if isinstance(frame, Mapping) and frame.get("type") in channel_of:
            keyed[f"{channel_of[frame['type']]}:{frame['product_id']}"].append(dict(frame))
    return dict(keyed)


def coinbase_subscribed(message: Mapping[str, Any]) -> tuple[list[Any], list[str]]:
    """Coinbase's `subscriptions` answer to a subscribe request, and the keys asked for."""
    if message.get("type") != "subscribe":
        return [], []
    products = list(message.get("product_ids", []))
    channels = list(message.get("channels", []))
    ack = {
        "type": "subscriptions",
        "channels": [{"name": name, "product_ids": products} for name in channels],
    }
    return [ack], [f"{name}:{product}" for name in channels for product in products]
