"""A tiny local HTTP server that replays recorded or hand-written answers.

Point a source's URL setting at it and the source's real fetch path (HttpSource,
httpx, the network stack) runs unchanged:

    async with replay_server({
        "/coins/markets?page=1": Reply.file(path),           # bytes of a recording
        "/coins/markets?page=2": [],                         # a JSON body, status 200
        "/simple/price": Reply({"error": "x"}, status=422),  # status and headers
        "/ping": [Reply(status=429, headers={"Retry-After": "3"}), Reply("ok")],
    }) as url:
        ...                      # url is "http://127.0.0.1:<port>"
        url.count("/ping")       # requests that reached /ping
        url.requests[-1].query   # what the last request asked for

Routes map a path, optionally with `?name=value&...`, to an answer. A route with a
query matches only requests carrying those parameters with those values (others may
be present); the route naming the most parameters wins. An answer is a `Reply`, a
list of `Reply` served in turn (the last one repeats), or a bare body. Bodies are
bytes (served as they are), str (UTF-8) or anything else (encoded as JSON). An
unrouted request gets a 404 with a JSON `error` naming it.

The server binds 127.0.0.1 on a free port and stops when the block ends.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web


@dataclass(frozen=True)
class Reply:
    """One answer: body, status, extra headers and content type."""

    body: Any = b""
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    @classmethod
    def file(cls, path: Path, **options: Any) -> Reply:
        """The exact bytes of a file, read now."""
        return cls(path.read_bytes(), **options)

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body, default=str).encode()


@dataclass(frozen=True)
class SeenRequest:
    """A request the server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""


class ReplayUrl(str):
    """The server's base URL (a plain `str` to every consumer) that also records requests."""

    requests: list[SeenRequest]

    def count(self, path: str | None = None) -> int:
        """Requests received in all, or for one path."""
        return sum(1 for seen in self.requests if path is None or seen.path == path)


@dataclass
class _Route:
    path: str
    query: dict[str, str]
    replies: list[Reply]
    served: int = 0

    def matches(self, path: str, query: Mapping[str, str]) -> bool:
        return path == self.path and all(query.get(k) == v for k, v in self.query.items())

    def next_reply(self) -> Reply:
        reply = self.replies[min(self.served, len(self.replies) - 1)]
        self.served += 1
        return reply


def _route(key: str, answer: Any) -> _Route:
    parts = urlsplit(key)
    if isinstance(answer, list) and answer and all(isinstance(a, Reply) for a in answer):
        replies = list(answer)
    else:
        replies = [answer if isinstance(answer, Reply) else Reply(answer)]
    return _Route(parts.path, dict(parse_qsl(parts.query)), replies)


@asynccontextmanager
async def replay_server(routes: Mapping[str, Any]) -> AsyncIterator[ReplayUrl]:
    """Serve `routes` on 127.0.0.1 for the duration of the block; yields the base URL."""
    table = sorted((_route(k, v) for k, v in routes.items()), key=lambda r: -len(r.query))
    seen: list[SeenRequest] = []

    async def handle(request: web.Request) -> web.Response:
        query = dict(request.query)
        body = await request.read()
        seen.append(SeenRequest(request.method, request.path, query, dict(request.headers), body))
        route = next((r for r in table if r.matches(request.path, query)), None)
        if route is None:
            return web.json_response(
                {"error": f"no reply for {request.method} {request.path_qs}"}, status=404
            )
        reply = route.next_reply()
        headers = {"Content-Type": reply.content_type, **reply.headers}
        return web.Response(body=reply.encoded(), status=reply.status, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    async with serving(app) as base:
        url = ReplayUrl(base)
        url.requests = seen
        yield url


@asynccontextmanager
async def serving(app: web.Application, *, shutdown_timeout: float = 1.0) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1, a free port, for the duration of the block; yields the
    base URL, `http://127.0.0.1:<port>`."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        await runner.cleanup()
