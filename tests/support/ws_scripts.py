"""Scripted websocket replies shared by the local exchange stubs (`binance_ws`,
`venue_ws`): each subscribe message is answered, then the frames scripted for each
stream it asked for are played, the n-th subscription of a stream its n-th script.

A script step is a frame (sent as JSON; a `Decimal` is written as a number with its
exact text), `CLOSE` (the server closes the socket), `STALL` (it stays silent while the
socket lives), raw text (`Garbage("...")`), or whatever the stub's `hold` handles.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import WSMsgType, web

CLOSE = "close"
STALL = "stall"

Subscribed = Callable[[Mapping[str, Any]], tuple[list[Any], list[str]]]
"""A decoded client message → the frames answering it, and the stream keys it asked."""
Hold = Callable[[Any], Awaitable[bool]]
"""Waits out a step that is not a frame (and says so), or says it is a frame."""


@dataclass(frozen=True)
class Garbage:
    """A text frame that is not JSON."""

    text: str


@dataclass
class Subscriptions:
    """What a stub's socket saw: subscriptions per stream key, messages, connections."""

    subscribed: Counter[str] = field(default_factory=Counter)
    asked: list[Mapping[str, Any]] = field(default_factory=list)
    connections: int = 0


def dumps(value: Any) -> str:
    """JSON text in which a `Decimal` is a number written exactly as it is."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(k)}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


async def play(ws: web.WebSocketResponse, steps: Sequence[Any], hold: Hold | None) -> None:
    for step in steps:
        if step == CLOSE:
            await ws.close()
            return
        if step == STALL:
            return
        if hold is not None and await hold(step):
            continue
        await ws.send_str(step.text if isinstance(step, Garbage) else dumps(step))


def scripted_socket(
    seen: Subscriptions,
    subscribed: Subscribed,
    scripts: Mapping[str, Sequence[Sequence[Any]]],
    hold: Hold | None = None,
) -> Callable[[web.Request], Awaitable[web.WebSocketResponse]]:
    """An aiohttp websocket handler answering subscriptions with `scripts`."""

    async def websocket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        seen.connections += 1
        players: list[asyncio.Task[None]] = []
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                asked = json.loads(message.data)
                seen.asked.append(asked)
                answers, keys = subscribed(asked)
                for answer in answers:
                    await ws.send_str(dumps(answer))
                for key in keys:
                    seen.subscribed[key] += 1
                    runs = scripts.get(key, [])
                    if seen.subscribed[key] <= len(runs):
                        run = runs[seen.subscribed[key] - 1]
                        players.append(asyncio.create_task(play(ws, run, hold)))
        finally:
            for player in players:
                player.cancel()
        return ws

    return websocket
