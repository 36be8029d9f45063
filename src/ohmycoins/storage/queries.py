"""Read paths shared by the CLI and the API."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import func, select

from ohmycoins.records import RECORD_TYPES, Record
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import RECORD_TABLES

TIME_COLUMN: dict[str, str] = {
    "assets": "updated_ts",
    "protocol_fundamentals": "ts",
    "news_items": "published_ts",
    "collector_runs": "started_ts",
}
"""The column that says how fresh a table is, where it is not `ts`."""


R = TypeVar("R", bound=Record)


def read_records(db: Database, record_type: type[R], **equal: Any) -> list[R]:
    """Stored records of one type whose columns equal `equal`, in natural-key order."""
    table = RECORD_TABLES[record_type]
    names = [field.name for field in dataclasses.fields(record_type)]
    query = select(*(table.c[name] for name in names))
    query = query.where(*(table.c[column] == value for column, value in equal.items()))
    query = query.order_by(*(table.c[column] for column in record_type.KEY))
    with db.engine.connect() as conn:
        return [record_type(*row) for row in conn.execute(query)]


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
            newest = table.c[TIME_COLUMN.get(table.name, "ts")]
            rows, newest_ts = conn.execute(select(func.count(), func.max(newest))).one()
            stats.append(TableStats(table.name, rows, newest_ts))
    return stats
