"""CryptoPanic news aggregator API v1 (keyed): crypto news with the coins each post
is about.

Facts about the source, as data below:
- Base URL `https://cryptopanic.com/api/v1` (`OMC_CRYPTOPANIC_URL` overrides it);
  the key `OMC_CRYPTOPANIC_API_KEY` is sent as the `auth_token` query parameter.
- `GET /posts/?auth_token=...&public=true&kind=news`: the latest public news posts,
  newest first, 20 per page, under `results`; `next` is the next page's URL.
- A post: `id`, `title`, `url` (a cryptopanic.com page about the post), `domain`
  and `source` (`title`, `domain`) of the outlet, `published_at` (ISO-8601 UTC),
  `currencies` (`code`, `title`, `slug`, `url`, or absent when none) and `votes`
  (positive, negative, important, liked, disliked, lol, toxic, saved, comments).
- Votes are not kept: `NewsItem` has no field for them, and putting counts in the
  summary would feed numbers into sentiment scoring.
- The API asks for at most 5 requests per second; the free plan's monthly quota is
  small and has changed over time, so set `OMC_CRYPTOPANIC_MONTHLY_QUOTA` to yours.
- Errors: 401/403 with `{"status": "Incomplete", "info": "Token not found"}`; the
  same body can also come with HTTP 200, which `check_status` turns into a
  `SourceError`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from ohmycoins.enrich.news_dedup import news_item
from ohmycoins.errors import PayloadError, SourceError
from ohmycoins.records import NewsItem
from ohmycoins.sources.http import SourceClient
from ohmycoins.sources.parsing import (
    JSON,
    FieldError,
    Parsed,
    parse_rows,
    require,
    to_optional_time,
    to_text,
)

NAME = "cryptopanic"
BASE_URL = "https://cryptopanic.com/api/v1"
POSTS = "/posts/"
RATE_LIMIT = 300.0
"""Requests per minute: the documented 5 per second."""


class CryptoPanic(SourceClient):
    """Fetches raw CryptoPanic posts through one `HttpSource`; parse with `parse_posts`."""

    name = NAME
    default_url = BASE_URL
    default_rate_limit = RATE_LIMIT

    async def fetch_posts(self) -> JSON:
        """The latest page of public news posts."""
        params = {"auth_token": self.require_key(POSTS), "public": "true", "kind": "news"}
        return check_status(await self.http.get_json(POSTS, params))


def check_status(raw: JSON) -> Mapping[str, Any]:
    """The answer when it has `results`; CryptoPanic's own error otherwise."""
    if isinstance(raw, Mapping) and isinstance(raw.get("results"), list):
        return raw
    if isinstance(raw, Mapping) and "info" in raw:
        raise SourceError(NAME, f"{raw.get('status')}: {raw['info']}", request=POSTS)
    raise PayloadError(NAME, "answer has no `results` list", payload=raw, request=POSTS)


def parse_posts(raw: JSON, fetched_ms: int | None = None) -> Parsed[NewsItem]:
    """A `NewsItem` per post, with the codes of the coins it is tagged with.

    {"count": 200, "next": "https://cryptopanic.com/api/v1/posts/?...&page=2",
     "results": [{"kind": "news", "domain": "cointelegraph.com",
                  "source": {"title": "Cointelegraph", "domain": "cointelegraph.com"},
                  "title": "Bitcoin ETF inflows hit record", "id": 19237465,
                  "published_at": "2024-03-05T10:00:00Z",
                  "url": "https://cryptopanic.com/news/19237465/Bitcoin-ETF-inflows-hit-record",
                  "currencies": [{"code": "BTC", "title": "Bitcoin", "slug": "bitcoin"}],
                  "votes": {"positive": 3, "negative": 0, "important": 1}}]}
    """
    return parse_rows(
        check_status(raw)["results"], functools.partial(_post, fetched_ms=fetched_ms), "NewsItem"
    )


def _post(row: JSON, fetched_ms: int | None) -> NewsItem:
    title = to_text(require(row, "title"), "title").strip()
    url = to_text(require(row, "url"), "url")
    published = to_optional_time(row.get("published_at"), "published_at")
    return news_item(
        url,
        title,
        _outlet(row),
        published,
        NAME,
        currencies=_currencies(row),
        fetched_ts=fetched_ms,
    )


def _outlet(row: Mapping[str, Any]) -> str:
    source = row.get("source")
    if isinstance(source, Mapping) and isinstance(source.get("title"), str) and source["title"]:
        return str(source["title"])
    domain = row.get("domain")
    return domain if isinstance(domain, str) and domain else NAME


def _currencies(row: Mapping[str, Any]) -> tuple[str, ...]:
    tagged = row.get("currencies") or []
    if not isinstance(tagged, list):
        raise FieldError("currencies", tagged, "must be a list")
    codes = []
    for currency in tagged:
        code = to_text(require(currency, "code"), "currencies[].code").upper()
        if code not in codes:
            codes.append(code)
    return tuple(codes)
