"""Point-in-time features of candle series (`omc features build`, the feature jobs)."""

from __future__ import annotations

import io
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query, Response

from ohmycoins.api.deps import (
    BadParameterError,
    Cursor,
    DbDep,
    End,
    Exchange,
    Format,
    Limit,
    Order,
    Start,
    Symbol,
    Timeframe,
    check_range,
)
from ohmycoins.api.encode import (
    NEXT_CURSOR_HEADER,
    PAGED_RESPONSES,
    PARQUET_MEDIA_TYPE,
    csv_response,
    cursor_ts,
    encode_cursor,
    json_response,
)
from ohmycoins.enrich.default_features import FEATURE_SETS
from ohmycoins.errors import StorageError
from ohmycoins.storage.database import Database
from ohmycoins.storage.feature_stale import Series
from ohmycoins.storage.features import FeaturePage, arrow_table, read_features

router = APIRouter(tags=["features"])

SetParam = Annotated[
    str,
    Query(
        alias="set",
        description="A feature set name (its current version) or a stored version "
        "(`default-f8d3cb541235`).",
    ),
]
Columns = Annotated[str | None, Query(description="Comma-separated feature names; all by default.")]


@router.get("/features", responses=PAGED_RESPONSES)
def features(
    db: DbDep,
    exchange: Exchange,
    symbol: Symbol,
    timeframe: Timeframe,
    start: Start = None,
    end: End = None,
    set_: SetParam = "default",
    columns: Columns = None,
    limit: Limit = 1000,
    order: Order = "asc",
    cursor: Cursor = None,
    format: Format = "json",
) -> Response:
    """One row per closed candle (`ts`, its open time), its features and `warm_up`
    (true while some feature is inside its warm-up, whose values are null); paged by
    `next`. Labels (future returns) are never here."""
    check_range(start, end)
    series = Series(exchange, symbol, timeframe)
    page = _page(db, series, set_, columns, start, end, cursor_ts(cursor, order), limit, order)
    next_cursor = encode_cursor(order, page.ts[-1]) if page.more and page.ts else None
    headers = {NEXT_CURSOR_HEADER: next_cursor} if next_cursor else None
    names = ["ts", "warm_up", *page.columns]
    if format == "json":
        rows = [
            dict(zip(names, (ts, warm, *values), strict=True))
            for ts, warm, values in zip(page.ts, page.warm_up, page.values.tolist(), strict=True)
        ]  # NaN is written as null
        return json_response({"data": rows, "next": next_cursor}, headers)
    if format == "csv":
        rows_csv = [
            (ts, warm, *("" if v != v else v for v in values))
            for ts, warm, values in zip(page.ts, page.warm_up, page.values.tolist(), strict=True)
        ]
        return csv_response(rows_csv, names, next_cursor)
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(arrow_table([(series, page)]), sink)
    return Response(sink.getvalue(), media_type=PARQUET_MEDIA_TYPE, headers=headers)


def _page(
    db: Database, series: Series, set_: str, columns: str | None, start: int | None,
    end: int | None, after: int | None, limit: int, order: str,
) -> FeaturePage:  # fmt: skip
    """The page asked; a set never built for the series is an empty page."""
    known = FEATURE_SETS.get(set_)
    version = known.version if known is not None else set_
    wanted = [name for name in columns.split(",") if name] if columns else None
    try:
        return read_features(db, series, version, start=start, end=end, after=after,
                             limit=limit, order=order, columns=wanted)  # fmt: skip
    except KeyError as exc:
        raise BadParameterError("columns", f"no such feature: {exc.args[0]}") from None
    except StorageError:
        if known is None:
            raise BadParameterError("set", f"no feature set or stored version {set_!r}") from None
    unknown = [name for name in wanted or [] if name not in known.columns]
    if unknown:
        raise BadParameterError("columns", f"no such feature: {', '.join(unknown)}")
    picked = wanted or known.columns
    return FeaturePage(picked, [], [], np.empty((0, len(picked))), False)
