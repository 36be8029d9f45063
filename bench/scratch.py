"""What the benchmarks share: a throwaway PostgreSQL schema or MySQL database for one
run, dropped afterwards, row counts, a free port, and the CPU time a process has used."""

from __future__ import annotations

import functools
import os
import socket
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

from ohmycoins.storage.database import engine_url


def postgres_schema(url: str) -> tuple[str, Callable[[], None]]:
    """A URL whose search_path is a fresh schema, and the function that drops it."""
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    run_sql(url, f"CREATE SCHEMA {schema}")
    return schema_url(url, schema), functools.partial(run_sql, url, f"DROP SCHEMA {schema} CASCADE")


def mysql_database(url: str) -> tuple[str, Callable[[], None]]:
    """The URL of a fresh MySQL/MariaDB database on `url`'s server, and its dropper."""
    name = f"bench_{uuid.uuid4().hex[:8]}"
    run_sql(url, f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    fresh = make_url(url).set(database=name).render_as_string(hide_password=False)
    return fresh, functools.partial(run_sql, url, f"DROP DATABASE {name}")


def run_sql(url: str, *statements: str) -> None:
    """Run `statements` in one transaction on a connection of their own."""
    engine = create_engine(engine_url(url))
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def count_rows(url: str, table: str) -> int:
    """Rows in `table` of the database at `url`."""
    engine = create_engine(engine_url(url))
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def schema_url(url: str, schema: str) -> str:
    """`url` with its search_path set to `schema`."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


def free_port() -> int:
    """A TCP port of 127.0.0.1 free right now, for a server the benchmark starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (Linux /proc); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
