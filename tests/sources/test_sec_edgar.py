"""SEC EDGAR through its real HTTP path against a local server.

The submissions and full-text bodies in `fixtures/sec_edgar/` are written here in the
shapes EDGAR documents (the submissions columns match the recordings the conformance
suite reads; the full-text hit shape follows the `hits.hits[]._source` answers quoted
in public EDGAR clients), with bad rows added on purpose.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ohmycoins.enrich.catalysts import Universe
from ohmycoins.errors import PayloadError, SourceError
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.sec_edgar import (
    SecEdgar,
    SecFullText,
    filing_event_type,
    parse_full_text,
    parse_submissions,
)
from tests import factories as f
from tests.support.replay import Reply, replay_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sec_edgar"
UNIVERSE = Universe.of(
    [f.asset(), f.asset(asset_id="ethereum", symbol="ETH", name="Ethereum", rank=2)]
)
AGENT = "omc-tests/1.0 tests@example.com"


async def test_submissions_become_etf_and_hack_events_with_the_user_agent() -> None:
    routes = {"/submissions/CIK0001980994.json": Reply.file(FIXTURES / "submissions_ibit.json")}
    async with (
        replay_server(routes) as url,
        SecEdgar(SourceSettings(url=url), user_agent=AGENT, attempts=1) as api,
    ):
        raw = await api.fetch_submissions("1980994")
    assert url.requests[-1].headers["User-Agent"] == AGENT
    parsed = parse_submissions(raw, "1980994", UNIVERSE)
    by_type = {event.event_type: event for event in parsed.records}
    assert set(by_type) == {"etf", "hack"}  # the 424B3 and the 10-Q are no catalysts
    etf = by_type["etf"]
    assert etf.assets == ("BTC",) and etf.sources == ("sec",) and etf.impact == 10
    assert etf.ts == 1_748_966_712_000  # 2025-06-03T16:05:12Z
    assert etf.urls == (
        "https://www.sec.gov/Archives/edgar/data/1980994/000114377425000001/d812345ds1a.htm",
    )
    assert by_type["hack"].title == "iShares Bitcoin Trust: 8-K"
    (violation,) = parsed.violations  # the S-1/A whose time is "not a time"
    assert violation.field == "acceptanceDateTime"


def test_old_filings_are_not_news() -> None:
    raw = json.loads((FIXTURES / "submissions_ibit.json").read_text())
    parsed = parse_submissions(raw, "0001980994", UNIVERSE, since_ms=1_748_900_000_000)
    assert [event.event_type for event in parsed.records] == ["etf"]


async def test_full_text_hits_become_events_of_fund_filers_only() -> None:
    routes = {"/LATEST/search-index": Reply.file(FIXTURES / "efts_search.json")}
    async with (
        replay_server(routes) as url,
        SecFullText(SourceSettings(url=url), user_agent=AGENT, attempts=1) as api,
    ):
        raw = await api.fetch_search('"ether"', ["S-1", "19b-4"], "2025-05-27", "2025-06-03")
    seen = url.requests[-1]
    assert seen.headers["User-Agent"] == AGENT
    assert seen.query["forms"] == "S-1,19b-4" and seen.query["startdt"] == "2025-05-27"
    parsed = parse_full_text(raw, UNIVERSE)
    (event,) = parsed.records  # the mining company's S-1 is no ETF filing
    assert event.event_type == "etf" and event.assets == ("ETH",)
    assert event.title == "iShares Ethereum Trust ETF: S-1"
    assert event.urls[0].endswith("/2000638/000119312525000010/d900001ds1.htm")
    (violation,) = parsed.violations  # the hit without a file_date
    assert violation.field == "file_date"


@pytest.mark.parametrize(
    ("form", "items", "etf", "expected"),
    [
        ("S-1", "", True, "etf"),
        ("19b-4", "", True, "etf"),
        ("S-1", "", False, None),
        ("8-K", "1.05,9.01", False, "hack"),
        ("8-K", ["1.01"], True, "partnership"),
        ("8-K", "2.02,9.01", False, None),
        ("10-K", "", True, None),
    ],
)
def test_forms_map_to_event_types(
    form: str, items: str | list[str], etf: bool, expected: str | None
) -> None:
    assert filing_event_type(form, items, etf) == expected


@pytest.mark.parametrize(
    "reply",
    [
        Reply(
            "<html><body>Request Rate Threshold Exceeded</body></html>", content_type="text/html"
        ),
        Reply(b""),
        Reply({"cik": "1980994", "filings": {"recent": {"form": "S-1"}}}),
    ],
)
async def test_bad_answers_raise_payload_errors(reply: Reply) -> None:
    async with (
        replay_server({"/submissions/CIK0001980994.json": reply}) as url,
        SecEdgar(SourceSettings(url=url), attempts=1) as api,
    ):
        with pytest.raises(PayloadError):
            parse_submissions(await api.fetch_submissions("1980994"), "1980994", UNIVERSE)


async def test_huge_body_and_refusal_are_source_errors() -> None:
    huge = Reply(b'{"filings": "' + b"x" * (21 * 1024 * 1024) + b'"}')
    routes = {
        "/submissions/CIK0000000001.json": huge,
        "/submissions/CIK0000000002.json": Reply(status=403),
    }
    async with replay_server(routes) as url, SecEdgar(SourceSettings(url=url), attempts=1) as api:
        with pytest.raises(PayloadError, match="larger than"):
            await api.fetch_submissions("1")
        with pytest.raises(SourceError, match="403"):
            await api.fetch_submissions("2")
