"""Reads of the human ledger: news and posts newest first, hourly sentiment per asset.

`currencies` is stored as JSON text (`["BTC", "ETH"]`, see `tables.StringsJson`).
Filtering by an asset matches the quoted element (`"BTC"` inside the text), so `ETH`
never matches `WETH` and the same query runs on SQLite and PostgreSQL. Symbols are
upper-case letters and digits, so the quoted form cannot occur inside another one.

`hourly_sentiment` is the aggregate features and the API use: per UTC hour, the number
of scored items, their mean score and the shares labelled positive and negative.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Text,
    case,
    func,
    select,
    type_coerce,
    union_all,
)

from ohmycoins.records import NewsItem, SocialPost
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import select_records, time_column
from ohmycoins.storage.reads.market import Page, fetch_page, keyset_range
from ohmycoins.storage.tables import RECORD_TABLES
from ohmycoins.timeframes import HOUR_MS

__all__ = [
    "HourlySentiment",
    "Kind",
    "hourly_sentiment",
    "news_keys_since",
    "read_news",
    "read_social",
]

Kind = Literal["news", "social", "all"]
_SYMBOL = re.compile(r"^[A-Z0-9]{1,20}$")
_MEAN_PLACES = Decimal("0.000001")
_SHARE_PLACES = Decimal("0.0001")


def _mentions(column: Any, symbol: str) -> ColumnElement[bool]:
    """`column` (JSON text of a tuple) holds the element `symbol` exactly."""
    if not _SYMBOL.match(symbol):
        raise ValueError(f"{symbol!r} is not an upper-case asset symbol like 'BTC'")
    # compare the stored JSON text itself, not a value the column type would encode
    mentions: ColumnElement[bool] = type_coerce(column, Text).like(f'%"{symbol}"%')
    return mentions


def news_keys_since(db: Database, since_ms: int) -> list[tuple[str, str, str, int | None]]:
    """(item id, title, outlet, publication time) of the stories listed from `since_ms`
    on (published, or first fetched where the date is unknown): what deduplicating new
    stories against the stored ones needs, and no more."""
    table = RECORD_TABLES[NewsItem]
    query = select(table.c.item_id, table.c.title, table.c.outlet, table.c.published_ts).where(
        time_column(table) >= since_ms
    )
    with db.engine.connect() as conn:
        return [(row[0], row[1], row[2], row[3]) for row in conn.execute(query)]


def read_news(
    db: Database,
    *,
    currency: str | None = None,
    start: int | None = None,
    end: int | None = None,
    source: str | None = None,
    outlet: str | None = None,
    limit: int = 100,
    after: tuple[int, str] | None = None,
) -> Page[NewsItem]:
    """News newest first by (listed_ts, item_id): the publish time, or where the date is
    unknown the first fetch time (`NewsItem.listed_ts`); `start`/`end` bound it too;
    `after` is the previous page's last (listed_ts, item_id), exclusive."""
    table = RECORD_TABLES[NewsItem]
    query = select_records(NewsItem)
    if currency is not None:
        query = query.where(_mentions(table.c.currencies, currency))
    if source is not None:
        query = query.where(table.c.source == source)
    if outlet is not None:
        query = query.where(table.c.outlet == outlet)
    key = (time_column(table), "item_id")
    query = keyset_range(query, table, key, start, end, "desc", after)
    return fetch_page(db, NewsItem, query, limit)


def read_social(
    db: Database,
    *,
    platform: str | None = None,
    community: str | None = None,
    currency: str | None = None,
    start: int | None = None,
    end: int | None = None,
    limit: int = 100,
    after: tuple[int, str, str] | None = None,
) -> Page[SocialPost]:
    """Posts newest first by (ts, platform, post_id); `after` is the previous page's
    last (ts, platform, post_id), exclusive."""
    table = RECORD_TABLES[SocialPost]
    query = select_records(SocialPost)
    if platform is not None:
        query = query.where(table.c.platform == platform)
    if community is not None:
        query = query.where(table.c.community == community)
    if currency is not None:
        query = query.where(_mentions(table.c.currencies, currency))
    query = keyset_range(query, table, ("ts", "platform", "post_id"), start, end, "desc", after)
    return fetch_page(db, SocialPost, query, limit)


@dataclass(frozen=True, slots=True)
class HourlySentiment:
    """Scored items of one UTC hour (`ts` is its start)."""

    ts: int
    count: int
    mean_score: Decimal | None
    share_positive: Decimal
    share_negative: Decimal


def _scored(db: Database, record_type: type[Any], asset: str | None) -> Any:
    """(hour, label, score) of the scored items of one table, optionally of one asset,
    by the table's time (`time_column`)."""
    table = RECORD_TABLES[record_type]
    ts = time_column(table)
    score: Any = table.c.sentiment_score
    score = db.backend.number(score)  # a float of SQLite's decimal text
    query = select(
        (ts - ts % HOUR_MS).label("hour"),
        table.c.sentiment_label.label("label"),
        score.label("score"),
        ts.label("ts"),
    ).where(table.c.sentiment_label.is_not(None))
    if asset is not None:
        query = query.where(_mentions(table.c.currencies, asset))
    return query


def hourly_sentiment(
    db: Database,
    *,
    asset: str | None = None,
    start: int,
    end: int,
    kind: Kind = "all",
) -> list[HourlySentiment]:
    """Sentiment per UTC hour of the items published in `start <= ts <= end`, oldest
    first: news by publish time (first fetch time where the date is unknown), posts by
    `ts`; `asset` (a symbol) keeps the items
    that mention it, None keeps all. Hours without scored items are absent."""
    parts = []
    if kind in ("news", "all"):
        parts.append(_scored(db, NewsItem, asset))
    if kind in ("social", "all"):
        parts.append(_scored(db, SocialPost, asset))
    scored = union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
    query = (
        select(
            scored.c.hour,
            func.count(),
            func.avg(scored.c.score),
            func.sum(case((scored.c.label == "positive", 1), else_=0)),
            func.sum(case((scored.c.label == "negative", 1), else_=0)),
        )
        .where(scored.c.ts >= start, scored.c.ts <= end)
        .group_by(scored.c.hour)
        .order_by(scored.c.hour)
    )
    with db.engine.connect() as conn:
        return list(_hours(conn.execute(query)))


def _hours(rows: Iterable[Any]) -> Iterable[HourlySentiment]:
    for hour, count, mean, positive, negative in rows:
        total = Decimal(int(count))
        yield HourlySentiment(
            int(hour),
            int(count),
            None if mean is None else Decimal(str(mean)).quantize(_MEAN_PLACES),
            (Decimal(int(positive or 0)) / total).quantize(_SHARE_PLACES),
            (Decimal(int(negative or 0)) / total).quantize(_SHARE_PLACES),
        )
