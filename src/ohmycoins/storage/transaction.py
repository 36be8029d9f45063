"""The write transaction of a store: one place where a database failure becomes a
`StorageError` naming the database, so callers above storage never see a driver's
exception types."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from ohmycoins.errors import StorageError
from ohmycoins.storage.database import Database


@contextmanager
def write_transaction(db: Database, what: str) -> Iterator[Connection]:
    """A connection in a transaction that commits when the block ends and rolls back
    when it raises; a database failure is raised as `StorageError("<what> in <db>
    failed: …")`."""
    try:
        with db.engine.begin() as conn:
            yield conn
    except SQLAlchemyError as exc:
        raise StorageError(f"{what} in {db!r} failed: {exc}") from exc
