"""Migrations build the whole schema from nothing, twice is a no-op, and the newest
migration matches the tables the code writes."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from typer.testing import CliRunner

from ohmycoins.cli import app
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import metadata
from tests.conftest import sqlite_url


def _fresh(url: str) -> Database:
    return Database(url)


def test_upgrade_from_empty_then_noop(db: Database) -> None:
    fresh = _fresh(db.url)
    assert fresh.upgrade() == []  # the fixture already migrated this database
    assert fresh.is_current()
    tables = set(inspect(fresh.engine).get_table_names())
    assert set(metadata.tables) <= tables
    fresh.dispose()


def test_first_upgrade_applies_every_revision(tmp_path) -> None:
    db = _fresh(sqlite_url(tmp_path))
    assert db.current_revision() is None
    assert db.upgrade() == ["0001", "0002"]
    assert db.upgrade() == []
    db.dispose()


def test_migrations_match_the_table_definitions(db: Database) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        assert compare_metadata(context, metadata) == []


def test_cli_db_upgrade_twice(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("OMC_DATABASE_URL", sqlite_url(tmp_path))
    runner = CliRunner()
    first = runner.invoke(app, ["db", "upgrade"])
    assert first.exit_code == 0, first.output
    assert "applied 0001" in first.output
    second = runner.invoke(app, ["db", "upgrade"])
    assert second.exit_code == 0
    assert "schema is current" in second.output
