"""Guardian content search fetched through the real path from a local replay server.

tests/fixtures/guardian is written from the Guardian Open Platform documentation
(`/search` answering `{"response": {"status": "ok", "results": [...]}}` with
`webTitle`, `webUrl`, `webPublicationDate`, `fields.trailText` when asked with
`show-fields`; errors as `{"response": {"status": "error", "message": ...}}`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ohmycoins.errors import PayloadError, SourceError
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.guardian import Guardian, check_status, parse_search
from tests.support.replay import Reply, replay_server

FETCHED = 1_709_700_000_000
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "guardian"


def guardian(url: str, key: str | None = "test-key") -> Guardian:
    return Guardian(SourceSettings(url=url, api_key=key, rate_limit=60_000), attempts=1)


async def test_search_results_become_news_items() -> None:
    routes = {"/search": Reply.file(FIXTURES / "search.json")}
    async with replay_server(routes) as url, guardian(url) as api:
        raw = await api.fetch_search()
    [request] = url.requests
    assert request.query["q"] == "crypto OR bitcoin"
    assert request.query["api-key"] == "test-key"
    assert request.query["show-fields"] == "trailText"
    parsed = parse_search(raw, FETCHED)
    high, fine, unreadable = parsed.records
    assert high.title == "Bitcoin hits record high as cryptocurrency passes $69,000"
    assert high.url == (
        "https://www.theguardian.com/technology/2024/mar/05/bitcoin-record-high-cryptocurrency"
    )
    assert (high.outlet, high.source, high.published_ts) == (
        "The Guardian",
        "guardian",
        1_709_662_867_000,
    )
    assert high.summary == (
        "Digital currency surpasses peak set in November 2021 as exchange-traded funds draw"
        " investors"
    )
    assert fine.summary is None
    # "yesterday" is no date: the item is kept with its date unknown and its fetch time
    assert parsed.violations == []
    assert unreadable.title == "A result with an unreadable date"
    assert (unreadable.published_ts, unreadable.fetched_ts) == (None, FETCHED)


async def test_an_error_response_is_a_source_error_with_its_message() -> None:
    routes = {"/search": Reply.file(FIXTURES / "error_bad_param.json")}
    async with replay_server(routes) as url, guardian(url) as api:
        raw = await api.fetch_search()
    with pytest.raises(SourceError, match="beyond the number of available pages"):
        parse_search(raw)


async def test_unauthorized_and_empty_bodies() -> None:
    routes = {
        "/search": [Reply({"message": "Unauthorized"}, status=401), Reply(b"")],
    }
    async with replay_server(routes) as url, guardian(url) as api:
        with pytest.raises(SourceError, match="HTTP 401"):
            await api.fetch_search()
        with pytest.raises(PayloadError, match="not JSON"):
            await api.fetch_search()


async def test_no_key_fails_before_any_request() -> None:
    async with replay_server({}) as url, guardian(url, key=None) as api:
        with pytest.raises(SourceError, match="no API key"):
            await api.fetch_search()
    assert url.count() == 0


def test_shapes_without_results_are_payload_errors() -> None:
    with pytest.raises(PayloadError, match="response"):
        check_status([])
    with pytest.raises(PayloadError, match="results"):
        check_status({"response": {"status": "ok", "results": None}})
