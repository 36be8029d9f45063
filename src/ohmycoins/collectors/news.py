"""News collections (Human ledger): outlet RSS/Atom feeds, CryptoPanic, the Guardian,
NewsCatcher.

Every news collection is `collect` with one step added between parse and store:
the parsed items pass through a `NewsIndex` of the stories stored in the last 48 h
(see `ohmycoins.enrich.news_dedup`), so the same article reached by another link,
or the same story from a second outlet, is not stored twice; then through the
optional `annotate` hook (currency tagging and sentiment), then they are stored and
published on the `news` channel.

Defaults: all feeds of `[news] feeds` every 15 minutes in one collector (a feed that
fails does not fail the others: the run is partial), and the keyed sources within
their free quotas, disabled with "no API key" until their key is set.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ohmycoins.collectors.clients import Sources
from ohmycoins.collectors.collect import (
    NO_KEY,
    EachReport,
    collect,
    collect_each,
    combined,
    outcome,
)
from ohmycoins.collectors.ingest import StoreResult
from ohmycoins.enrich.annotate import Annotator
from ohmycoins.enrich.news_dedup import WINDOW_MS, NewsIndex
from ohmycoins.enrich.sentiment import load_model
from ohmycoins.enrich.tagging import load_tagger
from ohmycoins.publish import Broker
from ohmycoins.records import NewsItem, SocialPost
from ohmycoins.scheduling.registry import Collector, Ledger, RunContext, RunOutcome
from ohmycoins.scheduling.schedule import Schedule
from ohmycoins.sources import cryptopanic, guardian, newscatcher, rss
from ohmycoins.sources.parsing import Parsed
from ohmycoins.storage.database import Database
from ohmycoins.storage.reads.human import news_keys_since
from ohmycoins.storage.reads.market import read_assets
from ohmycoins.timeframes import HOUR_MS, now_ms

Annotate = Callable[[list[NewsItem | SocialPost]], list[NewsItem | SocialPost]]
"""A step run on parsed news items and social posts before they are stored (currency
tagging, sentiment); it returns the records to store."""

Raw = TypeVar("Raw")

LEDGER: Ledger = "human"
RSS_EVERY_S = 15 * 60


@dataclass(frozen=True, slots=True)
class NewsResult:
    """What one news collection did: what was stored, and how many copies were kept out."""

    result: StoreResult
    duplicates: int


def recent_news(db: Database, since_ms: int) -> NewsIndex:
    """An index of the stories stored with a publication time from `since_ms` on (or,
    where their date is unknown, first fetched from then on)."""
    index = NewsIndex()
    for item_id, title, outlet, published_ts in news_keys_since(db, since_ms):
        index.remember(item_id, title, outlet, published_ts)
    return index


def annotated(records: list[Any], annotate: Annotate | None) -> list[Any]:
    """`records` after the annotate hook (unchanged without one)."""
    if annotate is None:
        return records
    batch: list[NewsItem | SocialPost] = list(records)
    return list(annotate(batch))


TAGGER_REFRESH_MS = HOUR_MS
"""How often the tagger re-reads the asset universe (it changes with the top-N)."""


def annotator_for(db: Database, model_path: str | None) -> Annotate:
    """Tags and sentiment for news and posts, with the universe re-read hourly."""
    annotator = Annotator(load_tagger(read_assets(db, active_only=True)), load_model(model_path))
    loaded = now_ms()

    def annotate(records: list[NewsItem | SocialPost]) -> list[NewsItem | SocialPost]:
        nonlocal loaded
        if now_ms() - loaded >= TAGGER_REFRESH_MS:
            annotator.refresh_tagger(read_assets(db, active_only=True))
            loaded = now_ms()
        return annotator(records)

    return annotate


async def collect_news(
    db: Database,
    broker: Broker | None,
    source: str,
    fetch: Callable[[], Awaitable[Raw]],
    parse: Callable[[Raw, int], Parsed[NewsItem]],
    *,
    index: NewsIndex | None = None,
    annotate: Annotate | None = None,
    clock: Callable[[], int] = now_ms,
) -> NewsResult:
    """fetch → parse → keep out copies of known stories → annotate → store → publish.

    `index` carries the recent stories across several collections of one run (the
    feeds of the RSS collector); without it they are read from the database: those
    published in the `WINDOW_MS` before `clock()`."""
    since = clock() - WINDOW_MS
    known = index if index is not None else await asyncio.to_thread(recent_news, db, since)
    duplicates = 0

    def admit(raw: Raw, at: int) -> Parsed[Any]:
        nonlocal duplicates
        parsed = parse(raw, at)
        kept, copies = known.admit(parsed.records)
        duplicates = len(copies)
        return Parsed(annotated(kept, annotate), parsed.violations)

    result = await collect(db, broker, source, fetch, admit)
    return NewsResult(result, duplicates)


FeedsReport = EachReport[str, NewsResult]
"""One RSS run over several feeds: what each stored, and which failed and why."""


async def collect_feeds(
    api: rss.Rss,
    feeds: tuple[str, ...],
    db: Database,
    broker: Broker | None,
    annotate: Annotate | None = None,
    clock: Callable[[], int] = now_ms,
) -> FeedsReport:
    """Every feed in turn, deduplicated against each other and the stored stories. A
    feed that fails (network, HTTP error, not a feed, too large) is reported and the
    next one is read; only when every feed fails is the first error raised."""
    index = await asyncio.to_thread(recent_news, db, clock() - WINDOW_MS)

    async def one(url: str) -> NewsResult:
        fetch = functools.partial(api.fetch_feed, url)
        return await collect_news(
            db, broker, rss.NAME, fetch, rss.parse_feed, index=index, annotate=annotate
        )

    return await collect_each(feeds, one, "feed")


def news_outcome(results: list[NewsResult], problem: str | None = None) -> RunOutcome:
    """A run's outcome: copies kept out count as neither stored nor quarantined (a feed
    repeating yesterday's stories is complete, not short)."""
    return outcome(combined([r.result for r in results]), problem=problem)


def default_collectors(sources: Sources, annotate: Annotate | None = None) -> list[Collector]:
    """RSS feeds every 15 minutes; CryptoPanic hourly, the Guardian every 15 minutes
    (96 of its 500 free calls a day), NewsCatcher hourly; nothing in offline mode."""
    if sources.offline:
        return []
    collectors: list[Collector] = []
    if sources.settings.source(rss.NAME).enabled:
        collectors.append(_rss_collector(sources, annotate))
    keyed: list[tuple[str, str, Callable[[Sources], Keyed], float, int]] = [
        ("cryptopanic_news", cryptopanic.NAME, _cryptopanic, 3600, 4),
        ("guardian_news", guardian.NAME, _guardian, 900, 3),
        ("newscatcher_news", newscatcher.NAME, _newscatcher, 3600, 3),
    ]
    for name, source, build, every_s, priority in keyed:
        settings = sources.settings.source(source)
        if not settings.enabled:
            continue
        fetch, parse = build(sources)
        run = _keyed_run(sources, source, fetch, parse, annotate)
        has_key = settings.api_key is not None
        collectors.append(
            Collector(
                name,
                LEDGER,
                source,
                Schedule.every(every_s),
                run,
                priority=priority,
                enabled=has_key,
                disabled_reason=None if has_key else NO_KEY,
            )
        )
    return collectors


Keyed = tuple[Callable[[], Awaitable[Any]], Callable[[Any, int], Parsed[NewsItem]]]


def _rss_collector(sources: Sources, annotate: Annotate | None) -> Collector:
    api = sources.keep(rss.Rss(sources.settings.source(rss.NAME), **sources.http_options))
    feeds = sources.settings.news.feeds

    async def run(_context: RunContext) -> RunOutcome:
        report = await collect_feeds(api, feeds, sources.db, sources.broker, annotate)
        return news_outcome(report.results, report.problem)

    return Collector(
        "rss_news",
        LEDGER,
        rss.NAME,
        Schedule.every(RSS_EVERY_S),
        run,
        priority=4,
        calls_per_run=len(feeds),
    )


def _keyed_run(
    sources: Sources,
    source: str,
    fetch: Callable[[], Awaitable[Any]],
    parse: Callable[[Any, int], Parsed[NewsItem]],
    annotate: Annotate | None,
) -> Callable[[RunContext], Awaitable[RunOutcome]]:
    async def run(_context: RunContext) -> RunOutcome:
        result = await collect_news(
            sources.db, sources.broker, source, fetch, parse, annotate=annotate
        )
        return news_outcome([result])

    return run


def _cryptopanic(sources: Sources) -> Keyed:
    settings = sources.settings.source(cryptopanic.NAME)
    api = sources.keep(cryptopanic.CryptoPanic(settings, **sources.http_options))
    return api.fetch_posts, cryptopanic.parse_posts


def _guardian(sources: Sources) -> Keyed:
    settings = sources.settings.source(guardian.NAME)
    api = sources.keep(guardian.Guardian(settings, **sources.http_options))
    return api.fetch_search, guardian.parse_search


def _newscatcher(sources: Sources) -> Keyed:
    settings = sources.settings.source(newscatcher.NAME)
    api = sources.keep(newscatcher.NewsCatcher(settings, **sources.http_options))
    return api.fetch_search, newscatcher.parse_search
