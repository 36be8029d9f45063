"""NewsCatcher News API v3 (keyed): articles from many outlets about crypto.

Facts about the source, as data below:
- Base URL `https://v3-api.newscatcherapi.com/api` (`OMC_NEWSCATCHER_URL` overrides
  it); the key `OMC_NEWSCATCHER_API_KEY` is sent in the `x-api-token` header (v3;
  v2 used `x-api-key`).
- `GET /search?q=...&lang=en&sort_by=date&page_size=100` answers
  `{"status": "ok", "total_hits": n, "page": 1, "total_pages": m, "page_size": 100,
  "articles": [...]}`; an article has `id`, `title`, `link`, `domain_url`,
  `name_source` (may be null), `published_date` (`"2024-03-05 10:00:00"`, UTC, no
  zone), `description`, `content` and more.
- No match is `{"status": "No matches for your search.", "total_hits": 0, ...}`
  without `articles`: an empty answer, not an error.
- Errors: 401/403 `{"message": "...", "status_code": 401, "status": "..."}`, 422
  for a bad parameter, 429 when the plan's rate is exceeded.
- Plans are paid (a trial is limited); the plan sets the rate, so the default here
  is a cautious one request per second.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from ohmycoins.enrich.news_dedup import news_item
from ohmycoins.errors import PayloadError
from ohmycoins.records import NewsItem
from ohmycoins.sources.http import SourceClient
from ohmycoins.sources.parsing import (
    JSON,
    Parsed,
    parse_rows,
    require,
    to_optional_time,
    to_text,
)

NAME = "newscatcher"
BASE_URL = "https://v3-api.newscatcherapi.com/api"
SEARCH = "/search"
QUERY = 'bitcoin OR ethereum OR crypto OR "cryptocurrency"'
PAGE_SIZE = 100
RATE_LIMIT = 60.0
SUMMARY_CHARS = 2000


class NewsCatcher(SourceClient):
    """Fetches raw NewsCatcher search answers through one `HttpSource`; parse with
    `parse_search`."""

    name = NAME
    default_url = BASE_URL
    default_rate_limit = RATE_LIMIT
    key_header = "x-api-token"

    async def fetch_search(self, query: str = QUERY) -> JSON:
        """The newest English articles matching `query`."""
        self.require_key(SEARCH)
        params = {"q": query, "lang": "en", "sort_by": "date", "page_size": PAGE_SIZE}
        return await self.http.get_json(SEARCH, params)


def articles_of(raw: JSON) -> list[Any]:
    """The answer's articles; none when it found no match; PayloadError otherwise."""
    if not isinstance(raw, Mapping):
        raise PayloadError(NAME, "answer must be an object", payload=raw, request=SEARCH)
    articles = raw.get("articles")
    if articles is None and raw.get("total_hits") == 0:
        return []
    if not isinstance(articles, list):
        raise PayloadError(NAME, "answer has no `articles` list", payload=raw, request=SEARCH)
    return articles


def parse_search(raw: JSON, fetched_ms: int | None = None) -> Parsed[NewsItem]:
    """A `NewsItem` per article; its description is the summary.

    {"status": "ok", "total_hits": 2410, "page": 1, "total_pages": 25, "page_size": 100,
     "articles": [{"id": "b1c2...", "title": "Ether climbs as ETF decision nears",
                   "link": "https://www.theblock.co/post/28/ether-etf",
                   "domain_url": "theblock.co", "name_source": "The Block",
                   "published_date": "2024-05-20 10:18:42",
                   "description": "Ether rose 6% ...", "content": "..."}]}
    """
    article = functools.partial(_article, fetched_ms=fetched_ms)
    return parse_rows(articles_of(raw), article, "NewsItem")


def _article(row: JSON, fetched_ms: int | None) -> NewsItem:
    title = to_text(require(row, "title"), "title").strip()
    url = to_text(require(row, "link"), "link")
    published = to_optional_time(row.get("published_date"), "published_date")
    description = row.get("description")
    summary = (
        " ".join(description.split())[:SUMMARY_CHARS] if isinstance(description, str) else None
    )
    outlet = _outlet(row)
    return news_item(url, title, outlet, published, NAME, summary or None, fetched_ts=fetched_ms)


def _outlet(row: Mapping[str, Any]) -> str:
    for key in ("name_source", "domain_url"):
        value = row.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return NAME
