"""Read paths of the catalyst ledger: events for the API, the events a new report may
repeat (dedup), the asset universe and recent news for classification.

`assets` and `urls` are JSON arrays stored as text (see `storage/tables.py`); filtering
on one element is an exact element match on both backends (`json_each` on SQLite,
`json_array_elements_text` on PostgreSQL), never a substring match on the text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, or_, text

from ohmycoins.enrich.catalysts import TOLERANCE_MS
from ohmycoins.records import CatalystEvent, NewsItem
from ohmycoins.storage.database import Database
from ohmycoins.storage.dialects import Dialect, dialect_for
from ohmycoins.storage.queries import fetch_records, select_records, time_column
from ohmycoins.storage.tables import RECORD_TABLES

EVENTS = RECORD_TABLES[CatalystEvent]
NEWS = RECORD_TABLES[NewsItem]
URL_CHUNK = 50
"""URLs looked up per query when matching reports by article."""


def _contains(backend: Dialect, column: str, param: str, value: str) -> Any:
    """`column` (a JSON array of strings) has an element equal to `value`."""
    sql = backend.json_contains(f"catalyst_events.{column}", param)
    return text(sql).bindparams(**{param: value})


def read_events(
    db: Database,
    *,
    since_ts: int | None = None,
    min_impact: int | None = None,
    event_type: str | None = None,
    asset: str | None = None,
    limit: int = 100,
) -> list[CatalystEvent]:
    """Stored events matching every filter given, newest first."""
    query = select_records(CatalystEvent)
    if since_ts is not None:
        query = query.where(EVENTS.c.ts >= since_ts)
    if min_impact is not None:
        query = query.where(EVENTS.c.impact >= min_impact)
    if event_type is not None:
        query = query.where(EVENTS.c.event_type == event_type)
    if asset is not None:
        query = query.where(_contains(db.backend, "assets", "asset", asset))
    query = query.order_by(EVENTS.c.ts.desc(), EVENTS.c.event_id).limit(limit)
    return fetch_records(db, CatalystEvent, query)


def events_near(conn: Connection, events: Sequence[CatalystEvent]) -> list[CatalystEvent]:
    """Stored events a batch of new reports may repeat: those of the same types within
    the dedup tolerance of the batch's times, and those carrying one of its URLs."""
    if not events:
        return []
    types = sorted({event.event_type for event in events})
    first = min(event.ts for event in events) - TOLERANCE_MS
    last = max(event.ts for event in events) + TOLERANCE_MS
    near = select_records(CatalystEvent).where(
        EVENTS.c.event_type.in_(types), EVENTS.c.ts.between(first, last)
    )
    found = {row.event_id: CatalystEvent(*row) for row in conn.execute(near)}
    urls = sorted({url for event in events for url in event.urls})
    backend = dialect_for(conn)
    for start in range(0, len(urls), URL_CHUNK):
        chunk = urls[start : start + URL_CHUNK]
        clauses = [_contains(backend, "urls", f"url{i}", url) for i, url in enumerate(chunk)]
        by_url = select_records(CatalystEvent).where(or_(*clauses))
        found.update({row.event_id: CatalystEvent(*row) for row in conn.execute(by_url)})
    return list(found.values())


def read_news_since(db: Database, since_ts: int) -> list[NewsItem]:
    """News items listed at or after `since_ts` (published, or first fetched where the
    date is unknown), oldest first."""
    listed = time_column(NEWS)
    query = select_records(NewsItem).where(listed >= since_ts)
    query = query.order_by(listed, NEWS.c.item_id)
    return fetch_records(db, NewsItem, query)
