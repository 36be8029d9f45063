"""Talking to the simulator's websocket in tests: control calls and expected frames."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from ohmycoins.sim import SimulatorHandle
from ohmycoins.sim.streams import Stream, open_stream

Json = dict[str, Any]


async def receive(ws: aiohttp.ClientWebSocketResponse) -> Any:
    message = await ws.receive()
    assert message.type is aiohttp.WSMsgType.TEXT, message
    return orjson.loads(message.data)


async def call(ws: aiohttp.ClientWebSocketResponse, method: str, *params: Any, id: Any = 1) -> Json:
    await ws.send_str(orjson.dumps({"method": method, "params": list(params), "id": id}).decode())
    reply: Json = await receive(ws)
    return reply


async def subscribe(
    ws: aiohttp.ClientWebSocketResponse, live: SimulatorHandle, *names: str
) -> list[Stream]:
    """Subscribe and return in-process twins of the new streams."""
    assert await call(ws, "SUBSCRIBE", *names, id=7) == {"result": None, "id": 7}
    return [open_stream(name, live.model) for name in names]


def expected(twins: list[Stream], until: int, *, combined: bool = False) -> list[Any]:
    frames = [(frame, twin.name) for twin in twins for frame in twin.frames(until)]
    frames.sort(key=lambda item: item[0][0])
    if combined:
        return [{"stream": name, "data": frame[1]} for frame, name in frames]
    return [frame[1] for frame, _ in frames]
