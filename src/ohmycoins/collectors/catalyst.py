"""Catalyst collections: SEC filings, exchange announcements and events found in
stored news, into `catalyst_events`.

Every collection is fetch → parse → assign ids → store → publish: between parsing and
storing, each new report takes the id of the stored event it repeats (same type,
exchange and assets within 36 h, or the same article URL; see `ohmycoins.enrich.catalysts`),
so re-running a collection, or hearing of an event from one more source, never adds a
row: the stored row gains the source, URL and, if higher, the impact.

`default_collectors(sources)` registers (ledger `catalyst`, no key needed):

| name                    | source                 | every  | priority |
|-------------------------|------------------------|--------|----------|
| sec_submissions         | sec_edgar              | 30 min | 4        |
| sec_full_text           | sec_efts               | 1 h    | 3        |
| binance_announcements   | binance_announcements  | 15 min | 5        |
| <exchange>_announcements| <exchange>_announcements | 1 h  | 3        |
| news_catalysts          | news_catalysts         | 15 min | 4        |
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import Connection

from ohmycoins.collectors.clients import Sources
from ohmycoins.collectors.collect import Raw, collect, collect_each, each_outcome, outcome
from ohmycoins.collectors.ingest import StoreResult
from ohmycoins.enrich.catalysts import Universe, assign_ids, classify_news
from ohmycoins.errors import ConfigError
from ohmycoins.publish import Broker
from ohmycoins.records import CatalystEvent, Record
from ohmycoins.scheduling.registry import Collector, Ledger, RunContext, RunOutcome
from ohmycoins.scheduling.schedule import Schedule
from ohmycoins.settings import AnnouncementPage
from ohmycoins.sources.announcements import (
    BINANCE_CATALOGS,
    BINANCE_NAME,
    AnnouncementPages,
    BinanceAnnouncements,
    parse_announcement_page,
    parse_binance_articles,
    render_page,
    source_name,
)
from ohmycoins.sources.parsing import Parsed
from ohmycoins.sources.sec_edgar import (
    EFTS_NAME,
    SecEdgar,
    SecFullText,
    parse_full_text,
    parse_submissions,
)
from ohmycoins.sources.sec_edgar import (
    NAME as SEC_NAME,
)
from ohmycoins.storage.database import Database, serialize_writers
from ohmycoins.storage.reads import catalyst as catalyst_reads
from ohmycoins.storage.reads import market as market_reads
from ohmycoins.timeframes import DAY_MS, HOUR_MS, iso_date, now_ms

LEDGER: Ledger = "catalyst"
NEWS_SOURCE = "news_catalysts"
FILING_MAX_AGE_MS = 30 * DAY_MS
"""Filings older than this at a run are history, not news: they are not stored."""
FULL_TEXT_DAYS = 7
"""The date range each full-text search covers, ending today."""


def resolve_ids(conn: Connection, records: Sequence[Record]) -> list[Record]:
    """`records` with the ids of the stored events they repeat (see `assign_ids`), in a
    write transaction no other catalyst writer shares: two workers storing the same
    new event at once still make one row."""
    events = [r for r in records if isinstance(r, CatalystEvent)]
    if not events:
        return list(records)  # nothing to match: no need to hold every writer off
    serialize_writers(conn, CatalystEvent.TABLE)
    known = catalyst_reads.events_near(conn, events)
    return [*assign_ids(events, known), *(r for r in records if not isinstance(r, CatalystEvent))]


async def collect_events(
    db: Database,
    broker: Broker | None,
    source: str,
    fetch: Callable[[], Awaitable[Raw]],
    parse: Callable[[Raw, int], Parsed[CatalystEvent]],
) -> StoreResult:
    """`collect` for catalyst events: their ids are resolved against the stored events
    in the write transaction (`resolve_ids`)."""
    return await collect(db, broker, source, fetch, parse, before_store=resolve_ids)


async def collect_news_catalysts(
    db: Database, broker: Broker | None, hours: int, *, now: int | None = None
) -> StoreResult:
    """Classify the news items stored in the last `hours` into catalyst events."""
    since = (now_ms() if now is None else now) - hours * HOUR_MS

    async def fetch() -> tuple[list[Any], list[Any]]:
        items = await asyncio.to_thread(catalyst_reads.read_news_since, db, since)
        assets = await asyncio.to_thread(market_reads.read_assets, db)
        return items, assets

    def parse(raw: tuple[list[Any], list[Any]], _at: int) -> Parsed[CatalystEvent]:
        return Parsed(classify_news(*raw))

    return await collect_events(db, broker, NEWS_SOURCE, fetch, parse)


async def universe_of(db: Database) -> Universe:
    return Universe.of(await asyncio.to_thread(market_reads.read_assets, db))


def default_collectors(sources: Sources) -> list[Collector]:
    """The catalyst collectors of the module docstring; none offline (the demo)."""
    if sources.offline:
        return []
    settings = sources.settings
    pages = [source_name(page.exchange) for page in settings.catalysts.announcement_pages]
    for name in pages:
        if name == BINANCE_NAME or pages.count(name) > 1:
            raise ConfigError("catalysts.announcement_pages", name, "read twice")
    collectors: list[Collector] = []
    if settings.source(SEC_NAME).enabled:
        collectors.append(_sec_submissions(sources))
    if settings.source(EFTS_NAME).enabled:
        collectors.append(_sec_full_text(sources))
    if settings.source(BINANCE_NAME).enabled:
        collectors.append(_binance(sources))
    for page in settings.catalysts.announcement_pages:
        if settings.source(source_name(page.exchange)).enabled:
            collectors.append(_announcement_page(sources, page))
    collectors.append(_news(sources))
    return collectors


def _sec_submissions(sources: Sources) -> Collector:
    catalysts = sources.settings.catalysts
    api = sources.keep(
        SecEdgar(
            sources.settings.source(SEC_NAME),
            user_agent=catalysts.sec_user_agent,
            **sources.http_options,
        )
    )

    async def run(_context: RunContext) -> RunOutcome:
        universe = await universe_of(sources.db)

        async def one(cik: str) -> StoreResult:
            return await collect_events(
                sources.db,
                sources.broker,
                SEC_NAME,
                lambda: api.fetch_submissions(cik),
                lambda raw, at: parse_submissions(
                    raw, cik, universe, since_ms=at - FILING_MAX_AGE_MS
                ),
            )

        report = await collect_each(catalysts.sec_ciks, one, "CIK")
        return each_outcome(report)

    return Collector(
        "sec_submissions",
        LEDGER,
        SEC_NAME,
        Schedule.every(1800),
        run,
        priority=4,
        calls_per_run=len(catalysts.sec_ciks),
    )


def _sec_full_text(sources: Sources) -> Collector:
    catalysts = sources.settings.catalysts
    api = sources.keep(
        SecFullText(
            sources.settings.source(EFTS_NAME),
            user_agent=catalysts.sec_user_agent,
            **sources.http_options,
        )
    )

    async def run(context: RunContext) -> RunOutcome:
        universe = await universe_of(sources.db)
        end = iso_date(context.due_ts)
        start = iso_date(context.due_ts - FULL_TEXT_DAYS * DAY_MS)
        result = await collect_events(
            sources.db,
            sources.broker,
            EFTS_NAME,
            lambda: api.fetch_search(catalysts.efts_query, catalysts.efts_forms, start, end),
            lambda raw, _at: parse_full_text(raw, universe),
        )
        return outcome(result)

    return Collector("sec_full_text", LEDGER, EFTS_NAME, Schedule.every(3600), run, priority=3)


def _binance(sources: Sources) -> Collector:
    api = sources.keep(
        BinanceAnnouncements(sources.settings.source(BINANCE_NAME), **sources.http_options)
    )

    async def run(_context: RunContext) -> RunOutcome:
        universe = await universe_of(sources.db)

        async def one(catalog: int) -> StoreResult:
            return await collect_events(
                sources.db,
                sources.broker,
                BINANCE_NAME,
                lambda: api.fetch_articles(catalog),
                lambda raw, _at: parse_binance_articles(raw, catalog, universe),
            )

        report = await collect_each(tuple(BINANCE_CATALOGS), one, "catalog")
        return each_outcome(report)

    return Collector(
        "binance_announcements",
        LEDGER,
        BINANCE_NAME,
        Schedule.every(900),
        run,
        priority=5,
        calls_per_run=len(BINANCE_CATALOGS),
    )


def _announcement_page(sources: Sources, page: AnnouncementPage) -> Collector:
    name = source_name(page.exchange)
    api = sources.keep(
        AnnouncementPages(
            page.exchange, page.url, sources.settings.source(name), **sources.http_options
        )
    )
    chromium = sources.settings.chromium

    async def fetch() -> str:
        if page.render:
            return await render_page(api.url, chromium=chromium)
        return await api.fetch_page()

    async def run(_context: RunContext) -> RunOutcome:
        universe = await universe_of(sources.db)
        result = await collect_events(
            sources.db,
            sources.broker,
            name,
            fetch,
            lambda html, at: parse_announcement_page(html, api.url, page.exchange, at, universe),
        )
        return outcome(result)

    return Collector(name, LEDGER, name, Schedule.every(3600), run, priority=3)


def _news(sources: Sources) -> Collector:
    hours = sources.settings.catalysts.news_hours

    async def run(_context: RunContext) -> RunOutcome:
        return outcome(await collect_news_catalysts(sources.db, sources.broker, hours))

    return Collector(
        "news_catalysts",
        LEDGER,
        NEWS_SOURCE,
        Schedule.every(900),
        run,
        priority=4,
        calls_per_run=0,
    )
