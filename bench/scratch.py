"""A throwaway PostgreSQL schema for one benchmark run, dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Callable

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

    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}", drop
