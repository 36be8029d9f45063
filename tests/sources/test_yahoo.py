"""Yahoo Finance chart: fetched through the real path (settings URL, escaped symbol,
HttpSource) from a local replay server, then parsed. Fixtures are hand-written in the
shape of the real recordings: float closes, a null close, an empty Saturday answer."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from ohmycoins.errors import PayloadError, SourceError
from ohmycoins.records import MacroObservation
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.yahoo import Yahoo, parse_chart, series_id
from tests.support.replay import Reply, replay_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "yahoo"
APR_29 = 1_714_348_800_000  # 2024-04-29T00:00:00Z
DAY = 86_400_000


def yahoo(url: str) -> Yahoo:
    return Yahoo(SourceSettings(url=url, rate_limit=60_000), attempts=1)


async def test_daily_closes_stamped_on_the_exchange_day() -> None:
    routes = {"/v8/finance/chart/^GSPC": Reply.file(FIXTURES / "chart_gspc_1d.json")}
    async with replay_server(routes) as url, yahoo(url) as api:
        raw = await api.fetch_chart("^GSPC", "5d")
    assert url.requests[0].query == {"range": "5d", "interval": "1d"}
    parsed = parse_chart(raw, "^GSPC")
    assert parsed.violations == []
    assert parsed.records == [  # the null close of May 1 is skipped
        MacroObservation("yahoo:^GSPC", APR_29, "yahoo", D("5116.169921875")),
        MacroObservation("yahoo:^GSPC", APR_29 + DAY, "yahoo", D("5035.68994140625")),
        MacroObservation("yahoo:^GSPC", APR_29 + 3 * DAY, "yahoo", D("5064.2001953125")),
        MacroObservation("yahoo:^GSPC", APR_29 + 4 * DAY, "yahoo", D("5127.7900390625")),
    ]


async def test_symbols_with_reserved_characters_reach_their_path() -> None:
    routes = {"/v8/finance/chart/GC=F": Reply.file(FIXTURES / "chart_gspc_saturday_empty.json")}
    async with replay_server(routes) as url, yahoo(url) as api:
        parsed = parse_chart(await api.fetch_chart("GC=F"), "GC=F")
    assert url.count("/v8/finance/chart/GC=F") == 1
    assert parsed.records == [] and parsed.violations == []  # no bars: empty, not an error


def test_a_late_evening_bar_belongs_to_its_exchange_day() -> None:
    """A Tokyo bar at 00:00 local is 15:00 UTC the day before: the local date wins."""
    raw = {
        "chart": {
            "result": [
                {
                    "meta": {"symbol": "^N225", "gmtoffset": 32400},
                    "timestamp": [1714489200],
                    "indicators": {"quote": [{"close": [D("38405.66")]}]},
                }
            ],
            "error": None,
        }
    }
    [record] = parse_chart(raw, "^N225").records
    assert record.ts == APR_29 + 2 * DAY and record.series_id == series_id("^N225")


def test_mismatched_columns_and_bad_values_are_violations() -> None:
    def chart(timestamps: object, closes: object) -> object:
        quote = {"close": closes}
        result = {"meta": {}, "timestamp": timestamps, "indicators": {"quote": [quote]}}
        return {"chart": {"result": [result], "error": None}}

    short = parse_chart(chart([1714397400, 1714483800], [D(1)]), "X")
    assert short.records == [] and [v.field for v in short.violations] == ["close"]
    bad = parse_chart(chart([1714397400, "later"], ["n/a", D(2)]), "X")
    assert bad.records == [] and [v.field for v in bad.violations] == ["close", "timestamp"]


async def test_unknown_symbol_is_a_source_error() -> None:
    reply = Reply.file(FIXTURES / "chart_not_found.json", status=404)
    async with replay_server({"/v8/finance/chart/NOPE": reply}) as url, yahoo(url) as api:
        with pytest.raises(SourceError, match="404"):
            await api.fetch_chart("NOPE")
    body = (FIXTURES / "chart_not_found.json").read_bytes()
    async with replay_server({"/v8/finance/chart/NOPE": Reply(body)}) as url, yahoo(url) as api:
        with pytest.raises(SourceError, match="No data found"):
            parse_chart(await api.fetch_chart("NOPE"), "NOPE")


@pytest.mark.parametrize(
    "body", [b"<html>consent</html>", b"", b"{}", b'{"chart": {"result": []}}']
)
async def test_unusable_answers_are_payload_errors(body: bytes) -> None:
    async with replay_server({"/v8/finance/chart/^VIX": Reply(body)}) as url, yahoo(url) as api:
        with pytest.raises(PayloadError):
            parse_chart(await api.fetch_chart("^VIX"), "^VIX")
