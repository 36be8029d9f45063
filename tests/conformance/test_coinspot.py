"""The one real CoinSpot recording: a v1 `/pubapi/latest` answer (about 2019, every
number a string). v1 `/latest` has the shape of v2 `/latest` without `message`, so it
is read through the real path: the source's URL set to the v1 base, `fetch_latest`,
`parse_latest`."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D

from ohmycoins.settings import SourceSettings
from ohmycoins.sources.coinspot import CoinSpot, parse_latest
from tests.support.replay import Reply, replay_server

NOW = 1_556_668_800_000


async def test_v1_latest_prices(recorded: Callable[..., Reply]) -> None:
    reply = recorded("coinspot/pubapi_latest_v1_2019.json")
    async with (
        replay_server({"/pubapi/latest": reply}) as url,
        CoinSpot(SourceSettings(url=f"{url}/pubapi", rate_limit=60_000)) as spot,
    ):
        raw = await spot.fetch_latest()
    assert url.requests[0].path == "/pubapi/latest"
    parsed = parse_latest(raw, NOW)
    assert parsed.violations == []
    tickers = {t.symbol: t for t in parsed.records}
    assert sorted(tickers) == [
        "ANS/AUD",
        "BTC/AUD",
        "DOGE/AUD",
        "ETH/AUD",
        "LTC/AUD",
        "POWR/AUD",
        "TRX/AUD",
        "XRP/AUD",
    ]
    btc = tickers["BTC/AUD"]
    assert str(btc.bid) == "5330.10000001"
    assert (btc.ask, btc.last) == (D(5394), D(5367))
    assert str(tickers["TRX/AUD"].ask) == "0.033999"
    assert all(t.ts == NOW and t.exchange == "coinspot" for t in parsed.records)
    assert all(t.bid is not None and t.ask is not None and t.bid <= t.ask for t in parsed.records)
