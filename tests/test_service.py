"""`omc run --demo` as a user starts it: data flows within a minute and the API serves
it, SIGTERM stops it cleanly, and `omc status` shows the collections fresh."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from ohmycoins.records import Candle, CollectorRun, OrderBook, Ticker, Trade
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import RECORD_TABLES

WANTED = (Candle, Ticker, OrderBook, Trade)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _counts(db: Database) -> dict[str, int]:
    with db.engine.connect() as conn:
        return {
            t.TABLE: conn.execute(select(func.count()).select_from(RECORD_TABLES[t])).scalar_one()
            for t in (*WANTED, CollectorRun)
        }


async def test_demo_collects_within_a_minute_and_stops_on_sigterm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/omc.db"
    env = {**os.environ, "OMC_DATABASE_URL": url, "OMC_LOG_LEVEL": "WARNING"}
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ohmycoins",
        "run",
        "--demo",
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    exited = asyncio.ensure_future(process.wait())
    deadline = time.monotonic() + 60
    db = Database(url)
    counts: dict[str, int] = {}
    while not exited.done() and time.monotonic() < deadline:
        await asyncio.wait({exited}, timeout=0.5)  # the database is the only signal we have
        try:
            counts = _counts(db)
        except OperationalError:  # the schema is not there yet
            continue
        if all(counts[t.TABLE] > 0 for t in WANTED):
            break
    assert not exited.done(), (await process.stderr.read()).decode()[-2000:]  # type: ignore[union-attr]
    assert all(counts.get(t.TABLE, 0) > 0 for t in WANTED), counts
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/api/v1") as api:
        ready = await api.get("/ready")
        candles = await api.get(
            "/candles",
            params={"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1m", "limit": 5},
        )
    assert ready.status_code == 200, ready.text
    assert candles.status_code == 200 and len(candles.json()["data"]) == 5
    stopping = time.monotonic()
    process.send_signal(signal.SIGTERM)
    await asyncio.wait_for(exited, 30)
    assert process.returncode == 0
    assert time.monotonic() - stopping < 30
    after = _counts(db)
    assert after["collector_runs"] >= 4
    db.dispose()
    status = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ohmycoins",
        "status",
        env={**env, "COLUMNS": "200"},
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await status.communicate()
    text = out.decode()
    assert status.returncode == 0
    assert "binance_candles_1m" in text and "ok" in text
