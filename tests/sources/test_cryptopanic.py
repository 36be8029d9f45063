"""CryptoPanic posts fetched through the real path from a local replay server.

No real CryptoPanic body exists among the recordings: tests/fixtures/cryptopanic is
written from CryptoPanic's published API v1 documentation (`/posts/` with
`auth_token` and `public=true`; `results` of posts with `source`, `title`,
`published_at`, `url`, `currencies[].code`, `votes`; errors as
`{"status": "Incomplete", "info": "Token not found"}`) and from client libraries'
sample results (microsecond `published_at`, posts without `currencies`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ohmycoins.enrich.news_dedup import item_id
from ohmycoins.errors import PayloadError, SourceError
from ohmycoins.settings import load_settings
from ohmycoins.sources.cryptopanic import CryptoPanic, parse_posts
from tests.support.replay import Reply, replay_server

FETCHED = 1_709_700_000_000
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cryptopanic"


def settings(url: str, key: str | None = "TOKEN") -> CryptoPanic:
    env = {"OMC_CRYPTOPANIC_URL": url, "OMC_CRYPTOPANIC_RATE_LIMIT": "60000"}
    if key:
        env["OMC_CRYPTOPANIC_API_KEY"] = key
    return CryptoPanic(load_settings(env, "absent.toml").source("cryptopanic"), attempts=1)


async def test_posts_become_news_items_with_their_coins() -> None:
    routes = {"/api/v1/posts/": Reply.file(FIXTURES / "posts.json")}
    async with replay_server(routes) as url, settings(f"{url}/api/v1") as api:
        raw = await api.fetch_posts()
    [request] = url.requests
    assert request.query == {"auth_token": "TOKEN", "public": "true", "kind": "news"}
    parsed = parse_posts(raw, FETCHED)
    etf, rally, macro, undated = parsed.records
    assert etf.title == "Bitcoin ETF inflows hit record $1B in a single day"
    assert etf.url == (
        "https://cryptopanic.com/news/19237465/Bitcoin-ETF-inflows-hit-record-1B-in-a-single-day"
    )
    assert etf.item_id == item_id(etf.url)
    assert (etf.outlet, etf.source, etf.published_ts) == (
        "CoinTelegraph",
        "cryptopanic",
        1_709_637_600_000,
    )
    assert etf.currencies == ("BTC",) and etf.summary is None  # votes are not kept
    assert rally.currencies == ("ETH", "SOL", "BTC")
    assert rally.published_ts == 1_709_629_331_482  # microseconds cut to milliseconds
    assert macro.currencies == ()
    # no publication time: stored with its date unknown, never with another time
    assert parsed.violations == []
    assert undated.title == "Post without a publication time"
    assert (undated.published_ts, undated.fetched_ts, etf.fetched_ts) == (None, FETCHED, FETCHED)


async def test_a_token_error_with_http_200_is_a_source_error() -> None:
    routes = {"/api/v1/posts/": Reply.file(FIXTURES / "error_token.json")}
    async with replay_server(routes) as url, settings(f"{url}/api/v1") as api:
        with pytest.raises(SourceError, match="Token not found"):
            await api.fetch_posts()


async def test_a_bad_token_http_status_is_a_source_error() -> None:
    body = json.loads((FIXTURES / "error_token.json").read_text())
    routes = {"/api/v1/posts/": Reply(body, status=401)}
    async with replay_server(routes) as url, settings(f"{url}/api/v1") as api:
        with pytest.raises(SourceError, match="HTTP 401"):
            await api.fetch_posts()


async def test_html_instead_of_json_is_a_payload_error() -> None:
    page = "<html><body>Attention Required! | Cloudflare</body></html>"
    routes = {"/api/v1/posts/": Reply(page, content_type="text/html")}
    async with replay_server(routes) as url, settings(f"{url}/api/v1") as api:
        with pytest.raises(PayloadError, match="not JSON"):
            await api.fetch_posts()


async def test_no_key_fails_before_any_request() -> None:
    async with replay_server({}) as url, settings(f"{url}/api/v1", key=None) as api:
        with pytest.raises(SourceError, match="no API key"):
            await api.fetch_posts()
    assert url.count() == 0


def test_an_answer_without_results_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="results"):
        parse_posts({"count": 0})
