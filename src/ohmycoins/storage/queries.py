"""Read paths shared by the CLI and the API."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, Table, func, select

from ohmycoins.records import RECORD_TYPES, Record
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import RECORD_TABLES

TIME_COLUMN: dict[str, str] = {
    "assets": "updated_ts",
    "protocol_fundamentals": "ts",
    "news_items": "published_ts",
    "collector_runs": "started_ts",
    "sentiment_daily": "day",
}
"""The column that says how fresh a table is, where it is not `ts`."""
TIME_FALLBACK: dict[str, str] = {"news_items": "fetched_ts"}
"""Where a table's time may be unknown (a news item whose date could not be read), the
column its rows are listed and windowed by instead: when the row became known to us."""


R = TypeVar("R", bound=Record)


def time_column(table: Table) -> ColumnElement[Any]:
    """The time that says how fresh a record table's rows are and orders them (see
    `TIME_COLUMN` and `TIME_FALLBACK`)."""
    column = table.c[TIME_COLUMN.get(table.name, "ts")]
    fallback = TIME_FALLBACK.get(table.name)
    return func.coalesce(column, table.c[fallback]) if fallback else column


def select_records(record_type: type[Any]) -> Select[Any]:
    """A SELECT of a record type's columns in field order: each row builds a record."""
    table = RECORD_TABLES[record_type]
    return select(*(table.c[field.name] for field in dataclasses.fields(record_type)))


def fetch_records(db: Database, record_type: type[R], query: Select[Any]) -> list[R]:
    """The records a `select_records` query finds."""
    with db.engine.connect() as conn:
        return [record_type(*row) for row in conn.execute(query)]


def read_records(db: Database, record_type: type[R], **equal: Any) -> list[R]:
    """Stored records of one type whose columns equal `equal`, in natural-key order."""
    table = RECORD_TABLES[record_type]
    query = select_records(record_type)
    query = query.where(*(table.c[column] == value for column, value in equal.items()))
    query = query.order_by(*(table.c[column] for column in record_type.KEY))
    return fetch_records(db, record_type, query)


@dataclass(frozen=True, slots=True)
class TableStats:
    table: str
    rows: int
    newest_ts: int | None


def table_stats(db: Database) -> list[TableStats]:
    """Row count and newest time of every record table."""
    stats = []
    with db.engine.connect() as conn:
        for record_type in RECORD_TYPES:
            table = RECORD_TABLES[record_type]
            newest = time_column(table)
            rows, newest_ts = conn.execute(select(func.count(), func.max(newest))).one()
            stats.append(TableStats(table.name, rows, newest_ts))
    return stats
