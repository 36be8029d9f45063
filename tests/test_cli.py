"""The `omc` commands a user types, run in-process against a simulator in a thread."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ohmycoins.api import create_app
from ohmycoins.cli import app
from ohmycoins.settings import Settings
from tests.collectors.conftest import HOLE, MINUTE, sim_config
from tests.conftest import sqlite_url
from tests.support.threaded import simulator_thread


@pytest.fixture
def sim_url() -> Iterator[str]:
    """A simulator served from its own thread and event loop, for blocking callers."""
    with simulator_thread(sim_config()) as handle:
        yield handle.base_url


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and "ohmycoins 0.1.0" in result.output


def test_bad_setting_stops_with_its_name(monkeypatch) -> None:
    monkeypatch.setenv("OMC_DATABASE_URL", "oracle://nope")
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 2
    assert "OMC_DATABASE_URL" in result.output and "oracle://nope" in result.output


def test_backfill_then_gaps_and_status(tmp_path, monkeypatch, sim_url: str) -> None:
    monkeypatch.setenv("OMC_DATABASE_URL", sqlite_url(tmp_path))
    monkeypatch.setenv("OMC_BINANCE_URL", sim_url)
    since, until = HOLE[0] - 600 * MINUTE, HOLE[1] + 600 * MINUTE
    runner = CliRunner()
    args = ["backfill", "--exchange", "binance", "--symbol", "BTC/USDT", "--symbol", "ETH/USDT"]
    result = runner.invoke(app, [*args, "--since", str(since), "--until", str(until)])
    assert result.exit_code == 0, result.output
    assert "binance:BTC/USDT:1m" in result.output and "missing" in result.output
    gaps = runner.invoke(app, ["quality", "gaps", "--symbol", "BTC/USDT"])
    assert gaps.exit_code == 0 and "BTC/USDT" in gaps.output and "30" in gaps.output
    status = runner.invoke(app, ["status"])
    assert status.exit_code == 0 and "candles" in status.output


def test_backfill_refuses_bad_input(tmp_path, monkeypatch, sim_url: str) -> None:
    monkeypatch.setenv("OMC_DATABASE_URL", sqlite_url(tmp_path))
    monkeypatch.setenv("OMC_BINANCE_URL", sim_url)
    runner = CliRunner()
    bad_time = runner.invoke(
        app, ["backfill", "--exchange", "binance", "--symbol", "BTC/USDT", "--since", "soon"]
    )
    assert bad_time.exit_code == 2 and "soon" in bad_time.output
    bad_exchange = runner.invoke(
        app, ["backfill", "--exchange", "nope", "--symbol", "BTC/USDT", "--since", "0"]
    )
    assert bad_exchange.exit_code == 1 and "nope" in bad_exchange.output
    bad_timeframe = runner.invoke(
        app,
        [
            "backfill",
            "--exchange",
            "binance",
            "--symbol",
            "BTC/USDT",
            "--since",
            "0",
            "--timeframe",
            "7m",
        ],
    )
    assert bad_timeframe.exit_code == 1 and "7m" in bad_timeframe.output


def test_apikey_create_shows_the_key_once(tmp_path, monkeypatch) -> None:
    from ohmycoins.api.keys import verify_key
    from ohmycoins.storage.database import Database

    monkeypatch.setenv("OMC_DATABASE_URL", sqlite_url(tmp_path))
    result = CliRunner().invoke(app, ["apikey", "create", "--scope", "admin", "--name", "ops"])
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("omc_")
    db = Database(sqlite_url(tmp_path))
    assert verify_key(db, key) is not None
    with db.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT key_hash FROM api_keys").scalars().all()
    assert key not in str(stored)
    bad = CliRunner().invoke(app, ["apikey", "create", "--scope", "root"])
    assert bad.exit_code == 2 and "root" in bad.output


def test_the_command_line_loads_without_the_heavy_stacks() -> None:
    """FastAPI, ccxt and the collectors load only in the commands that run them, so
    `omc --help` and the database commands start quickly."""
    probe = (
        "import sys, ohmycoins.cli; "
        "print(sorted(m for m in ('fastapi', 'ccxt', 'ohmycoins.collectors', 'ohmycoins.api.app') "
        "if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"


def test_the_demo_refuses_to_write_into_the_database_of_real_data(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("OMC_DATABASE_URL", sqlite_url(tmp_path))
    monkeypatch.setenv("OMC_DEMO_DATABASE_URL", f"sqlite:///{tmp_path}/../{tmp_path.name}/omc.db")
    result = CliRunner().invoke(app, ["run", "--demo", "--port", "0"])
    assert result.exit_code == 1, result.output
    assert "OMC_DEMO_DATABASE_URL" in result.output and "the demo needs its own" in result.output
    assert not (tmp_path / "omc.db").exists()


def test_omc_end_to_end_on_mysql(mysql_url: str, monkeypatch, sim_url: str, tmp_path) -> None:
    """What a MySQL or MariaDB user does: migrate, backfill from the exchange, export,
    and read the same candles from the API."""
    monkeypatch.setenv("OMC_DATABASE_URL", mysql_url)
    monkeypatch.setenv("OMC_BINANCE_URL", sim_url)
    runner = CliRunner()
    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0 and "applied 0001" in upgraded.output, upgraded.output
    since, until = HOLE[0] - 300 * MINUTE, HOLE[0]
    args = ["backfill", "--exchange", "binance", "--symbol", "BTC/USDT"]
    backfilled = runner.invoke(app, [*args, "--since", str(since), "--until", str(until)])
    assert backfilled.exit_code == 0, backfilled.output
    target = tmp_path / "btc.csv"
    export = ["export", "candles", "-o", str(target), "--where", "symbol=BTC/USDT"]
    exported = runner.invoke(app, export)
    assert exported.exit_code == 0, exported.output
    header, *lines = target.read_text().splitlines()
    rows = [dict(zip(header.split(","), line.split(","), strict=True)) for line in lines]
    assert [int(row["ts"]) for row in rows] == list(range(since, until, MINUTE))
    series = {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1m", "limit": 1000}
    with TestClient(create_app(Settings(database_url=mysql_url))) as client:
        body = client.get("/api/v1/candles", params=series).json()
    assert [(c["ts"], c["close"], c["volume"]) for c in body["data"]] == [
        (int(row["ts"]), row["close"], row["volume"]) for row in rows
    ]
