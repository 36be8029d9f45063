"""Every real CoinGecko recording of an endpoint we collect, fetched through the real
path (settings URL, HttpSource, httpx) from the replay server and parsed; the facts
asserted are read off the recordings themselves."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from ohmycoins.errors import SourceError, TemporarySourceError
from ohmycoins.records import Asset, MarketSnapshot
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.coingecko import (
    CoinGecko,
    parse_market_chart,
    parse_markets,
    parse_ohlc,
    parse_simple_price,
)
from ohmycoins.sources.parsing import to_decimal, to_epoch_ms
from tests.support.replay import Reply, replay_server

Recorded = Callable[..., Reply]
NOW = 1_621_094_500_000

SUPPORTED = {
    "coins_markets_2018_trimmed_pycoingecko.json",
    "coins_markets_eth_bitcoin_ethereum.json",
    "coins_markets_usd_bitcoin.json",
    "simple_price_bitcoin_usd.json",
    "simple_price_bitcoin_ethereum_eur.json",
    "simple_price_meteora_cbbtc_eur.json",
    "simple_price_unknown_vs_currency_empty.json",
    "coins_bitcoin_ohlc_7d_usd.json",
    "coins_bitcoin_market_chart_1d_usd.json",
    "coins_bitcoin_market_chart_30d_usd.json",
    "coins_bitcoin_market_chart_90d_daily_usd.json",
    "error_422_coins_markets_missing_vs_currency.json",
    "error_422_simple_price_missing_ids.json",
    "error_500_coins_bitcoin_ohlc_no_params.json",
}
NOT_COLLECTED = {
    "coins_bitcoin_full_2021-05-15.json": "/coins/{id}",
    "coins_bitcoin_history_30-12-2017.json": "/coins/{id}/history",
    "coins_binancecoin_history_29-10-2025.json": "/coins/{id}/history",
    "coins_categories.json": "/coins/categories",
    "coins_list_first2000.json": "/coins/list",
    "exchanges_binance_volume_chart_7d.json": "/exchanges/{id}/volume_chart (no record type)",
    "global.json": "/global",
    "global_decentralized_finance_defi.json": "/global/decentralized_finance_defi",
    "search_trending.json": "/search/trending",
}


def source(url: str, attempts: int = 4) -> CoinGecko:
    return CoinGecko(SourceSettings(url=url, rate_limit=60_000), attempts=attempts)


def test_every_recording_is_either_parsed_here_or_knowingly_not(recordings: Path) -> None:
    present = {path.name for path in (recordings / "coingecko").glob("*.json")}
    unclassified = present - SUPPORTED - set(NOT_COLLECTED)
    assert not unclassified, f"new CoinGecko recordings to parse or list: {sorted(unclassified)}"


async def markets(reply: Reply, vs_currency: str) -> tuple[list[Any], list[Any]]:
    async with replay_server({"/coins/markets": reply}) as url, source(url) as gecko:
        raw = await gecko.fetch_markets(vs_currency, top_n=100)
    parsed = parse_markets(raw, vs_currency, NOW)
    assert parsed.violations == []
    snapshots = [r for r in parsed.records if isinstance(r, MarketSnapshot)]
    assets = [r for r in parsed.records if isinstance(r, Asset)]
    return snapshots, assets


async def test_markets_2018_with_numbers_as_strings(recorded: Recorded) -> None:
    reply = recorded("coingecko/coins_markets_2018_trimmed_pycoingecko.json")
    [btc], [asset] = await markets(reply, "usd")
    assert btc.price == D("7015.11823787848")
    assert btc.open_24h == D("7015.11823787848") - D("299.72373285508")
    assert btc.change_pct_24h == D("4.46323343521924")
    assert btc.circulating_supply == D("17236100.0")
    assert (btc.total_supply, btc.max_supply) == (None, None)
    assert btc.ts == asset.updated_ts == 1_535_458_373_390
    assert (asset.asset_id, asset.symbol, asset.name, asset.rank) == (
        "bitcoin",
        "BTC",
        "Bitcoin",
        1,
    )


async def test_markets_usd_bitcoin(recorded: Recorded) -> None:
    [btc], [_] = await markets(recorded("coingecko/coins_markets_usd_bitcoin.json"), "usd")
    assert (btc.price, btc.high_24h, btc.low_24h) == (D(49053), D(51300), D(48019))
    assert btc.open_24h == D("51299.57482218")
    assert btc.market_cap == D(917825524991)
    assert btc.volume_24h == D(61679663434)
    assert btc.ts == 1_621_094_383_867


async def test_markets_in_eth_with_null_supplies(recorded: Recorded) -> None:
    reply = recorded("coingecko/coins_markets_eth_bitcoin_ethereum.json")
    snapshots, assets = await markets(reply, "eth")
    btc, eth = snapshots
    assert [a.asset_id for a in assets] == ["bitcoin", "ethereum"]
    assert (btc.price, btc.vs_currency, btc.rank) == (D("12.666344"), "eth", 1)
    assert (eth.price, eth.open_24h, eth.total_supply, eth.max_supply) == (
        D("1.0"),
        D("1.0"),
        None,
        None,
    )
    assert eth.ts == 1_621_094_399_730


@pytest.mark.parametrize(
    ("name", "ids", "vs", "expected"),
    [
        ("simple_price_bitcoin_usd.json", ["bitcoin"], "usd", {"bitcoin": D(49326)}),
        (
            "simple_price_bitcoin_ethereum_eur.json",
            ["bitcoin", "ethereum"],
            "eur",
            {"bitcoin": D(53953), "ethereum": D("1441.93")},
        ),
        (
            "simple_price_meteora_cbbtc_eur.json",
            ["meteora", "coinbase-wrapped-btc"],
            "eur",
            {"coinbase-wrapped-btc": D(59286), "meteora": D("0.114203")},
        ),
        ("simple_price_unknown_vs_currency_empty.json", ["bitcoin"], "ethereum", {}),
    ],
)
async def test_simple_price(
    recorded: Recorded, name: str, ids: list[str], vs: str, expected: dict[str, D]
) -> None:
    async with (
        replay_server({"/simple/price": recorded(f"coingecko/{name}")}) as url,
        source(url) as gecko,
    ):
        raw = await gecko.fetch_simple_price(ids, [vs])
    parsed = parse_simple_price(raw, [vs], NOW)
    assert parsed.violations == []
    assert {r.asset_id: r.price for r in parsed.records} == expected
    assert all((r.ts, r.vs_currency) == (NOW, vs) for r in parsed.records)


async def test_ohlc_7_days_is_4h_candles(recorded: Recorded) -> None:
    reply = recorded("coingecko/coins_bitcoin_ohlc_7d_usd.json")
    async with replay_server({"/coins/bitcoin/ohlc": reply}) as url, source(url) as gecko:
        raw = await gecko.fetch_ohlc("bitcoin", "usd", 7)
    parsed = parse_ohlc(raw, "btc", "usd", 7)
    assert parsed.violations == []
    candles = parsed.records
    assert len(candles) == 42
    assert {(c.exchange, c.symbol, c.timeframe, c.volume) for c in candles} == {
        ("coingecko", "BTC/USD", "4h", None)
    }
    first, last = candles[0], candles[-1]
    assert first.ts == 1_620_504_000_000 - 4 * 3_600_000
    assert (first.open, first.high, first.low, first.close) == (
        D("57945.79"),
        D("59122.18"),
        D("57945.79"),
        D("59122.18"),
    )
    assert (last.ts, last.close) == (1_621_094_400_000 - 4 * 3_600_000, D("49675.91"))
    assert all(b.ts - a.ts == 4 * 3_600_000 for a, b in pairwise(candles))


@pytest.mark.parametrize(
    ("name", "days", "interval", "count", "first_ts", "first_price"),
    [
        ("1d_usd", 1, None, 288, 1_621_003_519_770, "50675.258073370765"),
        ("30d_usd", 30, None, 722, 1_618_499_053_863, "62641.967327043465"),
        ("90d_daily_usd", 90, "daily", 91, 1_613_347_200_000, "48607.8745224845"),
    ],
)
async def test_market_chart(
    recorded: Recorded,
    name: str,
    days: int,
    interval: str | None,
    count: int,
    first_ts: int,
    first_price: str,
) -> None:
    reply = recorded(f"coingecko/coins_bitcoin_market_chart_{name}.json")
    async with replay_server({"/coins/bitcoin/market_chart": reply}) as url, source(url) as gecko:
        raw = await gecko.fetch_market_chart("bitcoin", "usd", days, interval)
    parsed = parse_market_chart(raw, "bitcoin", "btc", "usd")
    assert parsed.violations == []
    assert len(parsed.records) == count
    first = parsed.records[0]
    assert (first.ts, first.price) == (first_ts, D(first_price))
    assert str(first.price) == first_price
    assert all(r.market_cap is not None and r.volume_24h is not None for r in parsed.records)
    assert all(1_600_000_000_000 < r.ts < 1_700_000_000_000 for r in parsed.records)


async def test_422_answers_are_source_errors(recorded: Recorded) -> None:
    routes = {
        "/coins/markets": recorded(
            "coingecko/error_422_coins_markets_missing_vs_currency.json", 422
        ),
        "/simple/price": recorded("coingecko/error_422_simple_price_missing_ids.json", 422),
    }
    async with replay_server(routes) as url, source(url) as gecko:
        with pytest.raises(SourceError, match="422") as markets_error:
            await gecko.fetch_markets("", top_n=1)
        with pytest.raises(SourceError, match="422") as price_error:
            await gecko.fetch_simple_price([], ["usd"])
    assert not isinstance(markets_error.value, TemporarySourceError)
    assert not isinstance(price_error.value, TemporarySourceError)


async def test_500_answer_is_temporary(recorded: Recorded) -> None:
    reply = recorded("coingecko/error_500_coins_bitcoin_ohlc_no_params.json", 500)
    async with (
        replay_server({"/coins/bitcoin/ohlc": reply}) as url,
        source(url, attempts=1) as gecko,
    ):
        with pytest.raises(TemporarySourceError, match="500"):
            await gecko.fetch_ohlc("bitcoin", "usd", 7)


async def test_float_ms_and_90_digit_volumes_decode_exactly(recorded: Recorded) -> None:
    """The exchange volume chart is not collected, but it holds the two traps the chart
    parser's helpers must survive; read it through the same HTTP path."""
    reply = recorded("coingecko/exchanges_binance_volume_chart_7d.json")
    path = "/exchanges/binance/volume_chart"
    async with replay_server({path: reply}) as url, source(url) as gecko:
        raw = await gecko.http.get_json(path, {"days": 7})
    assert len(raw) == 168
    first_ts, first_volume = raw[0]
    assert to_epoch_ms(first_ts, "ts") == 1_620_550_800_000
    volume = to_decimal(first_volume, "volume")
    assert str(volume) == first_volume
    assert len(first_volume.replace(".", "")) >= 90
    assert all(to_epoch_ms(ts, "ts") % 3_600_000 == 0 for ts, _ in raw)
