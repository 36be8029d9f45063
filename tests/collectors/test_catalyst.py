"""Catalyst collectors end to end (fetch → parse → assign ids → store → publish) into
the database on both backends, through the real HTTP paths against a local server.

Bodies are the hand-written fixtures of `tests/fixtures/sec_edgar` and
`tests/fixtures/announcements` (see the source tests for where their shapes come
from); the SEC body's times are moved to just before now so they count as news.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, text

from ohmycoins.collectors.catalyst import collect_news_catalysts, default_collectors, resolve_ids
from ohmycoins.collectors.clients import Sources
from ohmycoins.collectors.ingest import store
from ohmycoins.errors import ConfigError
from ohmycoins.publish import MemoryBroker
from ohmycoins.records import CatalystEvent, QuarantinedRecord, Record
from ohmycoins.scheduling.registry import Collector, RunContext, RunOutcome
from ohmycoins.settings import AnnouncementPage, CatalystSettings, Settings, SourceSettings
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import read_records
from ohmycoins.timeframes import now_ms
from tests import factories as f
from tests.support.replay import Reply, replay_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
HOUR = 3_600_000
LIST_PATH = "/bapi/composite/v1/public/cms/article/list/query"
PEPE_LISTED = 1_683_280_800_000  # Binance's "Will List Pepe (PEPE)" release time


def _fresh_submissions() -> dict[str, Any]:
    """The IBIT submissions fixture with its filings accepted in the last hours."""
    raw = json.loads((FIXTURES / "sec_edgar" / "submissions_ibit.json").read_text())
    recent = raw["filings"]["recent"]
    now = now_ms()
    recent["acceptanceDateTime"] = [
        _iso(now - (i + 1) * HOUR) if value != "not a time" else value
        for i, value in enumerate(recent["acceptanceDateTime"])
    ]
    return raw


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _routes() -> dict[str, Any]:
    announcements = FIXTURES / "announcements"
    return {
        "/submissions/CIK0001980994.json": _fresh_submissions(),
        "/submissions/CIK0001050446.json": Reply({"error": "no such filer"}, status=404),
        "/LATEST/search-index": Reply.file(FIXTURES / "sec_edgar" / "efts_search.json"),
        f"{LIST_PATH}?catalogId=48": Reply.file(announcements / "binance_listings.json"),
        f"{LIST_PATH}?catalogId=161": Reply.file(announcements / "binance_delistings.json"),
        "/hc/en-us/sections/announcements": Reply.file(
            announcements / "coinspot_section.html", content_type="text/html"
        ),
    }


def _settings(db: Database, url: str) -> Settings:
    names = ("sec_edgar", "sec_efts", "binance_announcements", "coinspot_announcements")
    return Settings(
        database_url=db.url,
        sources={name: SourceSettings(url=url, rate_limit=60_000) for name in names},
        catalysts=CatalystSettings(
            sec_ciks=("0001980994", "0001050446"),
            announcement_pages=(
                AnnouncementPage(
                    exchange="coinspot",
                    url="https://coinspot.zendesk.com/hc/en-us/sections/announcements",
                ),
            ),
        ),
    )


async def _run(collector: Collector, db: Database) -> RunOutcome:
    context = RunContext("t", collector.name, collector.source, now_ms(), None, 1, db)
    return await collector.run(context)


async def test_every_default_collector_stores_events_once(db: Database) -> None:
    broker = MemoryBroker()
    async with replay_server(_routes()) as url:
        sources = Sources(_settings(db, url), db, broker)
        collectors = {c.name: c for c in default_collectors(sources)}
        try:
            assert set(collectors) == {
                "sec_submissions",
                "sec_full_text",
                "binance_announcements",
                "coinspot_announcements",
                "news_catalysts",
            }
            assert {c.ledger for c in collectors.values()} == {"catalyst"}
            assert collectors["sec_submissions"].calls_per_run == 2
            first = {name: await _run(c, db) for name, c in collectors.items()}
            stored = read_records(db, CatalystEvent)
            second = {name: await _run(c, db) for name, c in collectors.items()}
        finally:
            await sources.close()
    assert first["sec_submissions"].status == "partial"  # one filer answered 404
    assert first["sec_submissions"].records_written == 2  # the ETF filing and the 8-K hack
    assert first["binance_announcements"].records_written == 6
    assert first["coinspot_announcements"].records_written == 3
    assert first["sec_full_text"].records_written == 1
    assert first["binance_announcements"].records_quarantined == 2
    assert read_records(db, CatalystEvent) == stored  # a second run adds nothing new
    assert second["binance_announcements"].records_written == 6  # same rows rewritten
    assert {e.event_type for e in stored} >= {"etf", "hack", "listing", "delisting", "upgrade"}
    assert any(q.record_type == "CatalystEvent" for q in read_records(db, QuarantinedRecord))
    assert await broker.get_latest("catalyst") is not None


async def test_offline_mode_has_no_catalyst_collectors(sqlite_db: Database) -> None:
    sources = Sources(Settings(database_url=sqlite_db.url), sqlite_db, None, offline=True)
    assert default_collectors(sources) == []


async def test_disabled_sources_have_no_collectors(sqlite_db: Database) -> None:
    off = SourceSettings(enabled=False)
    settings = Settings(
        database_url=sqlite_db.url,
        sources={"sec_edgar": off, "binance_announcements": off, "coinspot_announcements": off},
    )
    sources = Sources(settings, sqlite_db, None)
    try:
        names = {c.name for c in default_collectors(sources)}
    finally:
        await sources.close()
    assert names == {"sec_full_text", "news_catalysts"}


async def test_exchange_post_and_five_outlets_are_one_stored_event(db: Database) -> None:
    store(db, [f.asset(asset_id="pepe", symbol="PEPE", name="Pepe", rank=40)], source="coingecko")
    async with replay_server(_routes()) as url:
        sources = Sources(_settings(db, url), db, None)
        binance = next(
            c for c in default_collectors(sources) if c.source == "binance_announcements"
        )
        try:
            await _run(binance, db)
        finally:
            await sources.close()
    outlets = ["CoinDesk", "Cointelegraph", "Decrypt", "The Block", "Reddit"]
    items = [
        f.news_item(
            item_id=f"n{i}",
            url=f"https://{outlet.replace(' ', '').lower()}.example/pepe",
            title=f"Binance lists memecoin PEPE ({outlet} report)",
            outlet=outlet,
            published_ts=PEPE_LISTED + (14 + i) * HOUR,  # the next morning
            currencies=(),
            sentiment_label=None,
            sentiment_score=None,
            sentiment_confidence=None,
            sentiment_model=None,
        )
        for i, outlet in enumerate(outlets)
    ]
    items.append(
        f.news_item(item_id="other", title="Bitcoin drifts sideways", published_ts=PEPE_LISTED)
    )
    store(db, items, source="rss")
    now = PEPE_LISTED + 24 * HOUR
    result = await collect_news_catalysts(db, None, 48, now=now)
    again = await collect_news_catalysts(db, None, 48, now=now)
    assert result.written == again.written == 5
    pepe = [e for e in read_records(db, CatalystEvent) if "PEPE" in e.assets]
    (event,) = pepe
    assert len(event.sources) == 6 and "binance" in event.sources
    assert len(event.urls) == 6
    assert (
        event.ts == PEPE_LISTED
        and event.title == "Binance Will List Pepe (PEPE) with Seed Tag Applied"
    )
    assert event.impact == 7  # the exchange's own score, 5 x 1.15 x 1.2; outlets give less


def test_a_page_of_an_exchange_read_otherwise_is_refused(sqlite_db: Database) -> None:
    page = AnnouncementPage(exchange="binance", url="https://www.binance.com/en/support")
    settings = Settings(
        database_url=sqlite_db.url, catalysts=CatalystSettings(announcement_pages=(page,))
    )
    sources = Sources(settings, sqlite_db, None)
    with pytest.raises(ConfigError, match="read twice"):
        default_collectors(sources)


def test_two_writers_of_one_new_event_make_one_row(postgres_db: Database) -> None:
    """Worker A has looked for the event and not found it; worker B, storing the same
    event from another source meanwhile, waits for A's write and then merges into it."""
    listing = f.catalyst_event(event_id="from-exchange", ts=now_ms(), sources=("binance",))
    report = dataclasses.replace(
        listing, event_id="from-outlet", sources=("coindesk",), urls=("https://x.test/a",)
    )
    a_resolved, release = threading.Event(), threading.Event()

    def resolve_then_wait(conn: Connection, records: Sequence[Record]) -> list[Record]:
        resolved = resolve_ids(conn, records)
        a_resolved.set()
        assert release.wait(10)
        return resolved

    a = threading.Thread(
        target=store,
        args=(postgres_db, [listing]),
        kwargs={"source": "a", "before_store": resolve_then_wait},
    )
    b = threading.Thread(
        target=store,
        args=(postgres_db, [report]),
        kwargs={"source": "b", "before_store": resolve_ids},
    )
    a.start()
    assert a_resolved.wait(10)
    b.start()
    _await_a_blocked_writer(postgres_db)
    release.set()
    a.join(10)
    b.join(10)
    (event,) = read_records(postgres_db, CatalystEvent)
    assert event.event_id == "from-exchange"
    assert set(event.sources) == {"binance", "coindesk"}


def _await_a_blocked_writer(db: Database) -> None:
    """Until a transaction waits on the catalyst writers' lock (B is queued behind A)."""
    waiting = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    deadline = time.monotonic() + 10
    with db.engine.connect() as conn:
        while conn.execute(waiting).scalar() == 0:
            assert time.monotonic() < deadline, "the second writer never waited for the lock"
            conn.rollback()
