"""News dates end to end on both backends: a feed dated in Portuguese, served by a
local replay server, collected by the real RSS collection, stored, served by the API
and exported. Dates in another language get their real publish time; an entry whose
date cannot be read is stored with its date unknown (`published_ts` null), listed and
windowed by its first fetch time, which is never passed off as a publish time.

tests/fixtures/rss/portuguese_dates.xml is written in the shape of a Brazilian
outlet's RSS 2.0 feed (ISO-8859-1, `pubDate` in Portuguese)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ohmycoins.collectors import news
from ohmycoins.records import NewsItem
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.rss import Rss
from ohmycoins.storage.database import Database
from ohmycoins.storage.export import ExportQuery, export_table
from ohmycoins.storage.queries import read_records
from tests.api.conftest import make_client
from tests.support.replay import Reply, replay_server

FEED = Path(__file__).resolve().parents[1] / "fixtures" / "rss" / "portuguese_dates.xml"
SEPT_24_2018 = 1_537_828_960_000  # Seg, 24 Set 2018 19:42:40 -0300
UNDATED = "https://noticias.example.com.br/criptomoedas/entrevista-futuro"
HOUR = 3_600_000


async def collect(db: Database, clock: int) -> news.FeedsReport:
    routes = {"/rss": Reply(FEED.read_bytes(), content_type="application/rss+xml")}
    async with replay_server(routes) as url, Rss(SourceSettings(rate_limit=60_000)) as api:
        return await news.collect_feeds(api, (f"{url}/rss",), db, None, clock=lambda: clock)


async def test_a_portuguese_feed_keeps_real_dates_and_says_which_are_unknown(
    db: Database,
) -> None:
    first = await collect(db, clock=SEPT_24_2018 + HOUR)
    assert [(r.result.written, r.result.quarantined) for r in first.results] == [(4, 0)]
    stored = {item.url: item for item in read_records(db, NewsItem)}
    monday = stored["https://noticias.example.com.br/criptomoedas/bitcoin-sobe-5-por-cento"]
    assert monday.published_ts == SEPT_24_2018
    undated = stored[UNDATED]
    assert undated.published_ts is None and undated.fetched_ts is not None
    assert monday.fetched_ts == undated.fetched_ts  # the fetch time in its own column

    # polled again (the undated entry is in the 48 h window by its fetch time):
    # nothing is duplicated, the date stays unknown, the first fetch time stays
    again = await collect(db, clock=SEPT_24_2018 + 2 * HOUR)
    assert [r.duplicates for r in again.results] == [0]
    after = {item.url: item for item in read_records(db, NewsItem)}
    assert len(after) == 4
    assert (after[UNDATED].published_ts, after[UNDATED].fetched_ts) == (None, undated.fetched_ts)

    with make_client(db) as api:
        body = api.get("/api/v1/news", params={"limit": 2}).json()
        rest = api.get("/api/v1/news", params={"limit": 2, "cursor": body["next"]}).json()
        dated_only = api.get("/api/v1/news", params={"end": SEPT_24_2018}).json()["data"]
        listed = api.get("/api/v1/news", params={"format": "csv"}).text
    rows = body["data"] + rest["data"]
    # newest first: the undated item by its fetch time (now), then by publish time
    assert (rows[0]["url"], rows[0]["published_ts"]) == (UNDATED, None)
    assert rows[0]["fetched_ts"] == undated.fetched_ts
    assert [row["published_ts"] for row in rows[1:]] == sorted(
        (item.published_ts for item in after.values() if item.published_ts is not None),
        reverse=True,
    )
    assert [row["url"] for row in dated_only] == [monday.url]
    csv_rows = {row["url"]: row for row in csv.DictReader(io.StringIO(listed))}
    assert csv_rows[UNDATED]["published_ts"] == ""
    assert csv_rows[UNDATED]["fetched_ts"] == str(undated.fetched_ts)

    out = io.BytesIO()
    export_table(db, ExportQuery("news_items", since=SEPT_24_2018), out, "jsonl")
    exported = {row["url"]: row for row in map(json.loads, out.getvalue().splitlines())}
    assert len(exported) == 4  # the undated item is exported too, by its fetch time
    assert exported[UNDATED]["published_ts"] is None
    assert exported[UNDATED]["fetched_ts"] == undated.fetched_ts
