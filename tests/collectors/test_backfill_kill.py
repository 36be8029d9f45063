"""`omc backfill` killed with SIGKILL at random points, then run again, still stores
exactly the simulator's ground truth: no gap, no duplicate, every value equal."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from pathlib import Path

from ohmycoins.records import Candle
from ohmycoins.sim import SimulatorHandle, running_simulator
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import read_records

from .conftest import MINUTE, SYMBOLS, sim_config, truth

SINCE = 1_759_104_000_000 + 14 * 86_400_000  # 2025-10-13T00:00:00Z
UNTIL = SINCE + 12 * 86_400_000
NOW = UNTIL + 10 * MINUTE


def _command(since: int, until: int) -> list[str]:
    symbols = [arg for symbol in SYMBOLS for arg in ("--symbol", symbol)]
    return [
        sys.executable,
        "-m",
        "ohmycoins",
        "backfill",
        "--exchange",
        "binance",
        *symbols,
        "--timeframe",
        "1m",
        "--since",
        str(since),
        "--until",
        str(until),
    ]


async def _run(
    command: list[str], env: dict[str, str], sim: SimulatorHandle, kill_after: int | None
) -> int:
    process = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    if kill_after is not None:
        await _kill_after_requests(process, sim, kill_after)
    _, stderr = await process.communicate()
    assert process.returncode in (0, -signal.SIGKILL), stderr.decode()[-2000:]
    return process.returncode


async def _kill_after_requests(
    process: asyncio.subprocess.Process, sim: SimulatorHandle, requests: int
) -> None:
    """SIGKILL the process once the simulator has served it `requests` more klines pages."""
    served = lambda: sim.stats.requests_by_path.get("/api/v3/klines", 0)  # noqa: E731
    target = served() + requests
    exited = asyncio.ensure_future(process.wait())
    while not exited.done() and served() < target:
        await asyncio.wait({exited}, timeout=0.005)
    if not exited.done():
        process.send_signal(signal.SIGKILL)
    await exited


async def test_killed_backfill_resumes_to_ground_truth(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path}/omc.db"
    rng = random.Random(20251013)
    async with running_simulator(sim_config(latency_ms=15, now_ms=lambda: NOW)) as sim:
        env = {
            **os.environ,
            "OMC_BINANCE_URL": sim.base_url,
            "OMC_DATABASE_URL": database_url,
            "OMC_LOG_LEVEL": "WARNING",
        }
        killed = 0
        for _ in range(4):
            if await _run(_command(SINCE, UNTIL), env, sim, kill_after=rng.randint(2, 25)) != 0:
                killed += 1
        assert await _run(_command(SINCE, UNTIL), env, sim, kill_after=None) == 0
        assert killed >= 2, "the backfill finished before it could be killed: slow the simulator"
        db = Database(database_url)
        for symbol in SYMBOLS:
            assert read_records(db, Candle, symbol=symbol) == truth(sim, symbol, "1m", SINCE, UNTIL)
        db.dispose()
