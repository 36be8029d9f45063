"""What the benchmarks share: a throwaway PostgreSQL schema for one run, dropped
afterwards, and the CPU time a process has used."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, text

from ohmycoins.storage.database import engine_url


def postgres_schema(url: str) -> tuple[str, Callable[[], None]]:
    """A URL whose search_path is a fresh schema, and the function that drops it."""
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(engine_url(url))
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()

    return schema_url(url, schema), drop


def schema_url(url: str, schema: str) -> str:
    """`url` with its search_path set to `schema`."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (Linux /proc); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
