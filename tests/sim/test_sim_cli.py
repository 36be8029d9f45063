"""``omc sim`` serves Binance's websocket on its REST port."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import aiohttp
import orjson
import pytest

from tests.support.cli import closed_port


@pytest.fixture
def omc_sim() -> Iterator[str]:
    port = closed_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "ohmycoins", "sim", "--port", str(port), "--stream-rate", "50"],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    banner = process.stdout.readline().decode()
    assert f"ws://127.0.0.1:{port}/ws" in banner, banner
    try:
        yield f"127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


async def connect(session: aiohttp.ClientSession, url: str) -> aiohttp.ClientWebSocketResponse:
    """The banner is printed just before the server binds: retry refused connections."""
    for _ in range(200):
        try:
            return await session.ws_connect(url)
        except aiohttp.ClientConnectorError:
            await asyncio.sleep(0.05)
    raise AssertionError(f"nothing listens at {url}")


async def test_omc_sim_streams_the_trades_rest_serves(omc_sim: str) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await connect(session, f"ws://{omc_sim}/stream?streams=btcusdt@trade")
        frame = orjson.loads((await ws.receive()).data)
        await ws.close()
        assert frame["stream"] == "btcusdt@trade"
        trade = frame["data"]
        url = f"http://{omc_sim}/api/v3/historicalTrades?symbol=BTCUSDT&fromId={trade['t']}&limit=1"
        async with session.get(url) as response:
            (rest,) = await response.json()
    assert (rest["id"], rest["price"], rest["qty"], rest["time"]) == (
        trade["t"],
        trade["p"],
        trade["q"],
        trade["T"],
    )
