"""Yahoo Finance: every real chart recording, fetched through the real path from the
replay server and parsed; the facts asserted are read off the recordings."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D

import pytest

from ohmycoins.records import MacroObservation
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.yahoo import Yahoo, parse_chart
from tests.support.replay import Reply, replay_server

Recorded = Callable[..., Reply]
DAY = 86_400_000
JAN_1_2020 = 1_577_836_800_000
AUG_31_2020 = 1_598_832_000_000
NOV_6_2020 = 1_604_620_800_000


async def closes(reply: Reply, symbol: str, interval: str = "1d") -> list[MacroObservation]:
    routes = {f"/v8/finance/chart/{symbol}": reply}
    async with (
        replay_server(routes) as url,
        Yahoo(SourceSettings(url=url, rate_limit=60_000)) as api,
    ):
        parsed = parse_chart(await api.fetch_chart(symbol, "1mo", interval), symbol)
    assert parsed.violations == []
    return parsed.records


@pytest.mark.parametrize(
    ("name", "symbol", "first", "last"),
    [
        (
            "chart_BTC-USD_2020-01-01_2020-01-03_1d.json",
            "BTC-USD",
            "7200.17431640625",
            "7344.88427734375",
        ),
        (
            "chart_EURUSD=X_2020-01-01_2020-01-03_1d.json",
            "EURUSD=X",
            "1.1220825910568237",
            "1.1171437501907349",
        ),
    ],
)
async def test_three_days_from_new_year(
    recorded: Recorded, name: str, symbol: str, first: str, last: str
) -> None:
    records = await closes(recorded(f"yahoo/{name}"), symbol)
    assert [r.ts for r in records] == [JAN_1_2020, JAN_1_2020 + DAY, JAN_1_2020 + 2 * DAY]
    assert (records[0].value, records[-1].value) == (D(first), D(last))
    assert {r.series_id for r in records} == {f"yahoo:{symbol}"}


async def test_gold_futures_bar_at_new_york_midnight(recorded: Recorded) -> None:
    [gold] = await closes(recorded("yahoo/chart_GC=F_2020-01-01_2020-01-03_1d.json"), "GC=F")
    assert gold == MacroObservation("yahoo:GC=F", JAN_1_2020 + DAY, "yahoo", D("1524.5"))


async def test_aapl_ten_weeks_of_trading_days(recorded: Recorded) -> None:
    records = await closes(recorded("yahoo/chart_AAPL_2020-08-31_2020-11-07_1d.json"), "AAPL")
    assert len(records) == 49
    assert (records[0].ts, records[-1].ts) == (AUG_31_2020, NOV_6_2020)
    assert records[0].value == D("129.0399932861328")
    assert records[-1].value == D("118.69000244140625")


async def test_saturday_minutes_are_empty_not_an_error(recorded: Recorded) -> None:
    reply = recorded("yahoo/chart_AAPL_2025-02-01_2025-02-02_1m.json")
    assert await closes(reply, "AAPL", "1m") == []
