"""An announcement page whose list only JavaScript builds, read through a real headless
Chromium driven by Playwright, against a local server.

Uses the system Chromium (`/usr/bin/chromium`, never `playwright install`); skips when
it is absent, unless OMC_TEST_CHROMIUM names it (as CI does, and then it must run).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ohmycoins.collectors.catalyst import default_collectors
from ohmycoins.collectors.clients import Sources
from ohmycoins.enrich.catalysts import Universe
from ohmycoins.errors import SourceError
from ohmycoins.records import CatalystEvent
from ohmycoins.scheduling.registry import RunContext
from ohmycoins.settings import AnnouncementPage, CatalystSettings, Settings, SourceSettings
from ohmycoins.sources.announcements import parse_announcement_page, render_page
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import read_records
from ohmycoins.timeframes import now_ms
from tests.support.replay import Reply, replay_server

CHROMIUM = Path(os.environ.get("OMC_TEST_CHROMIUM") or "/usr/bin/chromium")
AT = 1_733_000_000_000
PAGE = "/en/support/announcement/list/48"
JS_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Announcements</title></head>
<body>
<div id="app"><p class="loading">Loading...</p></div>
<script>
  const articles = [
    {code: "a1", title: "Binance Will List Pepe (PEPE)", released: "2024-05-02T01:15:00Z"},
    {code: "a2", title: "Binance Will Delist GFT, IRIS, KEY on 2024-12-10",
     released: "2024-11-27T03:00:00Z"},
    {code: "a3", title: "Binance Completes Scheduled Wallet Maintenance", released: null},
  ];
  setTimeout(() => {
    const list = document.createElement("ul");
    for (const article of articles) {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = "/en/support/announcement/detail/" + article.code;
      link.textContent = article.title;
      item.appendChild(link);
      if (article.released) {
        const time = document.createElement("time");
        time.setAttribute("datetime", article.released);
        item.appendChild(time);
      }
      list.appendChild(item);
    }
    document.getElementById("app").replaceChildren(list);
  }, 150);
</script>
</body></html>
"""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("OMC_TEST_CHROMIUM"),
        reason="/usr/bin/chromium is absent (apt-get install chromium)",
    ),
]


def _routes() -> dict[str, Reply]:
    return {PAGE: Reply(JS_PAGE, content_type="text/html")}


async def test_javascript_list_is_read_only_through_the_browser() -> None:
    universe = Universe.of([])
    async with replay_server(_routes()) as url:
        page_url = f"{url}{PAGE}"
        rendered = await render_page(page_url, chromium=str(CHROMIUM), timeout_s=20)
    plain = parse_announcement_page(JS_PAGE, page_url, "binance", AT, universe)
    assert plain.records == []  # without JavaScript the page has no article
    parsed = parse_announcement_page(rendered, page_url, "binance", AT, universe)
    by_type = {event.event_type: event for event in parsed.records}
    assert set(by_type) == {"listing", "delisting"}  # the maintenance note is no catalyst
    listing = by_type["listing"]
    assert listing.assets == ("PEPE",) and listing.ts == 1_714_612_500_000
    assert listing.urls == (f"{url}/en/support/announcement/detail/a1",)
    assert by_type["delisting"].assets == ("GFT", "IRIS", "KEY")


async def test_rendering_collector_stores_the_events(sqlite_db: Database) -> None:
    async with replay_server(_routes()) as url:
        settings = Settings(
            database_url=sqlite_db.url,
            sources={
                name: SourceSettings(enabled=False)
                for name in ("sec_edgar", "sec_efts", "binance_announcements")
            },
            catalysts=CatalystSettings(
                announcement_pages=(
                    AnnouncementPage(exchange="kraken", url=f"{url}{PAGE}", render=True),
                ),
            ),
            chromium=str(CHROMIUM),
        )
        sources = Sources(settings, sqlite_db, None)
        try:
            (page, _news) = default_collectors(sources)
            context = RunContext("t", page.name, page.source, now_ms(), None, 1, sqlite_db)
            outcome = await page.run(context)
        finally:
            await sources.close()
    assert page.name == page.source == "kraken_announcements"
    assert outcome.records_written == 2
    assert {e.event_type for e in read_records(sqlite_db, CatalystEvent)} == {
        "listing",
        "delisting",
    }


async def test_missing_browser_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no Chromium"):
        await render_page("http://127.0.0.1:9/", chromium=str(tmp_path / "no-chromium"))
