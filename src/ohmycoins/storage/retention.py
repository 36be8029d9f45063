"""Retention's reads and removals: what is older than a cutoff, day by day, and its end.

A `Scope` is what one retention setting covers: a table, or the candles of one
timeframe. Removal goes through the backend (`Dialect.expire`): a DELETE on SQLite,
whole monthly partitions dropped on a partitioned PostgreSQL table.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, and_, func, select

from ohmycoins.records import Record
from ohmycoins.storage.dialects import Expired, dialect_for
from ohmycoins.storage.queries import select_records, time_column
from ohmycoins.storage.tables import RECORD_TABLES, TABLE_RECORD_TYPES

RETENTION_COLUMN = {"protocol_fundamentals": "day"}
"""The time a row is kept by, where it is not the table's `time_column` (a protocol's
day, not the time it was fetched)."""


@dataclass(frozen=True, slots=True)
class Scope:
    """What one retention setting covers: `key` is the setting (`trades`, `candles_1m`)."""

    key: str
    table: str
    timeframe: str | None = None
    market: tuple[str, str] | None = None
    """One series (exchange, symbol) of a market table: its rows are read through the
    primary key or index that starts with them."""

    @property
    def record_type(self) -> type[Record]:
        return TABLE_RECORD_TYPES[self.table]


def _table(scope: Scope) -> Table:
    return RECORD_TABLES[scope.record_type]


def kept_by(table: Table) -> ColumnElement[Any]:
    """The time retention compares with its cutoff (a row with none is kept)."""
    if table.name in RETENTION_COLUMN:
        return table.c[RETENTION_COLUMN[table.name]]
    return time_column(table)


def _where(scope: Scope, start: int | None, end: int) -> ColumnElement[bool]:
    table = _table(scope)
    column = kept_by(table)
    clauses = [column < end]
    if start is not None:
        clauses.append(column >= start)
    if scope.timeframe is not None:
        clauses.append(table.c.timeframe == scope.timeframe)
    if scope.market is not None:
        clauses += [table.c.exchange == scope.market[0], table.c.symbol == scope.market[1]]
    return and_(*clauses)


def markets(conn: Connection, scope: Scope, cutoff: int) -> list[Scope]:
    """The scope split by market where its table is one (exchange, symbol): each part
    read through its key; else the scope itself."""
    table = _table(scope)
    if "exchange" not in table.c or "symbol" not in table.c:
        return [scope]
    query = select(table.c.exchange, table.c.symbol).where(_where(scope, None, cutoff))
    found = conn.execute(query.distinct().order_by(table.c.exchange, table.c.symbol)).all()
    return [dataclasses.replace(scope, market=(row[0], row[1])) for row in found]


def cutoff_of(conn: Connection, scope: Scope, cutoff: int) -> int:
    """The cutoff the backend applies (the start of a partition, where they are dropped)."""
    return dialect_for(conn).expiry_cutoff(conn, scope.table, cutoff)


def first_before(conn: Connection, scope: Scope, since: int | None, cutoff: int) -> int | None:
    """The earliest time at or after `since` of a row before `cutoff`; None when none."""
    query = select(func.min(kept_by(_table(scope)))).where(_where(scope, since, cutoff))
    found = conn.execute(query).scalar()
    return None if found is None else int(found)


def rows_between(conn: Connection, scope: Scope, start: int, end: int) -> list[Record]:
    """The records of the scope in [start, end), in time order."""
    table = _table(scope)
    query = select_records(scope.record_type).where(_where(scope, start, end))
    query = query.order_by(kept_by(table))
    return [scope.record_type(*row) for row in conn.execute(query).all()]


def count_before(conn: Connection, scope: Scope, cutoff: int) -> int:
    query = select(func.count()).select_from(_table(scope)).where(_where(scope, None, cutoff))
    return int(conn.execute(query).scalar_one())


def partitions_before(conn: Connection, scope: Scope, cutoff: int) -> list[str]:
    """The whole partitions retention would drop."""
    return dialect_for(conn).expiring_partitions(conn, scope.table, cutoff, scope.timeframe)


def expire(conn: Connection, scope: Scope, cutoff: int) -> Expired:
    """Remove the scope's rows before `cutoff` (partitions dropped, or a DELETE)."""
    table = _table(scope)
    return dialect_for(conn).expire(conn, table, kept_by(table), cutoff, scope.timeframe)


def ensure_partitions(conn: Connection, now: int) -> list[str]:
    """Partitions of the coming months, created ahead (none on SQLite)."""
    return dialect_for(conn).ensure_partitions(conn, now)
