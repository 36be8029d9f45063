"""A tiny local Binance: spot REST (`exchangeInfo`, `depth`, `aggTrades`) and the spot
websocket, replaying frames a test writes, in Binance's real wire format.

Point the real clients at it (`OMC_BINANCE_URL` / `OMC_BINANCE_WS_URL`, or
`SourceSettings(url=stub.url, ws_url=stub.ws_url)`) and ccxt.pro connects, sends its
`SUBSCRIBE`, and receives what the script says, per stream name:

    scripts = {
        "btcusdt@aggTrade": [                 # 1st subscription of the stream ...
            [agg_trade(1), agg_trade(2), CLOSE],
            [agg_trade(9)],                   # ... the 2nd (after a reconnect)
        ],
        "btcusdt@depth@100ms": [[diff(101, 105), WaitFor("/api/v3/depth"), diff(106, 107)]],
    }
    async with binance_stub(scripts, depth=[snapshot(100)], agg_trades=[...]) as stub:
        ...

A script step is a frame (a dict, sent as JSON text), `CLOSE` (the server closes the
socket), `STALL` (it stays silent while the socket lives), raw text (`Garbage("...")`)
or `WaitFor(path, count)` (until that REST path was asked `count` times, or the test
called `stub.signal(path)`). A stream
subscribed more often than it has scripts stays silent. REST `depth` answers are
served in turn (the last repeats), per symbol when given by symbol; `aggTrades` honours
`symbol`, `fromId` and `limit`; `exchange_info` replaces the simulator's.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import web

from ohmycoins.sim.config import DEFAULT_MORE_LIMITS, SimLimit
from ohmycoins.sim.exchange_info import spot_exchange_info
from ohmycoins.sim.symbols import spec_for
from tests.support.replay import serving
from tests.support.ws_scripts import CLOSE as CLOSE
from tests.support.ws_scripts import STALL as STALL
from tests.support.ws_scripts import Garbage as Garbage
from tests.support.ws_scripts import Subscriptions, scripted_socket

T0 = 1_735_689_600_000


@dataclass(frozen=True)
class WaitFor:
    """Hold the script until the REST `path` was requested `count` times."""

    path: str
    count: int = 1


@dataclass
class BinanceStub(Subscriptions):
    """The running stub: its URLs and what it saw."""

    url: str = ""
    ws_url: str = ""
    requests: Counter[str] = field(default_factory=Counter)
    _asked: asyncio.Condition = field(default_factory=asyncio.Condition)
    _signals: list[asyncio.Task[None]] = field(default_factory=list)

    def signal(self, name: str) -> None:
        """Count `name` as asked, from the test's side: releases a `WaitFor(name)`."""
        if self.requests[name] == 0:
            self._signals.append(asyncio.get_running_loop().create_task(self._count(name)))

    async def _count(self, name: str) -> None:
        async with self._asked:
            self.requests[name] += 1
            self._asked.notify_all()


def agg_trade(
    trade_id: int,
    price: str = "100.00",
    qty: str = "0.5",
    ts: int | None = None,
    symbol: str = "BTCUSDT",
) -> dict[str, Any]:
    """An `aggTrade` event; also the shape of a REST `aggTrades` row (with `e`, `E`, `s`)."""
    at = T0 + trade_id if ts is None else ts
    return {
        "e": "aggTrade",
        "E": at + 1,
        "s": symbol,
        "a": trade_id,
        "p": price,
        "q": qty,
        "f": trade_id * 10,
        "l": trade_id * 10,
        "T": at,
        "m": trade_id % 2 == 0,
        "M": True,
    }


def diff(
    first: int,
    final: int,
    bids: Sequence[Sequence[str]] = (),
    asks: Sequence[Sequence[str]] = (),
    symbol: str = "BTCUSDT",
) -> dict[str, Any]:
    """A `depthUpdate` event spanning update ids [first, final]."""
    return {
        "e": "depthUpdate",
        "E": T0 + final,
        "s": symbol,
        "U": first,
        "u": final,
        "b": [list(b) for b in bids],
        "a": [list(a) for a in asks],
    }


def snapshot(
    last_update_id: int, bids: Sequence[Sequence[str]], asks: Sequence[Sequence[str]]
) -> dict[str, Any]:
    """A REST `/api/v3/depth` answer."""
    return {
        "lastUpdateId": last_update_id,
        "bids": [list(b) for b in bids],
        "asks": [list(a) for a in asks],
    }


def kline(open_ts: int, close: str, closed: bool, symbol: str = "BTCUSDT") -> dict[str, Any]:
    """A `kline` event of the 1m candle opened at `open_ts`."""
    return {
        "e": "kline",
        "E": open_ts + 30_000,
        "s": symbol,
        "k": {
            "t": open_ts,
            "T": open_ts + 59_999,
            "s": symbol,
            "i": "1m",
            "f": 1,
            "L": 2,
            "o": "100.00",
            "c": close,
            "h": "101.00",
            "l": "99.00",
            "v": "3.5",
            "n": 2,
            "x": closed,
            "q": "350.0",
            "V": "1.0",
            "Q": "100.0",
            "B": "0",
        },
    }


def ticker(last: str, ts: int, symbol: str = "BTCUSDT") -> dict[str, Any]:
    """A `24hrTicker` event."""
    return {
        "e": "24hrTicker",
        "E": ts,
        "s": symbol,
        "p": "1.00",
        "P": "1.0",
        "w": "100.0",
        "x": "99.00",
        "c": last,
        "Q": "0.1",
        "b": "99.99",
        "B": "1",
        "a": "100.01",
        "A": "1",
        "o": "99.00",
        "h": "101.00",
        "l": "98.00",
        "v": "10",
        "q": "1000",
        "O": ts - 86_400_000,
        "C": ts,
        "F": 1,
        "L": 10,
        "n": 10,
    }


def apply_diff(book: dict[str, dict[Decimal, Decimal]], diff: Mapping[str, Any]) -> None:
    """Apply a `depthUpdate` to `book` (`bids` and `asks`, quantity by price) by Binance's
    rules: quantity 0 removes the level, any other sets it."""
    for side, key in (("bids", "b"), ("asks", "a")):
        for price, qty in diff[key]:
            if Decimal(qty) == 0:
                book[side].pop(Decimal(price), None)
            else:
                book[side][Decimal(price)] = Decimal(qty)


@asynccontextmanager
async def binance_stub(
    scripts: Mapping[str, Sequence[Sequence[Any]]],
    *,
    depth: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Mapping[str, Any]]] = (),
    agg_trades: Sequence[Mapping[str, Any]] = (),
    symbols: Sequence[str] = ("BTCUSDT",),
    exchange_info: Mapping[str, Any] | None = None,
    limits: Sequence[SimLimit] = (SimLimit("REQUEST_WEIGHT", 6000, 60), *DEFAULT_MORE_LIMITS),
) -> AsyncIterator[BinanceStub]:
    """Serve the stub on 127.0.0.1 for the duration of the block."""
    depths: dict[str | None, list[Mapping[str, Any]]] = (
        {k: list(v) for k, v in depth.items()}
        if isinstance(depth, Mapping)
        else {None: list(depth)}
    )

    async def info_answer(request: web.Request) -> web.Response:
        await stub._count(request.path)
        if exchange_info is not None:
            return web.json_response(exchange_info)
        return web.json_response(spot_exchange_info([spec_for(s) for s in symbols], T0, limits))

    async def depth_answer(request: web.Request) -> web.Response:
        await stub._count(request.path)
        symbol = request.query.get("symbol")
        answers = depths.get(symbol) or depths.get(None) or []
        served = stub.requests[f"{request.path}?symbol={symbol}"]
        stub.requests[f"{request.path}?symbol={symbol}"] += 1
        return web.json_response(answers[min(served, len(answers) - 1)])

    async def agg_answer(request: web.Request) -> web.Response:
        await stub._count(request.path)
        start = int(request.query.get("fromId", "0"))
        limit = int(request.query.get("limit", "500"))
        symbol = request.query.get("symbol")
        mine = [t for t in agg_trades if t.get("s", symbol) == symbol]
        rows = [{k: v for k, v in t.items() if k not in ("e", "E", "s")} for t in mine]
        return web.json_response([r for r in rows if int(r["a"]) >= start][:limit])

    async def hold(step: Any) -> bool:
        if not isinstance(step, WaitFor):
            return False
        async with stub._asked:
            await stub._asked.wait_for(lambda: stub.requests[step.path] >= step.count)
        return True

    def subscribed(asked: Mapping[str, Any]) -> tuple[list[Any], list[str]]:
        return [{"result": None, "id": asked.get("id")}], list(asked.get("params", []))

    app = web.Application()
    app.router.add_get("/api/v3/exchangeInfo", info_answer)
    app.router.add_get("/api/v3/depth", depth_answer)
    app.router.add_get("/api/v3/aggTrades", agg_answer)
    stub = BinanceStub()
    websocket = scripted_socket(stub, subscribed, scripts, hold)
    app.router.add_get("/ws", websocket)
    app.router.add_get("/ws/{tail:.*}", websocket)
    async with serving(app, shutdown_timeout=0.5) as url:
        stub.url, stub.ws_url = url, "ws" + url.removeprefix("http") + "/ws"
        yield stub
