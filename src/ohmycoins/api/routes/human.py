"""The human ledger: news, social posts and hourly sentiment per asset."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from ohmycoins.api.deps import (
    BadParameterError,
    Cursor,
    DbDep,
    End,
    Format,
    Limit,
    Start,
    check_range,
)
from ohmycoins.api.encode import (
    PAGED_RESPONSES,
    cursor_key,
    json_response,
    page_cursor,
    page_response,
    row_of,
)
from ohmycoins.api.schemas_human import NewsOut, NewsPage, SentimentSeries, SocialOut, SocialPage
from ohmycoins.records import NewsItem, SocialPost
from ohmycoins.storage.reads import human as human_reads
from ohmycoins.timeframes import DAY_MS, now_ms

router = APIRouter(tags=["human"])

NEWS_COLUMNS = tuple(NewsOut.model_fields)
SOCIAL_COLUMNS = tuple(SocialOut.model_fields)
SENTIMENT_COLUMNS = ("ts", "count", "mean_score", "share_positive", "share_negative")
DEFAULT_SPAN_MS = 7 * DAY_MS
MAX_SPAN_MS = 366 * DAY_MS

Currency = Annotated[
    str | None,
    Query(
        pattern=r"^[A-Za-z0-9]{1,20}$",
        description="Only items mentioning this symbol, e.g. `BTC`.",
        examples=["BTC"],
    ),
]
Name = Annotated[str | None, Query(pattern=r"^[a-z0-9_]{1,40}$")]
Text = Annotated[str | None, Query(min_length=1, max_length=200)]


def _row(record: NewsItem | SocialPost, columns: tuple[str, ...], fmt: str) -> dict[str, Any]:
    """A record's fields; its currencies as a list (JSON) or space-separated (CSV)."""
    row = row_of(record, columns)
    row["currencies"] = " ".join(record.currencies) if fmt == "csv" else list(record.currencies)
    return row


@router.get("/news", response_model=NewsPage, responses=PAGED_RESPONSES)
def news(
    db: DbDep,
    currency: Currency = None,
    start: Start = None,
    end: End = None,
    source: Name = None,
    outlet: Text = None,
    limit: Limit = 100,
    cursor: Cursor = None,
    format: Format = "json",
) -> Response:
    """News items newest first by publish time (`start <= published_ts <= end`); an item
    whose date could not be read has `published_ts` null and is listed by `fetched_ts`."""
    check_range(start, end)
    page = human_reads.read_news(
        db,
        currency=currency.upper() if currency else None,
        start=start,
        end=end,
        source=source,
        outlet=outlet,
        limit=limit,
        after=cursor_key(cursor, "desc", 2),
    )
    next_cursor = page_cursor(page, "desc", "listed_ts", "item_id")
    rows = [_row(item, NEWS_COLUMNS, format) for item in page.rows]
    return page_response(rows, NewsOut, next_cursor, format)


@router.get("/social", response_model=SocialPage, responses=PAGED_RESPONSES)
def social(
    db: DbDep,
    platform: Name = None,
    community: Text = None,
    currency: Currency = None,
    start: Start = None,
    end: End = None,
    limit: Limit = 100,
    cursor: Cursor = None,
    format: Format = "json",
) -> Response:
    """Social posts newest first (`start <= ts <= end`), paged by `next`."""
    check_range(start, end)
    page = human_reads.read_social(
        db,
        platform=platform,
        community=community,
        currency=currency.upper() if currency else None,
        start=start,
        end=end,
        limit=limit,
        after=cursor_key(cursor, "desc", 3),
    )
    next_cursor = page_cursor(page, "desc", "ts", "platform", "post_id")
    rows = [_row(post, SOCIAL_COLUMNS, format) for post in page.rows]
    return page_response(rows, SocialOut, next_cursor, format)


@router.get("/sentiment", response_model=SentimentSeries)
def sentiment(
    db: DbDep,
    asset: Currency = None,
    start: Start = None,
    end: End = None,
    kind: Annotated[
        human_reads.Kind, Query(description="`news`, `social` or `all` (both).")
    ] = "all",
) -> Response:
    """Hourly sentiment of the items mentioning `asset` (all items if none): count, mean
    score, shares positive and negative. Defaults to the last 7 days; at most 366."""
    end = now_ms() if end is None else end
    start = max(0, end - DEFAULT_SPAN_MS) if start is None else start
    check_range(start, end)
    if end - start > MAX_SPAN_MS:
        raise BadParameterError("start", "the range spans more than 366 days")
    symbol = asset.upper() if asset else None
    hours = human_reads.hourly_sentiment(db, asset=symbol, start=start, end=end, kind=kind)
    data = [row_of(hour, SENTIMENT_COLUMNS) for hour in hours]
    return json_response({"asset": symbol, "kind": kind, "start": start, "end": end, "data": data})
