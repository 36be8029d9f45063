"""Conformance: real EDGAR submissions answers (Tesla's main answer, Apple's
older-filings page) served byte for byte and read through the real fetch path."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ohmycoins.enrich.catalysts import Universe
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.sec_edgar import SecEdgar, parse_submissions
from tests.support.replay import Reply, replay_server

UNIVERSE = Universe.of([])


@pytest.mark.parametrize(
    ("recording", "cik", "path", "catalysts", "rows"),
    [
        # Tesla, 2022-12: 1,001 recent filings, 37 of them 8-Ks with item 1.01
        ("sec/submissions_CIK0001318605_TSLA.json", "0001318605", "CIK0001318605.json", 37, 1001),
        # Apple's older filings page: top-level columns, 6 8-Ks with item 1.01
        (
            "sec/submissions_CIK0000320193-submissions-001_AAPL_page.json",
            "0000320193",
            "CIK0000320193.json",
            6,
            None,
        ),
    ],
)
async def test_recorded_submissions_parse_without_violations(
    recorded: Callable[[str], Reply],
    recording: str,
    cik: str,
    path: str,
    catalysts: int,
    rows: int | None,
) -> None:
    async with (
        replay_server({f"/submissions/{path}": recorded(recording)}) as url,
        SecEdgar(SourceSettings(url=url), attempts=1) as api,
    ):
        raw = await api.fetch_submissions(cik)
    parsed = parse_submissions(raw, cik, UNIVERSE)
    assert parsed.violations == []
    columns = raw["filings"]["recent"] if "filings" in raw else raw
    if rows is not None:
        assert len(columns["form"]) == rows
    assert len(parsed.records) == catalysts
    accessions = set(columns["accessionNumber"])
    for event in parsed.records:
        assert event.event_type == "partnership" and event.sources == ("sec",)
        (link,) = event.urls
        assert link.startswith(f"https://www.sec.gov/Archives/edgar/data/{int(cik)}/")
        assert any(a.replace("-", "") in link for a in accessions)
        assert 1_000_000_000_000 < event.ts < 1_700_000_000_000


async def test_tesla_8k_time_is_its_acceptance_time(recorded: Callable[[str], Reply]) -> None:
    async with (
        replay_server(
            {"/submissions/CIK0001318605.json": recorded("sec/submissions_CIK0001318605_TSLA.json")}
        ) as url,
        SecEdgar(SourceSettings(url=url), attempts=1) as api,
    ):
        raw = await api.fetch_submissions("1318605")
    newest = parse_submissions(raw, "1318605", UNIVERSE).records[0]
    assert newest.ts == 1_630_343_192_000  # acceptanceDateTime 2021-08-30T17:06:32.000Z
    assert newest.title == "Tesla, Inc.: 8-K"
