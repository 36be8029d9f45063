"""The Guardian Open Platform content API (keyed): Guardian articles about crypto.

Facts about the source, as data below:
- Base URL `https://content.guardianapis.com` (`OMC_GUARDIAN_URL` overrides it); the
  key `OMC_GUARDIAN_API_KEY` is sent as the `api-key` query parameter.
- `GET /search?q=crypto OR bitcoin&show-fields=trailText&order-by=newest&page-size=50`
  answers `{"response": {"status": "ok", "results": [...]}}`; a result has `id`,
  `webTitle`, `webUrl`, `webPublicationDate` (ISO-8601 UTC), `sectionName` and,
  asked with `show-fields`, `fields.trailText` (a short HTML standfirst).
- The free developer key allows 1 call per second and 500 calls per day.
- Errors: `{"response": {"status": "error", "message": "..."}}` (400 for a bad
  parameter), and 401 `{"message": "Unauthorized"}` from the gateway for a bad key.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from bs4 import BeautifulSoup

from ohmycoins.enrich.news_dedup import news_item
from ohmycoins.errors import PayloadError, SourceError
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

NAME = "guardian"
OUTLET = "The Guardian"
BASE_URL = "https://content.guardianapis.com"
SEARCH = "/search"
QUERY = "crypto OR bitcoin"
PAGE_SIZE = 50
RATE_LIMIT = 60.0
"""Requests per minute: the developer key's 1 call per second."""


class Guardian(SourceClient):
    """Fetches raw Guardian search answers through one `HttpSource`; parse with `parse_search`."""

    name = NAME
    default_url = BASE_URL
    default_rate_limit = RATE_LIMIT

    async def fetch_search(self, query: str = QUERY) -> JSON:
        """The newest articles matching `query`."""
        params = {
            "q": query,
            "api-key": self.require_key(SEARCH),
            "show-fields": "trailText",
            "order-by": "newest",
            "page-size": PAGE_SIZE,
        }
        return await self.http.get_json(SEARCH, params)


def check_status(raw: JSON) -> Mapping[str, Any]:
    """The `response` object when its status is ok; the Guardian's error otherwise."""
    response = raw.get("response") if isinstance(raw, Mapping) else None
    if not isinstance(response, Mapping):
        raise PayloadError(NAME, "answer has no `response` object", payload=raw, request=SEARCH)
    if response.get("status") != "ok":
        message = response.get("message") or f"status {response.get('status')!r}"
        raise SourceError(NAME, str(message), request=SEARCH)
    if not isinstance(response.get("results"), list):
        raise PayloadError(NAME, "`results` must be a list", payload=raw, request=SEARCH)
    return response


def parse_search(raw: JSON, fetched_ms: int | None = None) -> Parsed[NewsItem]:
    """A `NewsItem` per search result; the trail text, without markup, is the summary.

    {"response": {"status": "ok", "userTier": "developer", "total": 3120,
                  "results": [{"id": "technology/2024/mar/05/bitcoin-record-high",
                               "type": "article", "sectionName": "Technology",
                               "webPublicationDate": "2024-03-05T18:21:07Z",
                               "webTitle": "Bitcoin hits record high",
                               "webUrl": "https://www.theguardian.com/technology/...",
                               "fields": {"trailText": "Cryptocurrency passes ..."}}]}}
    """
    article = functools.partial(_article, fetched_ms=fetched_ms)
    return parse_rows(check_status(raw)["results"], article, "NewsItem")


def _article(row: JSON, fetched_ms: int | None) -> NewsItem:
    title = to_text(require(row, "webTitle"), "webTitle").strip()
    url = to_text(require(row, "webUrl"), "webUrl")
    published = to_optional_time(row.get("webPublicationDate"), "webPublicationDate")
    summary = _trail_text(row)
    return news_item(url, title, OUTLET, published, NAME, summary, fetched_ts=fetched_ms)


def _trail_text(row: Mapping[str, Any]) -> str | None:
    fields = row.get("fields")
    text = fields.get("trailText") if isinstance(fields, Mapping) else None
    if not isinstance(text, str):
        return None
    return " ".join(BeautifulSoup(text, "html.parser").get_text(" ").split()) or None
