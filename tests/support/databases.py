"""Whole databases for backup tests: fresh PostgreSQL databases (a restore needs an
empty database, not a schema of a shared one) and every table's rows, to compare."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, inspect, make_url, select, table, text

from ohmycoins.storage.database import Database, engine_url


@contextmanager
def fresh_postgres(server_url: str) -> Iterator[str]:
    """The URL of a new, empty database on the server of `server_url`, dropped after."""
    name = f"omc_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(engine_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def table_rows(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted, by table name."""
    with db.engine.connect() as conn:
        names = sorted(inspect(conn).get_table_names())
        rows: dict[str, list[tuple[Any, ...]]] = {}
        for name in names:
            columns = [column["name"] for column in inspect(conn).get_columns(name)]
            query = select(*(text(f'"{c}"') for c in columns)).select_from(table(name))
            rows[name] = sorted((tuple(row) for row in conn.execute(query)), key=repr)
    return rows
