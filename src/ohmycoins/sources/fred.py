"""FRED, the St. Louis Fed's economic data API (keyed): rates, inflation, money, dollar.

Facts about the source, as data below:
- Base URL `https://api.stlouisfed.org` (`OMC_FRED_URL` overrides it);
  observations are `GET /fred/series/observations?series_id=…&api_key=…&file_type=json`.
- `OMC_FRED_API_KEY` is required; FRED takes it only as the `api_key` query parameter.
- FRED allows 120 requests per minute per key; that is the default here
  (`OMC_FRED_RATE_LIMIT` overrides it).
- Observation values are strings (`"4.25"`), and a missing value is `"."`: that is an
  observation whose value is None, not an error. Dates are `YYYY-MM-DD`; an observation
  is stamped at that date's UTC midnight: negative epoch milliseconds before 1970
  (GDP starts in 1947).
- Values get revised (GDP, CPI, M2): a revision is the same (series, date) with a new
  value, and `MacroObservation` replaces the stored one.
- Each observation row carries the real-time period of its vintage
  (`realtime_start`..`realtime_end`). Asked for every vintage (`realtime_start`
  1776-07-04 to `realtime_end` 9999-12-31, `ALL_VINTAGES`), FRED answers one row per
  (date, vintage): the first vintage's `realtime_start` is the day the value was first
  released (`released_ts`, what point-in-time features join by), the last vintage's
  value is the current one. Asked without, every row says today.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from ohmycoins.errors import PayloadError
from ohmycoins.records import MacroObservation
from ohmycoins.sources.http import SourceClient
from ohmycoins.sources.parsing import (
    JSON,
    Parsed,
    parse_rows,
    require,
    to_decimal,
    to_epoch_ms,
    to_text,
)
from ohmycoins.timeframes import MIN_TS, iso_date

NAME = "fred"
BASE_URL = "https://api.stlouisfed.org"
RATE_LIMIT = 120.0
"""Requests per minute, as FRED's API documentation states."""
OBSERVATIONS = "/fred/series/observations"
MISSING = "."
"""FRED's text for an observation without a value."""
ALL_VINTAGES = {"realtime_start": "1776-07-04", "realtime_end": "9999-12-31"}
"""FRED's widest real-time period: every vintage of every observation."""
HISTORY_START = iso_date(MIN_TS)
"""Where a series starts on its first collection: 1900-01-01, the earliest time stored
(series such as GDP reach back to 1947: negative epoch milliseconds, kept)."""


class Fred(SourceClient):
    """Fetches raw FRED observation answers through one `HttpSource`."""

    name = NAME
    default_url = BASE_URL
    default_rate_limit = RATE_LIMIT
    key_required = True

    async def fetch_observations(
        self, series_id: str, observation_start: str = HISTORY_START
    ) -> JSON:
        """Observations of `series_id` dated `observation_start` (`YYYY-MM-DD`) or later."""
        params = {
            "series_id": series_id,
            "api_key": self.api_key,
            "file_type": "json",
            "observation_start": observation_start,
            **ALL_VINTAGES,
        }
        return await self.http.get_json(OBSERVATIONS, params)


def parse_observations(raw: JSON, series_id: str) -> Parsed[MacroObservation]:
    """A `MacroObservation` per observation date of one series: the value of its newest
    vintage (`"."` gives None), released at its first vintage's `realtime_start`.

    {"observation_start": "1600-01-01", "count": 315, "observations": [
        {"realtime_start": "2024-12-19", "realtime_end": "2024-12-19",
         "date": "1946-01-01", "value": "."},
        {"realtime_start": "1992-01-29", "realtime_end": "1992-02-27",
         "date": "1991-10-01", "value": "5736.6"},
        {"realtime_start": "1992-02-28", "realtime_end": "1992-03-25",
         "date": "1991-10-01", "value": "5745.1"}]}
    """
    observations = raw.get("observations") if isinstance(raw, Mapping) else None
    if not isinstance(observations, list):
        words = raw.get("error_message") if isinstance(raw, Mapping) else None
        detail = f": {words}" if words else ""
        message = f'expected an object with an "observations" list{detail}'
        raise PayloadError(NAME, message, payload=raw, request=OBSERVATIONS)
    parsed = parse_rows(observations, lambda row: _observation(row, series_id), "MacroObservation")
    return dataclasses.replace(parsed, records=_vintages_folded(parsed.records))


def _observation(row: JSON, series_id: str) -> MacroObservation:
    date = to_text(require(row, "date"), "date")
    value = require(row, "value")
    start = row.get("realtime_start") if isinstance(row, Mapping) else None
    return MacroObservation(
        series_id=series_id,
        ts=to_epoch_ms(date, "date"),
        source=NAME,
        value=None if value == MISSING else to_decimal(value, "value"),
        released_ts=None if start is None else to_epoch_ms(to_text(start, "realtime_start"),
                                                           "realtime_start"),
    )  # fmt: skip


def _vintages_folded(vintages: list[MacroObservation]) -> list[MacroObservation]:
    """One observation per date: the newest vintage's value, released when the first
    vintage with a value was (the first vintage when none has one)."""
    by_date: dict[int, list[MacroObservation]] = {}
    for vintage in vintages:
        by_date.setdefault(vintage.ts, []).append(vintage)
    folded = []
    for group in by_date.values():
        group.sort(key=lambda v: (v.released_ts is None, v.released_ts))
        valued = [v for v in group if v.value is not None]
        released = (valued or group)[0].released_ts
        folded.append(dataclasses.replace(group[-1], released_ts=released))
    return sorted(folded, key=lambda v: v.ts)
