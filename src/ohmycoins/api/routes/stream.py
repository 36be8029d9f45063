"""`WS /api/v1/stream`: published records, live, by channel.

Protocol (JSON text frames):

    client → {"subscribe": ["candles:binance:BTC/USDT:1m", "tickers:binance:ETH/USDT"]}
    server → {"subscribed": ["candles:binance:BTC/USDT:1m", "tickers:binance:ETH/USDT"]}
    server → {"channel": "candles:binance:BTC/USDT:1m", "data": {"type": "candles", ...}}
    client → {"unsubscribe": ["tickers:binance:ETH/USDT"]}
    server → {"unsubscribed": ["tickers:binance:ETH/USDT"]}
    server → {"error": "..."}            a bad message; the connection stays open

Channels: `candles:<exchange>:<symbol>:<timeframe>`, `tickers|trades|orderbook:
<exchange>:<symbol>`, `news`, `social`, `catalyst`, or another record table name
(`market_snapshots`, …). The server
acknowledges a subscription only once it is registered with the broker, so every
record published after the acknowledgement is delivered.

A client that reads more slowly than records arrive is closed with code 1013 (try
again later) once its bounded queue overflows, instead of buffering without end.
When the app requires keys, the handshake must carry a read key (`X-API-Key` or
`Authorization: Bearer`); otherwise it is closed with 1008 (policy violation). Each
connect spends one request of the key's or the client address's budget; over it, the
handshake is answered 429 with `Retry-After`.
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Any

import anyio
import orjson
from anyio.abc import TaskGroup
from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status
from fastapi.exceptions import HTTPException

from ohmycoins.api.access import caller_of
from ohmycoins.api.deps import ApiContext, authorize, context_of
from ohmycoins.publish import WHOLE_CHANNELS, Broker, SlowConsumerError, SubscriptionLostError
from ohmycoins.timeframes import TIMEFRAMES

log = logging.getLogger(__name__)

router = APIRouter(tags=["stream"])

MAX_CHANNELS = 200
SLOW_CONSUMER_CLOSE = status.WS_1013_TRY_AGAIN_LATER
"""How a session the server ends is closed (a slow client, a lost broker): come back."""
_MARKET = r"[a-z0-9_]+:[A-Z0-9]+/[A-Z0-9]+"
_CHANNEL = re.compile(
    rf"^(candles:{_MARKET}:({'|'.join(TIMEFRAMES)})"
    rf"|(tickers|trades|orderbook):{_MARKET}"
    rf"|({'|'.join(WHOLE_CHANNELS)}))$"
)


def valid_channel(channel: object) -> bool:
    return isinstance(channel, str) and bool(_CHANNEL.match(channel))


@router.websocket("/stream")
async def stream(websocket: WebSocket) -> None:
    """Live records of the channels the client subscribes to (see the module docstring)."""
    context = context_of(websocket)
    if not _authorized(websocket, context):
        await websocket.close(status.WS_1008_POLICY_VIOLATION, "a valid read API key is required")
        return
    await websocket.accept()
    await StreamSession(websocket, context.broker).run()


def _authorized(websocket: WebSocket, context: ApiContext) -> bool:
    try:
        authorize(caller_of(websocket), "read", require_key=context.require_key)
    except HTTPException:
        return False
    return True


class StreamSession:
    """One connection: a reader of client messages and one forwarder per channel, in one
    task group, so the connection's end (or a drop) ends them all."""

    def __init__(self, websocket: WebSocket, broker: Broker) -> None:
        self.websocket = websocket
        self.broker = broker
        self.forwarders: dict[str, tuple[anyio.CancelScope, anyio.Event]] = {}
        self.send_lock = anyio.Lock()
        self.ending: str | None = None
        """Why the server ends the session (the close reason), once it does."""
        self._group: TaskGroup | None = None

    async def run(self) -> None:
        async with anyio.create_task_group() as group:
            self._group = group
            group.start_soon(self._read)
        if self.ending is not None:
            log.info("stream: closing a client: %s", self.ending)
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await self.websocket.close(SLOW_CONSUMER_CLOSE, self.ending)

    def _stop(self) -> None:
        assert self._group is not None
        self._group.cancel_scope.cancel()

    async def _read(self) -> None:
        while True:
            try:
                text = await self.websocket.receive_text()
            except WebSocketDisconnect:
                self._stop()
                return
            try:
                message = orjson.loads(text)
            except orjson.JSONDecodeError:
                await self._send({"error": "messages must be JSON objects"})
                continue
            await self._handle(message)

    async def _handle(self, message: Any) -> None:
        if not isinstance(message, dict) or not set(message) & {"subscribe", "unsubscribe"}:
            await self._send({"error": 'expected {"subscribe": [...]} or {"unsubscribe": [...]}'})
            return
        for verb in ("subscribe", "unsubscribe"):
            channels = message.get(verb)
            if channels is None:
                continue
            if not isinstance(channels, list):
                await self._send({"error": f"{verb!r} must be a list of channels"})
                continue
            bad = [c for c in channels if not valid_channel(c)]
            if bad:
                await self._send({"error": f"unknown channel(s) {bad}", "channels": bad})
                continue
            if verb == "subscribe":
                await self._subscribe(channels)
            else:
                await self._unsubscribe(channels)

    async def _subscribe(self, channels: list[str]) -> None:
        assert self._group is not None
        new = [c for c in dict.fromkeys(channels) if c not in self.forwarders]
        if len(self.forwarders) + len(new) > MAX_CHANNELS:
            await self._send({"error": f"at most {MAX_CHANNELS} channels per connection"})
            return
        for channel in new:
            registered, finished, scope = anyio.Event(), anyio.Event(), anyio.CancelScope()
            self.forwarders[channel] = (scope, finished)
            self._group.start_soon(self._forward, channel, scope, registered, finished)
            await registered.wait()
        await self._send({"subscribed": channels})

    async def _unsubscribe(self, channels: list[str]) -> None:
        for channel in channels:
            forwarder = self.forwarders.pop(channel, None)
            if forwarder is not None:
                scope, finished = forwarder
                scope.cancel()
                await finished.wait()
        await self._send({"unsubscribed": channels})

    async def _forward(
        self,
        channel: str,
        scope: anyio.CancelScope,
        registered: anyio.Event,
        finished: anyio.Event,
    ) -> None:
        try:
            with scope:
                async with self.broker.subscribe(channel) as subscription:
                    registered.set()
                    async for message in subscription:
                        await self._send({"channel": channel, "data": message})
        except SlowConsumerError:
            self.ending = "slow consumer: fell behind"
            self._stop()
        except SubscriptionLostError:
            self.ending = "broker connection lost: subscribe again"
            self._stop()
        finally:
            registered.set()
            finished.set()

    async def _send(self, message: dict[str, Any]) -> None:
        async with self.send_lock:
            await self.websocket.send_text(orjson.dumps(message).decode())
