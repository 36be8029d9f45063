"""NewsCatcher v3 search fetched through the real path from a local replay server.

tests/fixtures/newscatcher is written from NewsCatcher's published v3 API reference
(base `https://v3-api.newscatcherapi.com/api`, `x-api-token` header, `/search`
answering `articles` with `title`, `link`, `domain_url`, `name_source`,
`published_date` as `YYYY-MM-DD HH:MM:SS` UTC, `description`; no match answered with
`total_hits: 0` and no `articles`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ohmycoins.errors import PayloadError, RateLimitedError, SourceError
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.newscatcher import NewsCatcher, parse_search
from tests.support.replay import Reply, replay_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "newscatcher"


def newscatcher(url: str, key: str | None = "nc-key") -> NewsCatcher:
    return NewsCatcher(SourceSettings(url=url, api_key=key, rate_limit=60_000), attempts=1)


async def test_search_articles_become_news_items() -> None:
    routes = {"/api/search": Reply.file(FIXTURES / "search.json")}
    async with replay_server(routes) as url, newscatcher(f"{url}/api") as api:
        raw = await api.fetch_search()
    [request] = url.requests
    assert request.headers["x-api-token"] == "nc-key"
    assert (request.query["lang"], request.query["sort_by"]) == ("en", "date")
    parsed = parse_search(raw)
    ether, miners = parsed.records
    assert ether.url == "https://www.theblock.co/post/295112/ether-climbs-etf-decision"
    assert (ether.outlet, ether.source, ether.published_ts) == (
        "The Block",
        "newscatcher",
        1_716_243_522_000,  # 2024-05-20 22:18:42 UTC
    )
    assert ether.summary and ether.summary.startswith("Ether rose more than 18%")
    assert (miners.outlet, miners.summary) == ("example-news.com", None)
    [bad] = parsed.violations
    assert (bad.field, bad.value) == ("title", "")


async def test_no_match_is_empty() -> None:
    routes = {"/api/search": Reply.file(FIXTURES / "no_match.json")}
    async with replay_server(routes) as url, newscatcher(f"{url}/api") as api:
        parsed = parse_search(await api.fetch_search("zzzzqqq"))
    assert parsed.records == [] and parsed.violations == []


async def test_forbidden_then_rate_limited() -> None:
    routes = {
        "/api/search": [
            Reply({"message": "Invalid API token", "status_code": 403}, status=403),
            Reply({"message": "Too many requests"}, status=429, headers={"Retry-After": "2"}),
        ]
    }
    async with replay_server(routes) as url, newscatcher(f"{url}/api") as api:
        with pytest.raises(SourceError, match="HTTP 403"):
            await api.fetch_search()
        with pytest.raises(RateLimitedError) as limited:
            await api.fetch_search()
    assert limited.value.retry_after == 2.0


def test_other_shapes_are_payload_errors() -> None:
    with pytest.raises(PayloadError, match="articles"):
        parse_search({"status": "ok", "total_hits": 3})
    with pytest.raises(PayloadError, match="object"):
        parse_search("<html>")


async def test_no_key_fails_before_any_request() -> None:
    async with replay_server({}) as url, newscatcher(url, key=None) as api:
        with pytest.raises(SourceError, match="no API key"):
            await api.fetch_search()
    assert url.count() == 0
