"""A TCP server that accepts connections and never answers: a database that hangs.

    async with silent_server() as silent:
        url = f"postgresql://omc:secret@127.0.0.1:{silent.port}/omc"
        ...                          # start what connects to it
        await silent.accepted.wait() # someone is now waiting for an answer

It reads nothing and writes nothing; every connection stays open until the block ends,
so the client sees neither an answer nor a closed socket, only silence.
"""

from __future__ import annotations

import asyncio
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
