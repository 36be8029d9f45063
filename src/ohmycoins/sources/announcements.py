"""Exchange announcements (no key) as catalyst events: Binance's CMS JSON, and
announcement pages read as HTML, rendered by a headless Chromium when JavaScript
builds their list.

Facts about the sources, as data below:
- Binance's announcement pages are rendered by JavaScript; their data comes from the
  CMS API `https://www.binance.com/bapi/composite/v1/public/cms/article/list/query`
  `?type=1&catalogId=48&pageNo=1&pageSize=20` (`OMC_BINANCE_ANNOUNCEMENTS_URL`
  overrides the host). It answers `{"code": "000000", "success": true, "data":
  {"catalogs": [{"catalogId": 48, "articles": [{"id", "code", "title",
  "releaseDate"}]}]}}` with `releaseDate` in epoch milliseconds. Catalog 48 is "New
  Cryptocurrency Listing", 161 "Delisting"; an article's page is
  `https://www.binance.com/en/support/announcement/detail/{code}`.
- An announcement page (CoinSpot's Zendesk help centre by default, see
  `[catalysts] announcement_pages`) is parsed for links to articles (`/articles/`,
  `/announcement/`): the link text is the title, a `<time datetime>` in the same
  list item or article block its time (else the time of reading). The request goes
  to the page's own URL; `OMC_<EXCHANGE>_ANNOUNCEMENTS_URL` overrides its host.
- Every title goes through the catalyst classifier; a Binance article it cannot
  classify takes its catalog's type (the exchange filed it there).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

from bs4 import BeautifulSoup, Tag

from ohmycoins.enrich.catalysts import Universe, event_from_text, make_event
from ohmycoins.errors import PayloadError, SourceError, TemporarySourceError
from ohmycoins.records import CatalystEvent
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.http import SourceClient, split_endpoint
from ohmycoins.sources.parsing import (
    JSON,
    FieldError,
    Parsed,
    parse_rows,
    require,
    to_epoch_ms,
    to_optional_int,
    to_text,
)
from ohmycoins.sources.ratelimit import TokenBucket

BINANCE = "binance"
BINANCE_NAME = "binance_announcements"
BINANCE_URL = "https://www.binance.com"
BINANCE_LIST = "/bapi/composite/v1/public/cms/article/list/query"
BINANCE_ARTICLE = "https://www.binance.com/en/support/announcement/detail/{code}"
BINANCE_CATALOGS: dict[int, str] = {48: "listing", 161: "delisting"}
"""Catalog id → the event type of an article the classifier cannot place."""
BINANCE_OK = "000000"
RATE_LIMIT = 60.0
"""Requests per minute: a polite pace for a public page, not a documented limit."""
PAGE_MAX_BYTES = 5 * 1024 * 1024
"""An announcement page or list larger than this is not one."""
ARTICLE_LINK = re.compile(r"/(articles|announcement|announcements)/", re.IGNORECASE)
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
)


def source_name(exchange: str) -> str:
    """The source (settings) name of an exchange's announcements: `coinspot_announcements`."""
    return f"{exchange.replace('.', '_')}_announcements"


class BinanceAnnouncements(SourceClient):
    """Fetches Binance CMS article lists; parse them with `parse_binance_articles`."""

    name = BINANCE_NAME
    default_url = BINANCE_URL
    default_rate_limit = RATE_LIMIT
    max_body_bytes = PAGE_MAX_BYTES

    async def fetch_articles(self, catalog_id: int, page_size: int = 20) -> JSON:
        """The newest articles of one catalog (48 listings, 161 delistings)."""
        params = {"type": 1, "catalogId": catalog_id, "pageNo": 1, "pageSize": page_size}
        return await self.http.get_json(BINANCE_LIST, params)


def parse_binance_articles(raw: JSON, catalog_id: int, universe: Universe) -> Parsed[CatalystEvent]:
    """Events announced in one catalog's article list:

    {"code": "000000", "success": true, "data": {"catalogs": [{"catalogId": 48,
      "catalogName": "New Cryptocurrency Listing", "total": 1650, "articles": [
        {"id": 220151, "code": "3b1cdbf1a4e04e0e9f2a6b3f6d0d5f3c",
         "title": "Binance Will List Pepe (PEPE)", "type": 1,
         "releaseDate": 1683280800000}]}]}}
    """
    articles = _binance_articles(raw)
    return parse_rows(
        articles, lambda article: _binance_event(article, catalog_id, universe), "CatalystEvent"
    )


def _binance_articles(raw: JSON) -> list[Any]:
    if not isinstance(raw, Mapping):
        raise PayloadError(BINANCE_NAME, "answer is not an object", payload=str(raw)[:500])
    if str(raw.get("code")) != BINANCE_OK or raw.get("success") is False:
        words = raw.get("message") or raw.get("messageDetail") or raw.get("code")
        raise SourceError(BINANCE_NAME, f"CMS answered {words!r}")
    data = raw.get("data")
    catalogs = data.get("catalogs") if isinstance(data, Mapping) else None
    if not isinstance(catalogs, list):
        raise PayloadError(BINANCE_NAME, "answer has no data.catalogs", payload=str(raw)[:500])
    articles: list[Any] = []
    for catalog in catalogs:
        found = catalog.get("articles") if isinstance(catalog, Mapping) else None
        if not isinstance(found, list):
            raise PayloadError(BINANCE_NAME, "catalog without articles", payload=str(catalog))
        articles += found
    return articles


def _binance_event(article: object, catalog_id: int, universe: Universe) -> CatalystEvent:
    title = to_text(require(article, "title"), "title").strip()
    code = to_text(require(article, "code"), "code")
    released = to_optional_int(require(article, "releaseDate"), "releaseDate")
    if released is None:
        raise FieldError("releaseDate", None, "must be epoch milliseconds")
    url = BINANCE_ARTICLE.format(code=code)
    event = event_from_text(
        title, released, source=BINANCE, url=url, universe=universe, exchange=BINANCE
    )
    if event is not None:
        return event
    fallback = BINANCE_CATALOGS.get(catalog_id, "listing")
    assets = universe.symbols_in(title, listed_caps=True)
    return make_event(
        fallback,
        released,
        title,
        assets=assets,
        source=BINANCE,
        url=url,
        exchange=BINANCE,
        universe=universe,
    )


class AnnouncementPages(SourceClient):
    """Fetches one exchange's announcement page as HTML (plain HTTP)."""

    default_rate_limit = RATE_LIMIT
    max_body_bytes = PAGE_MAX_BYTES

    def __init__(
        self,
        exchange: str,
        page_url: str,
        settings: SourceSettings | None = None,
        *,
        limiter: TokenBucket | None = None,
        attempts: int = 4,
        redis_url: str | None = None,
    ) -> None:
        """The source is named after the exchange and lives on the page's host."""
        self.name = source_name(exchange)
        self.default_url, self.path = split_endpoint(page_url)
        super().__init__(settings, limiter=limiter, attempts=attempts, redis_url=redis_url)

    def _headers(self) -> dict[str, str]:
        return {"Accept": "text/html,application/xhtml+xml"}

    @property
    def url(self) -> str:
        """The URL actually read (the page's path on the possibly overridden host)."""
        return f"{self.http.base_url}{self.path}"

    async def fetch_page(self) -> str:
        return await self.http.get_text(self.path)


def parse_announcement_page(
    html: str, page_url: str, exchange: str, at: int, universe: Universe
) -> Parsed[CatalystEvent]:
    """Events announced on an exchange's announcement page. An article list like
    (Zendesk help-centre section markup):

        <ul class="article-list">
          <li class="article-list-item">
            <a href="/hc/en-us/articles/4412-New-Listing-Pepe-PEPE" class="article-list-link">
              New Listing: Pepe (PEPE)</a>
            <time datetime="2024-05-02T01:15:00Z">2 May 2024</time></li></ul>

    A page with no article links (an error page, a list JavaScript has not built yet)
    gives no events; only the classifier decides what is an event.
    """
    soup = BeautifulSoup(html, "html.parser")
    parsed: Parsed[CatalystEvent] = Parsed()
    seen: set[str] = set()
    for link in soup.find_all("a", href=ARTICLE_LINK):
        if not isinstance(link, Tag):
            continue
        url = urljoin(page_url, str(link.get("href")))
        title = " ".join(link.get_text(" ").split())
        if not title or url in seen:
            continue
        seen.add(url)
        try:
            ts = _published_ms(link) or at
        except FieldError as error:
            parsed.violations.append(error.violation("CatalystEvent", {"title": title, "url": url}))
            continue
        event = event_from_text(
            title, ts, source=exchange, url=url, universe=universe, exchange=exchange
        )
        if event is not None:
            parsed.records.append(event)
    return parsed


def _published_ms(link: Tag) -> int | None:
    """The `<time datetime>` of the list item or article block holding a link."""
    block = link.find_parent(["li", "article", "tr"]) or link.parent
    stamp = block.find("time", attrs={"datetime": True}) if isinstance(block, Tag) else None
    if not isinstance(stamp, Tag):
        return None
    return to_epoch_ms(str(stamp["datetime"]), "datetime")


def chromium_path(configured: str | None = None) -> str | None:
    """The Chromium to drive, if it exists: the setting (`OMC_CHROMIUM`), else
    `chromium` on the PATH."""
    candidate = configured or shutil.which("chromium")
    return candidate if candidate and os.path.isfile(candidate) else None


async def render_page(
    url: str,
    *,
    chromium: str | None = None,
    wait_for: str = "a[href*='/articles/'], a[href*='/announcement']",
    timeout_s: float = 30.0,
) -> str:
    """The HTML of a page after its JavaScript ran, read through a headless Chromium.

    Waits for the first article link to appear (up to `timeout_s`); a page that never
    shows one is returned as it is, and parses to no events. A missing browser is a
    `SourceError`, and so is a missing `playwright` package (the `browser` extra)."""
    name = "browser"
    try:
        from playwright.async_api import Error as PlaywrightError
        from playwright.async_api import TimeoutError as PlaywrightTimeout
        from playwright.async_api import async_playwright
    except ImportError:
        raise SourceError(
            name, f"rendering {url} needs playwright: pip install 'ohmycoins[browser]'"
        ) from None

    executable = chromium_path(chromium)
    if executable is None:
        raise SourceError(name, f"no Chromium to render {url} (set OMC_CHROMIUM)", request=url)
    timeout_ms = timeout_s * 1000
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, args=list(CHROMIUM_ARGS), timeout=timeout_ms
        )
        try:
            page = await browser.new_page()
            try:
                await page.goto(url, wait_until="load", timeout=timeout_ms)
            except PlaywrightError as exc:
                raise TemporarySourceError(name, f"page did not load: {exc}", request=url) from None
            with contextlib.suppress(PlaywrightTimeout):  # no article: read the page as it is
                await page.wait_for_selector(wait_for, timeout=timeout_ms)
            return await page.content()
        finally:
            await browser.close()
