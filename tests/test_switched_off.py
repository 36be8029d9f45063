"""Keyed sources without their key are listed as `disabled: no API key`, never a crash:
in `omc collectors list` and in the API's collector health."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from ohmycoins.cli import app
from ohmycoins.collectors.clients import Sources
from ohmycoins.collectors.defaults import registry_for
from ohmycoins.settings import load_settings
from ohmycoins.storage.database import Database
from tests.api.conftest import make_client
from tests.conftest import sqlite_url

KEYED = {
    "glassnode_metrics": "glassnode",
    "nansen_exchange_flows": "nansen",
    "fred_observations": "fred",
    "cryptopanic_news": "cryptopanic",
    "guardian_news": "guardian",
    "newscatcher_news": "newscatcher",
    "x_posts": "x",
}


def test_collectors_list_names_what_needs_a_key(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMC_DATABASE_URL", sqlite_url(tmp_path))
    monkeypatch.setenv("OMC_FRED_API_KEY", "a-fred-key")
    result = CliRunner().invoke(app, ["collectors", "list"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    for name in set(KEYED) - {"fred_observations"}:
        assert "disabled: no API key" in lines[name], lines.get(name)
    assert " enabled " in lines["fred_observations"]  # keyed, and its key is set
    assert "a-fred-key" not in result.output


async def test_health_reports_collectors_without_keys(sqlite_db: Database) -> None:
    settings = load_settings({"OMC_DATABASE_URL": sqlite_db.url})
    sources = Sources.open(settings, sqlite_db, None)
    try:
        registry = registry_for(sources)
    finally:
        await sources.close()
    with make_client(sqlite_db, settings=settings, registry=registry) as api:
        body = api.get("/api/v1/collectors/health").json()
    disabled = {entry["name"]: entry for entry in body["disabled"]}
    assert {name: entry["source"] for name, entry in disabled.items()} == KEYED
    assert {entry["status"] for entry in disabled.values()} == {"disabled: no API key"}
    assert disabled["x_posts"]["ledger"] == "human"
