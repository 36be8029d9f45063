"""`omc collectors list | run` and `omc status`: every configured collector, whole
names in a pipe at 80 columns, JSON, and collectors run by hand against local servers."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from ohmycoins.cli import app
from ohmycoins.collectors.clients import Sources
from ohmycoins.collectors.defaults import registry_for
from ohmycoins.scheduling.registry import Registry
from ohmycoins.settings import load_settings
from ohmycoins.storage.database import Database
from ohmycoins.storage.reads.market import latest_runs
from tests.collectors.conftest import sim_config
from tests.conftest import sqlite_url
from tests.support.cli import closed_port, one_error_line
from tests.support.threaded import simulator_thread


@pytest.fixture
def sim_url() -> Iterator[str]:
    with simulator_thread(sim_config()) as handle:
        yield handle.base_url


def configured(db_url: str) -> Registry:
    """The registry `omc run` builds from the current environment."""
    db = Database(db_url)
    db.upgrade()
    sources = Sources.open(load_settings(), db, None)
    try:
        return registry_for(sources)
    finally:
        asyncio.run(sources.close())
        db.dispose()


@pytest.mark.slow
def test_list_shows_every_configured_collector_on_a_fresh_database(tmp_path, monkeypatch) -> None:
    url = sqlite_url(tmp_path)
    monkeypatch.setenv("OMC_DATABASE_URL", url)
    registry = configured(url)
    keyless = [c.name for c in registry.switched_off()]
    assert keyless and len(registry.enabled()) > len(keyless)
    env = {**os.environ, "COLUMNS": "80"}
    done = subprocess.run(
        [sys.executable, "-m", "ohmycoins", "collectors", "list"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    for collector in registry:
        (row,) = [line for line in lines if line.startswith(f"{collector.name} ")]
        assert ("disabled:" in row) == (collector.name in keyless)
    listed = json.loads(CliRunner().invoke(app, ["collectors", "list", "--json"]).stdout)
    assert [view["name"] for view in listed] == [c.name for c in registry]
    states = {view["name"]: view["state"] for view in listed}
    assert {states[name] for name in keyless} == {"disabled: no API key"}
    assert all(not view["scheduled"] and view["last_run_ts"] is None for view in listed)


def test_collectors_run_prints_each_outcome_and_fails_on_a_dead_source(
    tmp_path, monkeypatch, sim_url: str
) -> None:
    url = sqlite_url(tmp_path)
    monkeypatch.setenv("OMC_DATABASE_URL", url)
    monkeypatch.setenv("OMC_BINANCE_URL", sim_url)
    monkeypatch.setenv("OMC_COINSPOT_URL", f"http://127.0.0.1:{closed_port()}")
    runner = CliRunner()
    names = ["binance_tickers", "coinspot_tickers", "glassnode_metrics"]
    result = runner.invoke(app, ["collectors", "run", *names, "--attempts", "1"])
    assert result.exit_code == 1, result.output
    tickers, dead, keyless = result.stdout.splitlines()
    assert tickers.startswith("binance_tickers: ok, 3 stored, 0 quarantined in ")
    assert dead.startswith("coinspot_tickers: error, 0 stored, 0 quarantined in ")
    assert "coinspot" in dead.split(": ", 2)[2]
    assert keyless == "glassnode_metrics: not run: disabled: no API key"
    runs = latest_runs(Database(url), names)
    assert {name: run.status for name, run in runs.items()} == {
        "binance_tickers": "ok",
        "coinspot_tickers": "error",
    }
    again = runner.invoke(app, ["collectors", "run", "binance_tickers"])
    assert again.exit_code == 0 and again.stdout.startswith("binance_tickers: ok, ")
    monkeypatch.setenv("COLUMNS", "80")
    status = runner.invoke(app, ["status"])
    assert status.exit_code == 0
    assert "binance_tickers " in status.stdout and "coinspot_tickers " in status.stdout
    assert "last errors:" in status.stdout
    body = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    tables = {table["table"]: table["rows"] for table in body["tables"]}
    assert tables["tickers"] == 3 and tables["collector_runs"] == 3  # the same frozen tickers
    views = {view["name"]: view for view in body["collectors"]}
    assert views["coinspot_tickers"]["last_status"] == "error"
    assert views["binance_orderbooks"]["scheduled"] is False


def test_collectors_run_refuses_an_unknown_name_with_close_ones(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("OMC_DATABASE_URL", sqlite_url(tmp_path))
    result = CliRunner().invoke(app, ["collectors", "run", "binanse_tickers"])
    line = one_error_line(result)
    assert line.startswith("error: no configured collector 'binanse_tickers'; did you mean ")
    assert "binance_tickers" in line


def test_trigger_pause_resume_still_work(tmp_path, monkeypatch, sim_url: str) -> None:
    monkeypatch.setenv("OMC_DATABASE_URL", sqlite_url(tmp_path))
    monkeypatch.setenv("OMC_BINANCE_URL", sim_url)
    runner = CliRunner()
    assert runner.invoke(app, ["collectors", "run", "binance_tickers"]).exit_code == 0
    for action in ("pause", "resume", "trigger"):
        done = runner.invoke(app, ["collectors", action, "binance_tickers"])
        assert done.exit_code == 0 and done.stdout.strip() == f"{action}: binance_tickers"
    unknown = one_error_line(runner.invoke(app, ["collectors", "pause", "binance_tickerz"]))
    assert unknown.endswith(
        "no scheduled collector 'binance_tickerz'; did you mean binance_tickers?"
    )
