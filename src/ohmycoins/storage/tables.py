"""The schema: one table per record type, derived from the record's fields, plus the
operational tables (schedule, cursors, holes, keys, usage).

Column types follow the record's annotations, so a record and its table cannot
drift apart: `Decimal` is stored exactly (NUMERIC on PostgreSQL, decimal text on
SQLite and MySQL), `int` as BIGINT, tuples as JSON text (NULL when empty, so a partial
row never erases a stored list). Text is `KEY_TEXT` in a key or an index and
`LONG_TEXT` elsewhere: the same TEXT except on MySQL (`storage.dialects`).
"""

from __future__ import annotations

import json
import typing
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Dialect,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    Table,
)
from sqlalchemy.types import TypeDecorator, TypeEngine

from ohmycoins.records import RECORD_TYPES, FieldType, Level, Record, field_types
from ohmycoins.storage.dialects import (
    KEY_TEXT,
    LONG_TEXT,
    NUMBER,
    decimal_as_text,
    decimal_type,
)

metadata = MetaData()


def decimal_text(value: Decimal) -> str:
    """A Decimal's exact text in plain notation (`0.00000001`, never `1E-8`), as SQLite
    stores it: the range reads then serve the stored text as it is. `str` first, since
    it is three times faster than `format` and writes an exponent only rarely."""
    text = str(value)
    return text if "E" not in text else format(value, "f")


class ExactDecimal(TypeDecorator[Decimal]):
    """A Decimal stored exactly, as the source wrote it: NUMERIC on PostgreSQL, its
    plain-notation text on SQLite and MySQL (whose DECIMAL has one fixed scale, so
    `0.00120000` would come back as `0.001200000000000000000000000000`)."""

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(decimal_type(dialect))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is not None and decimal_as_text(dialect):
            return decimal_text(value)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))


class LevelsJson(TypeDecorator[tuple[Level, ...]]):
    """Order-book levels as JSON `[["price","amount"], ...]`, decimals kept as text."""

    impl = LONG_TEXT
    cache_ok = True

    def process_bind_param(self, value: tuple[Level, ...] | None, dialect: Dialect) -> Any:
        return encode_levels(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> tuple[Level, ...]:
        if not value:
            return ()
        return tuple((Decimal(p), Decimal(a)) for p, a in json.loads(value))


class StringsJson(TypeDecorator[tuple[str, ...]]):
    """A tuple of strings as a JSON array; NULL when empty."""

    impl = LONG_TEXT
    cache_ok = True

    def process_bind_param(self, value: tuple[str, ...] | None, dialect: Dialect) -> Any:
        return encode_strings(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> tuple[str, ...]:
        return tuple(json.loads(value)) if value else ()


def encode_levels(value: tuple[Level, ...] | None) -> str | None:
    """The database text of order-book levels (shared by the bulk path)."""
    if not value:
        return None
    return json.dumps([[decimal_text(p), decimal_text(a)] for p, a in value], separators=(",", ":"))


def encode_strings(value: tuple[str, ...] | None) -> str | None:
    """The database text of a tuple of strings (shared by the bulk path)."""
    return json.dumps(list(value)) if value else None


def _column_type(field: FieldType, keyed: bool) -> TypeEngine[Any] | type[TypeEngine[Any]]:
    """The SQL type of a record field (`keyed`: in the table's key or an index)."""
    if field.kind is tuple:
        return StringsJson() if typing.get_args(field.annotation)[0] is str else LevelsJson()
    simple: dict[Any, TypeEngine[Any] | type[TypeEngine[Any]]] = {
        str: KEY_TEXT if keyed else LONG_TEXT,
        int: BigInteger,
        bool: Boolean,
        Decimal: ExactDecimal(),
    }
    return simple[field.kind]


def _record_table(record_type: type[Record], *indexes: tuple[str, ...]) -> Table:
    keyed = {*record_type.KEY, *(name for columns in indexes for name in columns)}
    columns = [
        # tuples are NULL when empty, so a partial row never erases a stored list
        Column(
            field.name,
            _column_type(field, field.name in keyed),
            nullable=field.nullable or field.kind is tuple,
        )
        for field in field_types(record_type)
    ]
    for name in getattr(record_type, "DERIVED", ()):
        columns.append(Column(name, ExactDecimal(), nullable=True))
    table_name = record_type.TABLE
    return Table(
        table_name,
        metadata,
        *columns,
        PrimaryKeyConstraint(*record_type.KEY, name=f"pk_{table_name}"),
        *(Index(f"ix_{table_name}_{'_'.join(cols)}", *cols) for cols in indexes),
    )


_INDEXES: dict[str, tuple[tuple[str, ...], ...]] = {
    "trades": (("exchange", "symbol", "ts"),),
    "market_snapshots": (("ts",), ("asset_id", "ts")),
    "assets": (("symbol",), ("rank",)),
    "protocol_fundamentals": (("day",),),
    "onchain_metrics": (("ts",),),
    "news_items": (("published_ts",),),
    "social_posts": (("ts",), ("community", "ts")),
    "community_metrics": (("ts",),),
    "catalyst_events": (("ts",), ("impact", "ts")),
    "collector_runs": (("collector", "started_ts"),),
    "quarantine": (("ts",), ("record_type", "ts")),
}

RECORD_TABLES: dict[type[Any], Table] = {
    record_type: _record_table(record_type, *_INDEXES.get(record_type.TABLE, ()))
    for record_type in RECORD_TYPES
}

TABLE_RECORD_TYPES: dict[str, type[Record]] = {t.TABLE: t for t in RECORD_TYPES}
"""Each record type by the name of its table."""

collection_tasks = Table(
    "collection_tasks",
    metadata,
    Column("task_id", KEY_TEXT, primary_key=True),
    Column("collector", KEY_TEXT, nullable=False),
    Column("interval_seconds", NUMBER, nullable=True),
    Column("cron", LONG_TEXT, nullable=True),
    Column("priority", Integer, nullable=False, default=5),
    Column("next_run_ts", BigInteger, nullable=False),
    Column("cursor", LONG_TEXT, nullable=True),
    Column("params", LONG_TEXT, nullable=True),
    Column("lease_owner", LONG_TEXT, nullable=True),
    Column("lease_expires_ts", BigInteger, nullable=True),
    Column("paused", Boolean, nullable=False, default=False),
    Column("last_run_ts", BigInteger, nullable=True),
    Column("last_status", LONG_TEXT, nullable=True),
    Column("last_error", LONG_TEXT, nullable=True),
    Column("updated_ts", BigInteger, nullable=False),
    Index("ix_collection_tasks_due", "paused", "next_run_ts", "priority"),
)

source_circuits = Table(
    "source_circuits",
    metadata,
    Column("source", KEY_TEXT, primary_key=True),
    Column("state", LONG_TEXT, nullable=False, default="closed"),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("opened_ts", BigInteger, nullable=True),
    Column("updated_ts", BigInteger, nullable=False),
)
"""The circuit breaker of each source, once per source (no row: closed, no failures)."""

sync_cursors = Table(
    "sync_cursors",
    metadata,
    Column("source", KEY_TEXT, nullable=False),
    Column("dataset", KEY_TEXT, nullable=False),
    Column("symbol", KEY_TEXT, nullable=False),
    Column("timeframe", KEY_TEXT, nullable=False, default=""),
    Column("cursor_ts", BigInteger, nullable=True),
    Column("cursor_id", LONG_TEXT, nullable=True),
    Column("updated_ts", BigInteger, nullable=False),
    PrimaryKeyConstraint("source", "dataset", "symbol", "timeframe", name="pk_sync_cursors"),
)

candle_holes = Table(
    "candle_holes",
    metadata,
    Column("exchange", KEY_TEXT, nullable=False),
    Column("symbol", KEY_TEXT, nullable=False),
    Column("timeframe", KEY_TEXT, nullable=False),
    Column("start_ts", BigInteger, nullable=False),
    Column("end_ts", BigInteger, nullable=False),
    Column("candles", BigInteger, nullable=False),
    Column("found_ts", BigInteger, nullable=False),
    Column("checks", Integer, nullable=False),
    PrimaryKeyConstraint("exchange", "symbol", "timeframe", "start_ts", name="pk_candle_holes"),
)
"""Candles the exchange answered without, in well-formed pages: `checks` is how many
times that answer was confirmed; a recent hole is verified again until it is final."""

candle_missing = Table(
    "candle_missing",
    metadata,
    Column("exchange", KEY_TEXT, nullable=False),
    Column("symbol", KEY_TEXT, nullable=False),
    Column("timeframe", KEY_TEXT, nullable=False),
    Column("start_ts", BigInteger, nullable=False),
    Column("end_ts", BigInteger, nullable=False),
    Column("candles", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_try_ts", BigInteger, nullable=False),
    PrimaryKeyConstraint("exchange", "symbol", "timeframe", "start_ts", name="pk_candle_missing"),
)
"""Candles not stored yet whose absence is not proven (a failed fetch, a quarantined
row): retried with backoff by later syncs of the series, and counted until stored."""

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", KEY_TEXT, primary_key=True),
    Column("key_hash", KEY_TEXT, nullable=False, unique=True),
    Column("scope", LONG_TEXT, nullable=False),
    Column("name", LONG_TEXT, nullable=True),
    Column("created_ts", BigInteger, nullable=False),
    Column("last_used_ts", BigInteger, nullable=True),
    Column("revoked", Boolean, nullable=False, default=False),
)

source_usage = Table(
    "source_usage",
    metadata,
    Column("source", KEY_TEXT, nullable=False),
    Column("month", KEY_TEXT, nullable=False),
    Column("calls", BigInteger, nullable=False, default=0),
    Column("updated_ts", BigInteger, nullable=False),
    PrimaryKeyConstraint("source", "month", name="pk_source_usage"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("rule", KEY_TEXT, nullable=False),
    Column("subject", KEY_TEXT, nullable=False),
    Column("state", KEY_TEXT, nullable=False),
    Column("message", LONG_TEXT, nullable=False),
    Column("since_ts", BigInteger, nullable=False),
    Column("updated_ts", BigInteger, nullable=False),
    Column("resolved_ts", BigInteger, nullable=True),
    Column("notified", LONG_TEXT, nullable=True),
    Column("sent_ts", BigInteger, nullable=True),
    PrimaryKeyConstraint("rule", "subject", name="pk_alerts"),
    Index("ix_alerts_state_updated", "state", "updated_ts"),
)
"""Each alert (a rule about a subject): firing or resolved, and the last message
delivered about it, so it fires once and repeats no sooner than the cool-down."""

feature_sets = Table(
    "feature_sets",
    metadata,
    Column("set_version", KEY_TEXT, primary_key=True),
    Column("name", LONG_TEXT, nullable=False),
    Column("columns", LONG_TEXT, nullable=False),
    Column("definition", LONG_TEXT, nullable=False),
    Column("created_ts", BigInteger, nullable=False),
)
"""Each feature set version ever stored: its column names in row order (JSON), and the
definitions they were computed with."""

features = Table(
    "features",
    metadata,
    Column("exchange", KEY_TEXT, nullable=False),
    Column("symbol", KEY_TEXT, nullable=False),
    Column("timeframe", KEY_TEXT, nullable=False),
    Column("set_version", KEY_TEXT, nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("warm_up", Boolean, nullable=False),
    Column("vals", LargeBinary, nullable=False),
    PrimaryKeyConstraint(
        "exchange", "symbol", "timeframe", "set_version", "ts", name="pk_features"
    ),
)
"""One row per closed candle and feature set version, keyed like the candle (`ts`, its
open time). `vals` holds the row's features in the set's column order as little-endian
float64, NaN for NULL: reads are whole rows of one series over a time range (an ML
frame), so one wide row per candle beats a row per feature (100 times the rows and index
entries) and binary beats JSON text (a third of the bytes, no parsing: a page decodes
with one `numpy.frombuffer`). `warm_up` is true while any feature is in its warm-up."""

features_stale = Table(
    "features_stale",
    metadata,
    Column("exchange", KEY_TEXT, nullable=False),
    Column("symbol", KEY_TEXT, nullable=False),
    Column("timeframe", KEY_TEXT, nullable=False),
    Column("since_ts", BigInteger, nullable=False),
    Column("marks", BigInteger, nullable=False),
    PrimaryKeyConstraint("exchange", "symbol", "timeframe", name="pk_features_stale"),
)
"""Series whose feature rows are stale from `since_ts` on: a candle was written there
late (a gap filled, a candle corrected) after features may have been computed past it.
`marks` counts the marks, so the feature job clears only the mark it has acted on."""
