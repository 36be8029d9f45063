"""The backends' implementations are found from whatever names a database."""

from __future__ import annotations

import pytest
from sqlalchemy import make_url, select

from ohmycoins.errors import StorageError
from ohmycoins.records import Candle
from ohmycoins.storage.database import Database
from ohmycoins.storage.dialects import dialect_for
from ohmycoins.storage.tables import RECORD_TABLES, ExactDecimal


def test_an_engine_a_connection_a_url_and_a_name_find_one_implementation() -> None:
    db = Database("sqlite://")
    try:
        with db.engine.connect() as conn:
            found = {
                id(dialect_for(of))
                for of in (db.engine, conn, conn.dialect, make_url("sqlite://"), "sqlite")
            }
        assert found == {id(db.backend)}
        assert db.backend.name == db.dialect == "sqlite"
    finally:
        db.dispose()


def test_an_unknown_backend_is_one_line_naming_the_supported_ones() -> None:
    with pytest.raises(StorageError, match=r"^no support for oracle databases \(sqlite, post"):
        dialect_for("oracle")


def test_decimals_print_without_a_database() -> None:
    """A statement or type printed without a backend (logs, debugging) shows NUMERIC."""
    assert str(ExactDecimal().compile()) == "NUMERIC"
    assert "candles.open" in str(select(RECORD_TABLES[Candle]))
