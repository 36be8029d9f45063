"""FRED: the real GDP observation recordings, fetched through the real path from the
replay server and parsed; the facts asserted are read off the recordings."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D

from ohmycoins.records import MacroObservation
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.fred import OBSERVATIONS, Fred, parse_observations
from tests.support.replay import Reply, replay_server

Recorded = Callable[..., Reply]
JAN_1_1946 = -757_382_400_000
JUL_1_2024 = 1_719_792_000_000
DEC_19_2024 = 1_734_566_400_000
OCT_30_2024 = 1_730_246_400_000
JAN_29_1992 = 696_643_200_000


async def observations(reply: Reply) -> list[MacroObservation]:
    async with (
        replay_server({OBSERVATIONS: reply}) as url,
        Fred(SourceSettings(url=url, api_key="k", rate_limit=60_000)) as api,
    ):
        parsed = parse_observations(await api.fetch_observations("GDP"), "GDP")
    assert parsed.violations == []
    return parsed.records


async def test_gdp_with_missing_early_values(recorded: Recorded) -> None:
    records = await observations(recorded("fred/series_observations_GDP.json"))
    assert len(records) == 315
    assert [r.value for r in records[:4]] == [None] * 4  # "." is a missing value
    assert records[0].ts == JAN_1_1946
    assert records[4].value == D("243.164")
    # asked without vintages, every row's real-time period is the day of the request
    assert records[-1] == MacroObservation("GDP", JUL_1_2024, "fred", D("29374.914"), DEC_19_2024)


async def test_gdp_initial_releases(recorded: Recorded) -> None:
    name = "fred/series_observations_GDP_output_type4_initial_release.json"
    records = await observations(recorded(name))
    assert len(records) == len({r.ts for r in records}) == 132
    assert (records[0].value, records[0].released_ts) == (D("5736.6"), JAN_29_1992)
    # Q3 2024 was first released on 2024-10-30: not known before that day
    assert records[-1] == MacroObservation("GDP", JUL_1_2024, "fred", D("29349.924"), OCT_30_2024)
