"""FRED observations: fetched through the real path (settings URL, key parameter,
HttpSource) from a local replay server, then parsed. Fixtures are hand-written in the
shape of the real recordings: string values, `"."` for a missing one."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest

from ohmycoins.errors import PayloadError, SourceError
from ohmycoins.records import MacroObservation
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.fred import HISTORY_START, OBSERVATIONS, Fred, parse_observations
from tests.support.replay import Reply, replay_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fred"
APR_29 = 1_714_348_800_000  # 2024-04-29T00:00:00Z
DAY = 86_400_000
MAY_3 = APR_29 + 4 * DAY


def test_vintages_give_the_newest_value_and_the_first_release() -> None:
    """Every vintage asked (`realtime_start` 1776-07-04): March's CPI is released in
    April and revised in May; a value first "." then published counts from publication."""
    rows = [
        ("2024-03-01", "2024-04-10", "2024-05-14", "312.2"),
        ("2024-03-01", "2024-05-15", "9999-12-31", "312.3"),
        ("2024-04-01", "2024-05-15", "2024-05-20", "."),
        ("2024-04-01", "2024-05-21", "9999-12-31", "313.0"),
    ]
    raw = {
        "observations": [
            {"date": d, "realtime_start": s, "realtime_end": e, "value": v} for d, s, e, v in rows
        ]
    }
    march, april = parse_observations(raw, "CPIAUCSL").records
    assert (march.value, march.released_ts) == (D("312.3"), to_ms("2024-04-10"))
    assert (april.value, april.released_ts) == (D("313.0"), to_ms("2024-05-21"))
    assert march.ts == to_ms("2024-03-01")


def to_ms(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000)


def fred(url: str) -> Fred:
    return Fred(SourceSettings(url=url, api_key="fred-key", rate_limit=60_000), attempts=1)


async def test_observations_with_a_missing_value_and_a_bad_one() -> None:
    routes = {OBSERVATIONS: Reply.file(FIXTURES / "observations_dgs10.json")}
    async with replay_server(routes) as url, fred(url) as api:
        raw = await api.fetch_observations("DGS10", "2024-04-29")
    assert url.requests[0].query == {
        "series_id": "DGS10",
        "api_key": "fred-key",
        "file_type": "json",
        "observation_start": "2024-04-29",
        "realtime_start": "1776-07-04",
        "realtime_end": "9999-12-31",
    }
    parsed = parse_observations(raw, "DGS10")
    assert parsed.records == [
        MacroObservation("DGS10", APR_29, "fred", D("4.63"), MAY_3),
        MacroObservation("DGS10", APR_29 + DAY, "fred", D("4.69"), MAY_3),
        MacroObservation("DGS10", APR_29 + 2 * DAY, "fred", None, MAY_3),
        MacroObservation("DGS10", APR_29 + 3 * DAY, "fred", D("4.59"), MAY_3),
    ]
    [violation] = parsed.violations
    assert (violation.field, violation.value) == ("value", "n.a.")
    assert violation.record["date"] == "2024-05-03"


async def test_first_collection_asks_for_history_from_1900() -> None:
    routes = {OBSERVATIONS: {"observations": []}}
    async with replay_server(routes) as url, fred(url) as api:
        parsed = parse_observations(await api.fetch_observations("M2SL"), "M2SL")
    # FRED series reach back before 1970 (GDP: 1947); 1900 is the earliest time stored
    assert url.requests[0].query["observation_start"] == HISTORY_START == "1900-01-01"
    assert parsed.records == [] and parsed.violations == []


def test_rows_without_date_or_value() -> None:
    raw = {"observations": [{"value": "1"}, {"date": "2024-01-01"}, {"date": "soon", "value": "1"}]}
    parsed = parse_observations(raw, "X")
    assert [v.field for v in parsed.violations] == ["date", "value", "date"]


@pytest.mark.parametrize("body", [b"<html>maintenance</html>", b"", b"[]", b'{"count": 0}'])
async def test_unusable_answers_are_payload_errors(body: bytes) -> None:
    async with replay_server({OBSERVATIONS: Reply(body)}) as url, fred(url) as api:
        with pytest.raises(PayloadError):
            parse_observations(await api.fetch_observations("DGS10"), "DGS10")


async def test_bad_key_is_a_source_error() -> None:
    body = {"error_code": 400, "error_message": "Bad Request. The value for variable api_key."}
    async with replay_server({OBSERVATIONS: Reply(body, status=400)}) as url, fred(url) as api:
        with pytest.raises(SourceError, match="400"):
            await api.fetch_observations("DGS10")


def test_a_key_is_required() -> None:
    with pytest.raises(ValueError, match="API key"):
        Fred(SourceSettings())
