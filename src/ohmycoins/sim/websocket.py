"""Binance's spot websocket protocol on the simulator's port.

Endpoints, as on ``stream.binance.com``:

* ``/ws`` and ``/ws/<stream>[/<stream>...]``: raw frames (the payload alone);
* ``/stream?streams=<stream>/<stream>``: combined frames, ``{"stream": ..., "data": ...}``.

A client may then send ``{"method": "SUBSCRIBE" | "UNSUBSCRIBE", "params": [...],
"id": N}`` (answered ``{"result": null, "id": N}`` before any frame of a new stream),
``LIST_SUBSCRIPTIONS`` and ``SET_PROPERTY`` / ``GET_PROPERTY`` of ``combined``; errors
come back as ``{"code": ..., "msg": ..., "id": ...}`` with Binance's codes (0 unknown
property, 1 bad value type, 2 invalid request, 3 invalid JSON).  Names in a URL that
are not streams (ccxt connects to ``/ws/0``) are ignored.  The server pings every
``ws_ping_seconds``, closes a connection after ``ws_max_seconds`` or when the client
sends more than ``ws_incoming_limit`` messages in a second, and allows
``ws_max_streams`` streams per connection.

Each connection looks at the market clock every ``stream_poll_seconds`` and sends, in
event-time order, every frame its streams produced since (see ``streams``); the fault
plan's websocket rules apply to those frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from ohmycoins.sim.config import SimulatorConfig
from ohmycoins.sim.faults import FaultInjector, FaultKind
from ohmycoins.sim.market import MarketModel
from ohmycoins.sim.streams import STREAM_NAME, Frame, Stream, is_stream_name, open_stream

logger = logging.getLogger(__name__)

METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")


class WsError(Exception):
    """A control message Binance answers with ``{"code": ..., "msg": ...}``."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


class WsHub:
    """What every websocket connection of one simulator shares: the market, the fault
    plan, the open sockets and the counters."""

    def __init__(self, config: SimulatorConfig, model: MarketModel, faults: FaultInjector) -> None:
        self.config = config
        self.model = model
        self.faults = faults
        self.sockets: set[web.WebSocketResponse] = set()
        self.connections = 0
        self.frames: Counter[str] = Counter()

    def reset(self) -> None:
        self.connections = len(self.sockets)
        self.frames.clear()

    def stats(self) -> dict[str, Any]:
        return {
            "open": len(self.sockets),
            "connections": self.connections,
            "frames": sum(self.frames.values()),
            "frames_by_channel": dict(self.frames),
        }

    async def close_all(self) -> None:
        for socket in list(self.sockets):
            await socket.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


def _channel(name: str) -> str:
    match = STREAM_NAME.match(name)
    return match["channel"] if match else name


class Connection:
    """One client socket: its streams, its pump and its control messages."""

    def __init__(self, hub: WsHub, socket: web.WebSocketResponse, *, combined: bool) -> None:
        self.hub = hub
        self.socket = socket
        self.combined = combined
        self.streams: dict[str, Stream] = {}
        self._lock = asyncio.Lock()
        self._received: deque[float] = deque()
        self._pending: list[tuple[str, Frame]] = []
        self._held: str | None = None
        self._stalled_until = 0.0
        self._opened = time.monotonic()

    # ------------------------------------------------------------- lifecycle

    async def run(self, names: Sequence[str]) -> None:
        for name in dict.fromkeys(filter(is_stream_name, names)):
            if len(self.streams) < self.hub.config.ws_max_streams:
                self.streams[name] = open_stream(name, self.hub.model)
        pump = asyncio.create_task(self._pump())
        try:
            async for message in self.socket:
                if message.type is WSMsgType.TEXT:
                    await self._on_text(message.data)
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump

    async def _send(self, text: str) -> None:
        async with self._lock:
            await self.socket.send_str(text)

    async def _reply(self, payload: dict[str, Any]) -> None:
        await self._send(orjson.dumps(payload).decode())

    # --------------------------------------------------------------- control

    async def _on_text(self, text: str) -> None:
        logger.debug("websocket message %s", text[:200])
        now = time.monotonic()
        self._received.append(now)
        while self._received and self._received[0] <= now - 1.0:
            self._received.popleft()
        if len(self._received) > self.hub.config.ws_incoming_limit:
            await self.socket.close(code=WSCloseCode.POLICY_VIOLATION, message=b"Too many messages")
            return
        request_id: Any = None
        try:
            try:
                request = orjson.loads(text)
            except orjson.JSONDecodeError as error:
                raise WsError(3, f"Invalid JSON: {error}") from None
            if not isinstance(request, dict):
                raise WsError(3, "Invalid JSON: expected an object")
            request_id = request.get("id")
            if not _valid_id(request_id):
                request_id = None
                raise WsError(2, "Invalid request: request ID must be an unsigned integer")
            await self._dispatch(request, request_id)
        except WsError as error:
            await self._reply({"code": error.code, "msg": error.msg, "id": request_id})

    async def _dispatch(self, request: dict[str, Any], request_id: Any) -> None:
        method = request.get("method")
        if method not in METHODS:
            expected = ", ".join(METHODS)
            raise WsError(
                2, f"Invalid request: unknown variant {method}, expected one of {expected}"
            )
        params = request.get("params", [])
        if not isinstance(params, list):
            raise WsError(2, "Invalid request: params must be an array")
        if method == "SUBSCRIBE":
            await self._subscribe(params, request_id)
        elif method == "UNSUBSCRIBE":
            for name in params:
                if isinstance(name, str):
                    self.streams.pop(name, None)
            await self._reply({"result": None, "id": request_id})
        elif method == "LIST_SUBSCRIPTIONS":
            await self._reply({"result": list(self.streams), "id": request_id})
        elif method == "SET_PROPERTY":
            self._set_property(params)
            await self._reply({"result": None, "id": request_id})
        else:
            _check_property(params)
            await self._reply({"result": self.combined, "id": request_id})

    async def _subscribe(self, params: list[Any], request_id: Any) -> None:
        names = [name for name in params if isinstance(name, str)]
        bad = [name for name in params if not isinstance(name, str) or not is_stream_name(name)]
        if bad:
            raise WsError(2, f"Invalid request: invalid stream name {bad[0]!r}")
        fresh = [name for name in dict.fromkeys(names) if name not in self.streams]
        if len(self.streams) + len(fresh) > self.hub.config.ws_max_streams:
            raise WsError(2, "Invalid request: too many streams on one connection")
        await self._reply({"result": None, "id": request_id})
        for name in fresh:  # after the reply: no frame of a stream before its answer
            self.streams[name] = open_stream(name, self.hub.model)

    def _set_property(self, params: list[Any]) -> None:
        _check_property(params)
        if len(params) < 2 or not isinstance(params[1], bool):
            raise WsError(1, "Invalid value type: expected Boolean")
        self.combined = params[1]

    # ------------------------------------------------------------------ pump

    async def _pump(self) -> None:
        """Send what the streams produced; a bug in one closes the socket, loudly."""
        try:
            await self._pump_forever()
        except ConnectionResetError:
            return  # the client went away
        except Exception:
            logger.exception("websocket streams failed; closing the connection")
            await self.socket.close(code=WSCloseCode.INTERNAL_ERROR, message=b"internal error")

    async def _pump_forever(self) -> None:
        config = self.hub.config
        while not self.socket.closed:
            await asyncio.sleep(config.stream_poll_seconds)
            if time.monotonic() - self._opened >= config.ws_max_seconds:
                await self.socket.close(code=WSCloseCode.GOING_AWAY, message=b"24h limit")
                return
            if time.monotonic() < self._stalled_until:
                continue
            batch, self._pending = self._pending, []
            now = self.hub.model.now()
            fresh: list[tuple[str, Frame]] = []
            for name, stream in list(self.streams.items()):
                fresh.extend((name, frame) for frame in stream.frames(now))
            fresh.sort(key=lambda item: item[1][0])
            await self._send_batch(batch + fresh)

    def _encode(self, name: str, payload: dict[str, Any]) -> str:
        body = {"stream": name, "data": payload} if self.combined else payload
        return orjson.dumps(body).decode()

    async def _send_batch(self, batch: list[tuple[str, Frame]]) -> None:
        faults = self.hub.faults
        check = faults.has_ws_rules
        for i, (name, frame) in enumerate(batch):
            text = self._encode(name, frame[1])
            rule = faults.pick(name, ws=True) if check else None
            kind = rule.kind if rule is not None else None
            if kind is FaultKind.STALL:
                assert rule is not None
                self._stalled_until = time.monotonic() + rule.seconds
                self._pending = batch[i:]  # sent, in order, once the stall is over
                return
            if kind is FaultKind.DISCONNECT:
                await self.socket.close(code=WSCloseCode.GOING_AWAY, message=b"disconnected")
                return
            if kind is FaultKind.DROP_FRAME:
                continue
            if kind is FaultKind.REORDER_FRAMES and self._held is None:
                self._held = text  # goes out right after the next frame
                self.hub.frames[_channel(name)] += 1
                continue
            if kind is FaultKind.GARBAGE_FRAME:
                assert rule is not None
                garbage = faults.break_body(rule, text.encode())
                await self._send(garbage.decode(errors="replace"))
            if kind is FaultKind.BURST:
                assert rule is not None
                self._burst(name, rule.seconds)
            await self._deliver(name, text)
            if kind is FaultKind.DUPLICATE_FRAME:
                await self._deliver(name, text)

    def _burst(self, name: str, seconds: float) -> None:
        """The book of the stream's symbol changes ten times as often for a while."""
        match = STREAM_NAME.match(name)
        symbol = match["symbol"].upper() if match else ""
        if symbol in self.hub.model.symbols:
            self.hub.model.book(symbol).burst(seconds)

    async def _deliver(self, name: str, text: str) -> None:
        await self._send(text)
        self.hub.frames[_channel(name)] += 1
        if self._held is not None:
            held, self._held = self._held, None
            await self._send(held)


def _valid_id(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    return isinstance(value, str) and len(value) <= 64


def _check_property(params: list[Any]) -> None:
    """The only property there is: ``combined``."""
    if not params or not isinstance(params[0], str):
        raise WsError(2, "Invalid request: property name must be a string")
    if params[0] != "combined":
        raise WsError(0, "Unknown property")


def _names(request: web.Request) -> tuple[list[str], bool]:
    """Streams named in the URL and whether frames are combined."""
    if request.path.startswith("/stream"):
        raw = request.query.get("streams", "")
        return [name for name in raw.split("/") if name], True
    tail = request.match_info.get("streams", "")
    return [name for name in tail.split("/") if name], False


def routes(hub_of: Callable[[web.Request], WsHub]) -> list[web.RouteDef]:
    """``/ws``, ``/ws/<streams>`` and ``/stream`` served with the hub ``hub_of`` finds."""

    async def handle(request: web.Request) -> web.StreamResponse:
        hub = hub_of(request)
        socket = web.WebSocketResponse(heartbeat=hub.config.ws_ping_seconds)
        await socket.prepare(request)
        names, combined = _names(request)
        hub.sockets.add(socket)
        hub.connections += 1
        try:
            await Connection(hub, socket, combined=combined).run(names)
        finally:
            hub.sockets.discard(socket)
        return socket

    return [
        web.get("/ws", handle, allow_head=False),
        web.get("/ws/{streams:.*}", handle, allow_head=False),
        web.get("/stream", handle, allow_head=False),
    ]
