from __future__ import annotations

import asyncio

import httpx

import ohmycoins.api
from ohmycoins.api import api_server, create_app
from ohmycoins.settings import Settings
from ohmycoins.storage.database import Database


def test_public_api_is_pinned() -> None:
    assert ohmycoins.api.__all__ == ["api_server", "create_app"]


async def test_served_by_uvicorn(sqlite_db: Database, unused_tcp_port: int) -> None:
    app = create_app(Settings(database_url=sqlite_db.url), db=sqlite_db)
    server = api_server(app, port=unused_tcp_port)
    serving = asyncio.create_task(server.serve())
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{unused_tcp_port}") as http:
            for _ in range(100):
                if server.started:
                    break
                await asyncio.sleep(0.02)
            response = await http.get("/api/v1/ready")
        assert response.json()["status"] == "ready"
    finally:
        server.should_exit = True
        await serving
