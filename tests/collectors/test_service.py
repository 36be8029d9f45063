"""`omc run --demo` as a user starts it: data flows within a minute into its own
database as the exchange `sim`, the API serves it, SIGTERM stops it cleanly, and
`omc status` shows the collections fresh. A database that never answers ends `omc
status` and `omc run` with one line, and a signal stops `omc run` while it waits."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, insert, make_url, select
from sqlalchemy.exc import OperationalError

from ohmycoins.collectors.service import demo_settings
from ohmycoins.errors import ConfigError
from ohmycoins.records import Candle, CollectorRun, OrderBook, Ticker, Trade
from ohmycoins.scheduling.registry import Collector, Registry, RunContext, RunOutcome
from ohmycoins.scheduling.schedule import Schedule
from ohmycoins.scheduling.tasks import sync_tasks
from ohmycoins.settings import Settings
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import RECORD_TABLES, source_circuits
from ohmycoins.timeframes import now_ms
from tests.support.silent import freezable_proxy, silent_server

WANTED = (Candle, Ticker, OrderBook, Trade)
DEMO_COLLECTORS = [
    "sim_candles_1h",
    "sim_candles_1m",
    "sim_orderbooks",
    "sim_stream",
    "sim_tickers",
    "sim_trades",
    # one feature job per candle series
    *(f"features_sim_{base}-USDT_{tf}" for base in ("BTC", "ETH", "SOL") for tf in ("1h", "1m")),
]
BOUND = 60  # seconds: a bounded wait, so that a regression fails instead of hanging


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


async def _nothing(_context: RunContext) -> RunOutcome:
    return RunOutcome()


def _left_by_a_real_run(url: str) -> None:
    """What an offline `omc run` leaves in a database: Binance's tasks and its circuit
    open (every call failed)."""
    db = Database(url)
    db.upgrade()
    binance = Collector("binance_candles_1m", "exchange", "binance", Schedule.every(60), _nothing)
    sync_tasks(db, Registry([binance]), now_ms())
    with db.engine.begin() as conn:
        conn.execute(
            insert(source_circuits).values(
                source="binance",
                state="open",
                consecutive_failures=5,
                opened_ts=now_ms(),
                updated_ts=now_ms(),
            )
        )
    db.dispose()


async def _omc(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ohmycoins",
        *args,
        env={"COLUMNS": "80", **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_demo_collects_within_a_minute_and_stops_on_sigterm(tmp_path: Path) -> None:
    """The demo writes into its own database, never OMC_DATABASE_URL's, as the exchange
    `sim`. Even in a database a real run left with Binance's circuit open it collects at
    once (its circuit is its own), and the API lists only the collectors it runs."""
    url = f"sqlite:///{tmp_path}/demo.db"
    real = tmp_path / "real.db"
    _left_by_a_real_run(url)
    env = {
        **os.environ,
        "OMC_DATABASE_URL": f"sqlite:///{real}",
        "OMC_DEMO_DATABASE_URL": url,
        "OMC_LOG_LEVEL": "WARNING",
    }
    port = _free_port()
    process = await _omc("run", "--demo", "--port", str(port), env=env)
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
    series = {"symbol": "BTC/USDT", "timeframe": "1m", "limit": 5}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/api/v1") as api:
        ready = await api.get("/ready")
        health = (await api.get("/health")).json()
        candles = await api.get("/candles", params={"exchange": "sim", **series})
        as_binance = await api.get("/candles", params={"exchange": "binance", **series})
        tickers = (await api.get("/tickers/latest")).json()
        collectors = (await api.get("/collectors")).json()
        circuits = {c["name"]: c["circuit_state"] for c in collectors}
    assert ready.status_code == 200, ready.text
    assert health == {"status": "ok", "demo": True}
    assert candles.status_code == 200 and len(candles.json()["data"]) == 5
    assert as_binance.status_code == 200 and as_binance.json()["data"] == []
    assert {t["exchange"] for t in tickers} == {"sim"}
    assert circuits == dict.fromkeys(DEMO_COLLECTORS, "closed")
    stopping = time.monotonic()
    process.send_signal(signal.SIGTERM)
    await asyncio.wait_for(exited, 30)
    assert process.returncode == 0
    assert time.monotonic() - stopping < 30
    after = _counts(db)
    assert after["collector_runs"] >= 4
    db.dispose()
    assert not real.exists()
    status = await _omc("status", env={**env, "OMC_DATABASE_URL": url, "COLUMNS": "200"})
    out, _ = await status.communicate()
    text = out.decode()
    assert status.returncode == 0
    assert "sim_candles_1m" in text and "ok" in text


def test_the_demo_refuses_the_database_of_real_data() -> None:
    same = Settings(database_url="sqlite:///./data/x.db", demo_database_url="sqlite:///data/x.db")
    with pytest.raises(ConfigError) as refused:
        demo_settings(same)
    assert refused.value.setting == "OMC_DEMO_DATABASE_URL"
    assert "the demo needs its own" in str(refused.value)
    overrides = {"binance_candles_1m": {"interval_seconds": 30}, "sim_trades": {"enabled": False}}
    own = demo_settings(Settings(database_url="postgresql://db/omc", collectors=overrides))
    assert own.database_url == own.demo_database_url == "sqlite:///./data/demo.db"
    assert set(own.collectors) == {"sim_trades"}  # the real collectors' tables are not its


async def test_a_database_that_never_answers_ends_status_and_run_with_one_line() -> None:
    async with silent_server() as silent:
        env = {
            **os.environ,
            "OMC_DATABASE_URL": f"postgresql://omc:s3cret@127.0.0.1:{silent.port}/omc",
            "OMC_DATABASE_CONNECT_TIMEOUT": "2",
            "OMC_LOG_LEVEL": "WARNING",
        }
        for command in (["status"], ["run", "--port", str(_free_port())]):
            process = await _omc(*command, env=env)
            out, err = await asyncio.wait_for(process.communicate(), BOUND)
            assert process.returncode == 1, (out + err).decode()
            assert err.decode().splitlines() == [
                f"error: database postgresql://omc:***@127.0.0.1:{silent.port}/omc does not "
                "answer: no connection within 2 s (OMC_DATABASE_CONNECT_TIMEOUT)"
            ]
            assert len(out.decode().splitlines()) == (0 if command == ["status"] else 1)
            assert b"Traceback" not in err and b"s3cret" not in out + err
        assert silent.accepted.is_set()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_run_stops_on_a_signal_while_the_database_never_answers(signum: int) -> None:
    """`omc run` waits on a database that accepted its connection and says nothing (its
    connect timeout is far away): the signal stops it at once, cleanly."""
    async with silent_server() as silent:
        env = {
            **os.environ,
            "OMC_DATABASE_URL": f"postgresql://omc@127.0.0.1:{silent.port}/omc",
            "OMC_DATABASE_CONNECT_TIMEOUT": "600",
        }
        process = await _omc("run", "--port", str(_free_port()), env=env)
        await asyncio.wait_for(silent.accepted.wait(), BOUND)
        process.send_signal(signum)
        out, err = await asyncio.wait_for(process.communicate(), BOUND)
    assert process.returncode == 0, (out + err).decode()
    assert out.decode().splitlines()[-1] == "stopped"
    assert b"stopped while waiting for the database" in err


async def _logged(process: asyncio.subprocess.Process, words: str) -> None:
    """Wait until the process logs a line containing `words`."""
    assert process.stderr is not None
    while line := await process.stderr.readline():
        if words.encode() in line:
            return
    raise AssertionError(f"the process ended without logging {words!r}")


async def test_a_second_signal_exits_while_the_stop_waits_on_a_silent_database(
    postgres_url: str, tmp_path: Path
) -> None:
    """The database falls silent in the middle of `omc run`: the stop the first SIGTERM
    starts waits on it (the leases are released in the database), the second exits."""
    target = make_url(postgres_url)
    async with freezable_proxy(target.host or "127.0.0.1", target.port or 5432) as proxy:
        proxied = target.set(host="127.0.0.1", port=proxy.port)
        env = {
            **os.environ,
            "OMC_DATABASE_URL": f"sqlite:///{tmp_path}/real.db",
            "OMC_DEMO_DATABASE_URL": proxied.render_as_string(hide_password=False),
            "OMC_DATABASE_CONNECT_TIMEOUT": "600",
            "OMC_LOG_LEVEL": "INFO",
        }
        process = await _omc("run", "--demo", "--port", str(_free_port()), env=env)
        await asyncio.wait_for(_logged(process, "schedule:"), BOUND)
        proxy.freeze()
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(_logged(process, "stopping: finishing runs in flight"), BOUND)
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(_logged(process, "second SIGTERM: exiting"), BOUND)
        await asyncio.wait_for(process.wait(), BOUND)
    assert process.returncode == 1


HELD_LOOP = """
import asyncio, threading
from ohmycoins.collectors.service import _stop_on_signals

async def main():
    with _stop_on_signals(asyncio.Event(), 1.0):
        print("holding the loop", flush=True)
        threading.Event().wait()  # a call that never returns, on the loop's thread

asyncio.run(main())
"""


async def test_a_stop_that_does_not_finish_exits_after_its_grace() -> None:
    """The signal is heard although a blocking call holds the event loop, and the process
    still alive when the grace (here 1 s) is over exits, saying why."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HELD_LOOP,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    assert await asyncio.wait_for(process.stdout.readline(), BOUND) == b"holding the loop\n"
    process.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(process.communicate(), BOUND)
    assert process.returncode == 1
    assert b"not stopped 1 s after SIGTERM: a call does not return" in err
