"""News and social collections end to end (fetch → parse → dedup → annotate → store →
publish) through their real HTTP path against a local replay server, on both
database backends: deduplication across outlets and across runs, feeds that fail
beside feeds that work, and bodies that are not what they claim to be.

The bodies are the small fixtures of tests/fixtures (see the source tests for how
each was written)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from ohmycoins.collectors import news, social
from ohmycoins.collectors.clients import Sources
from ohmycoins.errors import BannedError, PayloadError, RateLimitedError, SourceError
from ohmycoins.publish import MemoryBroker
from ohmycoins.records import NewsItem, QuarantinedRecord, SocialPost
from ohmycoins.scheduling.registry import Collector, RunContext, RunOutcome
from ohmycoins.settings import NewsSettings, Settings, SourceSettings
from ohmycoins.sources.rss import MAX_FEED_BYTES, Rss
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import read_records
from tests.support.replay import Reply, replay_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
NOW = 1_709_665_200_000  # 2024-03-05T19:00:00Z, hours after the fixtures' stories
HOUR = 3_600_000
FAST = SourceSettings(rate_limit=600_000)


def fixture(name: str, content_type: str = "application/json") -> Reply:
    return Reply.file(FIXTURES / name, content_type=content_type)


def feed(name: str) -> Reply:
    return fixture(f"rss/{name}", "application/rss+xml")


FEEDS = {
    "/coindesk/rss": feed("coindesk.xml"),
    "/cointelegraph/rss": feed("cointelegraph.xml"),
    "/decrypt/feed": feed("decrypt.atom"),
}


@pytest.fixture
async def opened() -> AsyncIterator[Callable[..., Sources]]:
    """Builds `Sources` for a test and closes every client it opened."""
    made: list[Sources] = []

    def build(db: Database, offline: bool = False, **settings: Any) -> Sources:
        sources = Sources(Settings(**settings), db, MemoryBroker(), offline=offline)
        made.append(sources)
        return sources

    yield build
    for sources in made:
        await sources.close()


def context(db: Database, collector: Collector, cursor: str | None = None) -> RunContext:
    return RunContext(collector.name, collector.name, collector.source, NOW, cursor, 1, db)


def by_name(collectors: list[Collector]) -> dict[str, Collector]:
    return {c.name: c for c in collectors}


UNDATED = (
    "https://www.coindesk.com/consensus-magazine/2024/03/03/"
    "crypto-long-short-what-the-halving-means-for-miners"
)


def stored_news(db: Database) -> dict[str, NewsItem]:
    return {item.url: item for item in read_records(db, NewsItem)}


async def test_feeds_deduplicate_across_outlets_and_runs(db: Database) -> None:
    broker = MemoryBroker()
    async with replay_server(FEEDS) as url, Rss(FAST, attempts=1) as api:
        first = await news.collect_feeds(
            api, (f"{url}/coindesk/rss", f"{url}/decrypt/feed"), db, broker, clock=lambda: NOW
        )
        undated = stored_news(db)[UNDATED]
        assert undated.published_ts is None  # no date in the feed: unknown, not the fetch time
        assert undated.fetched_ts is not None
        later = await news.collect_feeds(
            api, (f"{url}/cointelegraph/rss",), db, broker, clock=lambda: NOW + HOUR
        )
        again = await news.collect_feeds(
            api, (f"{url}/coindesk/rss",), db, None, clock=lambda: NOW + 2 * HOUR
        )
    assert [r.result.written for r in first.results] == [3, 2]
    assert first.results[0].result.quarantined == 1  # the podcast entry without a link
    [copy_run] = later.results
    assert (copy_run.result.written, copy_run.duplicates) == (1, 1)
    stored = stored_news(db)
    assert len(stored) == 6
    assert "https://cointelegraph.com/news/bitcoin-tops-69k-new-all-time-high" not in stored
    assert "https://cointelegraph.com/news/solana-dex-volume-surpasses-ethereum" in stored
    [rerun] = again.results
    assert (rerun.result.written, rerun.duplicates) == (3, 0)  # same rows, merged again
    # a later poll keeps its date unknown and its first fetch time
    assert (stored[UNDATED].published_ts, stored[UNDATED].fetched_ts) == (None, undated.fetched_ts)
    latest = await broker.get_latest("news")
    assert latest is not None and latest["type"] == "news_items"


@pytest.mark.parametrize(("status", "error"), [(418, BannedError), (429, RateLimitedError)])
async def test_a_ban_or_rate_limit_stops_the_run_at_once(
    db: Database, opened: Callable[..., Sources], status: int, error: type[SourceError]
) -> None:
    """Every further call would fail the same way (and a ban grows): the run ends with
    the error, for the runner's breaker, and the feeds after it are not asked."""
    routes = {**FEEDS, "/stop": Reply("stop", status=status)}
    async with replay_server(routes) as url:
        paths = ("/decrypt/feed", "/stop", "/coindesk/rss")
        sources = opened(
            db,
            sources={"rss": FAST},
            news=NewsSettings(feeds=tuple(f"{url}{path}" for path in paths)),
        )
        rss_news = by_name(news.default_collectors(sources))["rss_news"]
        with pytest.raises(error):
            await rss_news.run(context(db, rss_news))
    assert [r.path for r in url.requests] == ["/decrypt/feed", "/stop"]
    assert {item.outlet for item in read_records(db, NewsItem)} == {"Decrypt"}


async def test_rss_collector_is_partial_when_some_feeds_fail(
    db: Database, opened: Callable[..., Sources]
) -> None:
    huge = b"<rss>" + b"x" * MAX_FEED_BYTES + b"</rss>"
    routes = {
        **FEEDS,
        "/html": Reply("<html><body>Just a moment...</body></html>", content_type="text/html"),
        "/empty": Reply(b"", content_type="application/rss+xml"),
        "/huge": Reply(huge, content_type="application/rss+xml"),
        "/broken": fixture("rss/malformed.xml", "application/xml"),
        "/down": Reply("upstream error", status=502),
    }
    async with replay_server(routes) as url:
        paths = ("/decrypt/feed", "/html", "/empty", "/huge", "/broken", "/down")
        sources = opened(
            db,
            sources={"rss": FAST},
            news=NewsSettings(feeds=tuple(f"{url}{path}" for path in paths)),
        )
        rss_news = by_name(news.default_collectors(sources))["rss_news"]
        outcome = await rss_news.run(context(db, rss_news))
    assert rss_news.calls_per_run == 6
    assert outcome.status == "partial" and outcome.problem is not None
    assert outcome.problem.startswith("5 of 6 feed(s) failed")
    for path in paths[1:]:
        assert f"{url}{path}" in outcome.problem
    assert outcome.records_written == 2 and outcome.records_quarantined == 0
    assert {item.outlet for item in read_records(db, NewsItem)} == {"Decrypt"}
    assert read_records(db, QuarantinedRecord) == []


async def test_rss_collector_fails_when_every_feed_fails(
    db: Database, opened: Callable[..., Sources]
) -> None:
    async with replay_server({"/html": Reply("<html></html>", content_type="text/html")}) as url:
        sources = opened(db, sources={"rss": FAST}, news=NewsSettings(feeds=(f"{url}/html",)))
        rss_news = by_name(news.default_collectors(sources))["rss_news"]
        with pytest.raises(PayloadError, match="not an RSS or Atom feed"):
            await rss_news.run(context(db, rss_news))
    assert read_records(db, NewsItem) == []


def test_keyed_news_collectors_without_keys_are_disabled(db: Database, opened: Any) -> None:
    collectors = by_name(news.default_collectors(opened(db)))
    assert sorted(collectors) == [
        "cryptopanic_news",
        "guardian_news",
        "newscatcher_news",
        "rss_news",
    ]
    for name in ("cryptopanic_news", "guardian_news", "newscatcher_news"):
        assert not collectors[name].enabled
        assert collectors[name].disabled_reason == "no API key"
        assert collectors[name].ledger == "human"
    assert (
        collectors["rss_news"].enabled and collectors["rss_news"].schedule.interval_seconds == 900
    )


def test_offline_and_disabled_sources_have_no_collectors(db: Database, opened: Any) -> None:
    assert news.default_collectors(opened(db, offline=True)) == []
    assert social.default_collectors(opened(db, offline=True)) == []
    off = {name: SourceSettings(enabled=False) for name in ("rss", "guardian", "reddit", "x")}
    assert sorted(c.name for c in news.default_collectors(opened(db, sources=off))) == [
        "cryptopanic_news",
        "newscatcher_news",
    ]
    assert social.default_collectors(opened(db, sources=off)) == []


def tag_and_score(records: list[NewsItem | SocialPost]) -> list[NewsItem | SocialPost]:
    """A stand-in for the tagging and sentiment step: marks what it saw."""
    return [
        dataclasses.replace(r, currencies=(*r.currencies, "TAGGED"), sentiment_label="neutral")
        for r in records
    ]


async def test_cryptopanic_collector_with_key_and_annotate(
    db: Database, opened: Callable[..., Sources]
) -> None:
    routes = {"/api/v1/posts/": fixture("cryptopanic/posts.json")}
    async with replay_server(routes) as url:
        keyed = SourceSettings(url=f"{url}/api/v1", api_key="TOKEN", rate_limit=600_000)
        sources = opened(db, sources={"cryptopanic": keyed})
        collector = by_name(news.default_collectors(sources, tag_and_score))["cryptopanic_news"]
        outcome = await collector.run(context(db, collector))
    assert collector.enabled and collector.calls_per_run == 1
    assert (outcome.records_written, outcome.records_quarantined, outcome.status) == (4, 0, "ok")
    items = {item.title: item for item in read_records(db, NewsItem)}
    rally = items["Ethereum and Solana lead altcoin rally as Bitcoin nears record"]
    assert rally.currencies == ("ETH", "SOL", "BTC", "TAGGED")
    assert rally.sentiment_label == "neutral" and rally.source == "cryptopanic"
    undated = items["Post without a publication time"]  # stored, its date unknown
    assert undated.published_ts is None and undated.fetched_ts is not None
    assert read_records(db, QuarantinedRecord) == []


async def test_html_instead_of_json_stores_nothing(
    db: Database, opened: Callable[..., Sources]
) -> None:
    page = Reply(
        "<!DOCTYPE html><html><body>Service Unavailable</body></html>", content_type="text/html"
    )
    async with replay_server({"/search": page}) as url:
        keyed = SourceSettings(url=url, api_key="k", rate_limit=600_000)
        sources = opened(db, sources={"guardian": keyed})
        collector = by_name(news.default_collectors(sources))["guardian_news"]
        with pytest.raises(PayloadError, match="not JSON"):
            await collector.run(context(db, collector))
    assert read_records(db, NewsItem) == [] and read_records(db, QuarantinedRecord) == []


async def test_reddit_collector_partial_and_idempotent(
    db: Database, opened: Callable[..., Sources]
) -> None:
    forbidden = Reply({"reason": "private", "message": "Forbidden", "error": 403}, status=403)
    routes = {
        "/r/Bitcoin/new.json": fixture("reddit/new_bitcoin.json"),
        "/r/secret/new.json": forbidden,
    }
    async with replay_server(routes) as url:
        sources = opened(
            db,
            sources={"reddit": SourceSettings(url=url, rate_limit=600_000)},
            news=NewsSettings(subreddits=("Bitcoin", "r/secret")),
        )
        collector = by_name(social.default_collectors(sources, tag_and_score))["reddit_posts"]
        first = await collector.run(context(db, collector))
        second = await collector.run(context(db, collector))
    assert collector.schedule.interval_seconds == 900 and collector.calls_per_run == 2
    assert first.status == "partial" and "r/secret" in (first.problem or "")
    assert (first.records_written, first.records_quarantined) == (2, 1)
    assert second.records_written == 2
    posts = read_records(db, SocialPost)
    assert [p.post_id for p in posts] == ["t3_1b7w9q", "t3_1b7x2k"]
    assert all(p.currencies == ("TAGGED",) for p in posts)
    latest = await sources.broker.get_latest("social") if sources.broker else None
    assert latest is not None and latest["platform"] == "reddit"


async def test_x_collector_moves_its_cursor(db: Database, opened: Callable[..., Sources]) -> None:
    routes = {"/2/tweets/search/recent": fixture("x/search_recent.json")}
    async with replay_server(routes) as url:
        keyed = SourceSettings(url=f"{url}/2", api_key="bearer", rate_limit=600_000)
        sources = opened(db, sources={"x": keyed}, news=NewsSettings(x_query="bitcoin"))
        collector = by_name(social.default_collectors(sources))["x_posts"]
        outcome: RunOutcome = await collector.run(context(db, collector))
        await collector.run(context(db, collector, cursor=outcome.cursor))
    assert collector.enabled and collector.schedule.interval_seconds == 6 * 3600
    assert outcome.cursor == "1765031234567890123"
    assert (outcome.records_written, outcome.records_quarantined) == (2, 1)
    first, second = url.requests
    assert "since_id" not in first.query and second.query["since_id"] == outcome.cursor
    assert first.query["query"] == "bitcoin"
    assert len(read_records(db, SocialPost)) == 2


def test_x_without_key_is_disabled(db: Database, opened: Any) -> None:
    collectors = by_name(social.default_collectors(opened(db)))
    assert collectors["x_posts"].disabled_reason == "no API key"
    assert collectors["reddit_posts"].enabled


async def test_source_errors_keep_stored_news(db: Database, opened: Callable[..., Sources]) -> None:
    async with replay_server({"/coindesk/rss": feed("coindesk.xml")}) as url:
        sources = opened(
            db, sources={"rss": FAST}, news=NewsSettings(feeds=(f"{url}/coindesk/rss",))
        )
        rss_news = by_name(news.default_collectors(sources))["rss_news"]
        await rss_news.run(context(db, rss_news))
    stored = read_records(db, NewsItem)
    async with replay_server({}) as url:
        sources = opened(
            db, sources={"rss": FAST}, news=NewsSettings(feeds=(f"{url}/coindesk/rss",))
        )
        rss_news = by_name(news.default_collectors(sources))["rss_news"]
        with pytest.raises(SourceError, match="HTTP 404"):
            await rss_news.run(context(db, rss_news))
    assert read_records(db, NewsItem) == stored and len(stored) == 3
