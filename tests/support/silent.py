"""Databases that hang: a TCP server that accepts connections and never answers, and a
relay to a real server that falls silent on demand (`freezable_proxy`).

    async with silent_server() as silent:
        url = f"postgresql://omc:secret@127.0.0.1:{silent.port}/omc"
        ...                          # start what connects to it
        await silent.accepted.wait() # someone is now waiting for an answer

It reads nothing and writes nothing; every connection stays open until the block ends,
so the client sees neither an answer nor a closed socket, only silence.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass
class Silent:
    """Where the server listens, and an event set once a connection was accepted."""

    port: int
    accepted: asyncio.Event = field(default_factory=asyncio.Event)
    connections: list[asyncio.StreamWriter] = field(default_factory=list)


@asynccontextmanager
async def silent_server() -> AsyncIterator[Silent]:
    """Listen on 127.0.0.1 at a free port; accept and hold every connection."""
    holder: list[Silent] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        holder[0].connections.append(writer)
        holder[0].accepted.set()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    holder.append(Silent(port=server.sockets[0].getsockname()[1]))
    try:
        yield holder[0]
    finally:
        for writer in holder[0].connections:
            writer.close()
        server.close()
        await server.wait_closed()


@dataclass
class Proxy:
    """A TCP relay to a real server that can fall silent (`freeze()`), as a database does
    when it hangs in the middle of a session."""

    port: int
    flowing: asyncio.Event = field(default_factory=asyncio.Event)

    def freeze(self) -> None:
        """From now on, nothing more is relayed in either direction; sockets stay open."""
        self.flowing.clear()


@asynccontextmanager
async def freezable_proxy(host: str, port: int) -> AsyncIterator[Proxy]:
    """Relay 127.0.0.1:<free port> to `host:port` until frozen or the block ends."""
    holder: list[Proxy] = []
    writers: list[asyncio.StreamWriter] = []

    async def relay(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        while data := await source.read(65_536):
            await holder[0].flowing.wait()
            sink.write(data)
            await sink.drain()

    async def connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
        writers.extend((writer, upstream_writer))
        with contextlib.suppress(ConnectionError):
            await asyncio.gather(relay(reader, upstream_writer), relay(upstream_reader, writer))

    server = await asyncio.start_server(connect, "127.0.0.1", 0)
    holder.append(Proxy(port=server.sockets[0].getsockname()[1]))
    holder[0].flowing.set()
    try:
        yield holder[0]
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()
