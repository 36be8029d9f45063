"""CoinGecko: every endpoint fetched through its real path (settings URL, HttpSource,
httpx) from a local replay server, then parsed.

The fixtures under tests/fixtures/coingecko are hand-written in the wire shapes of
real recordings (tests/conformance parses the recordings themselves): string
numbers, float-millisecond timestamps, a 90-digit volume string, nulls.
"""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ohmycoins.errors import (
    PayloadError,
    RateLimitedError,
    SourceError,
    TemporarySourceError,
)
from ohmycoins.records import Asset, Candle, MarketSnapshot
from ohmycoins.settings import SourceSettings, load_settings
from ohmycoins.sources import coingecko
from ohmycoins.sources.coingecko import (
    CoinGecko,
    ohlc_timeframe,
    parse_market_chart,
    parse_markets,
    parse_ohlc,
    parse_simple_price,
    plan_for,
)
from ohmycoins.sources.parsing import FieldError, to_decimal, to_epoch_ms
from tests.support.replay import Reply, replay_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "coingecko"
NOW = 1_714_570_000_000


def fixture(name: str) -> Reply:
    return Reply.file(FIXTURES / name)


def rows(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(), parse_float=D)


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    """Source settings as a user sets them: OMC_COINGECKO_* variables. A high rate limit
    keeps the token bucket from pacing the tests."""

    def make(url: str, **env: str) -> SourceSettings:
        variables = {"OMC_COINGECKO_URL": url, "OMC_COINGECKO_RATE_LIMIT": "60000", **env}
        return load_settings(variables, tmp_path / "absent.toml").source("coingecko")

    return make


async def test_markets_become_snapshots_and_assets(settings: Any) -> None:
    async with (
        replay_server({"/coins/markets": fixture("markets_usd.json")}) as url,
        CoinGecko(settings(url)) as gecko,
    ):
        raw = await gecko.fetch_markets("usd", top_n=3)
    assert url.requests[0].query == {
        "vs_currency": "usd",
        "order": "market_cap_desc",
        "per_page": "3",
        "page": "1",
        "sparkline": "false",
        "price_change_percentage": "24h",
    }
    parsed = parse_markets(raw, "usd", NOW)
    assert parsed.violations == []
    snaps = {r.asset_id: r for r in parsed.records if isinstance(r, MarketSnapshot)}
    assets = {r.asset_id: r for r in parsed.records if isinstance(r, Asset)}
    assert set(snaps) == set(assets) == {"bitcoin", "ethereum", "pepe"}
    btc = snaps["bitcoin"]
    assert btc == MarketSnapshot(
        source="coingecko",
        asset_id="bitcoin",
        ts=1_714_564_803_123,
        symbol="BTC",
        vs_currency="usd",
        price=D("64250.12"),
        market_cap=D(1265432109876),
        rank=1,
        volume_24h=D("28765432100.5"),
        high_24h=D(65010),
        low_24h=D("63011.7"),
        open_24h=D("62999.50"),
        change_pct_24h=D("1.98512"),
        circulating_supply=D("19695043.0"),
        total_supply=D("21000000.0"),
        max_supply=D("21000000.0"),
    )
    assert assets["bitcoin"] == Asset(
        asset_id="bitcoin",
        symbol="BTC",
        name="Bitcoin",
        updated_ts=1_714_564_803_123,
        coingecko_id="bitcoin",
        rank=1,
        active=True,
    )


async def test_market_numbers_as_strings_and_nulls(settings: Any) -> None:
    async with (
        replay_server({"/coins/markets": fixture("markets_usd.json")}) as url,
        CoinGecko(settings(url)) as gecko,
    ):
        parsed = parse_markets(await gecko.fetch_markets("usd", top_n=3), "USD", NOW)
    eth = next(r for r in parsed.records if isinstance(r, MarketSnapshot) and r.symbol == "ETH")
    assert eth.price == D("3012.44")
    assert eth.open_24h == D("3032.94")
    assert eth.change_pct_24h == D("-0.676")
    assert eth.vs_currency == "usd"
    assert (eth.total_supply, eth.max_supply) == (None, None)


async def test_small_prices_round_trip_exactly(settings: Any) -> None:
    async with (
        replay_server({"/coins/markets": fixture("markets_usd.json")}) as url,
        CoinGecko(settings(url)) as gecko,
    ):
        parsed = parse_markets(await gecko.fetch_markets("usd", top_n=3), "usd", NOW)
    pepe = next(r for r in parsed.records if isinstance(r, MarketSnapshot) and r.symbol == "PEPE")
    assert str(pepe.price) == "0.00001234"
    assert pepe.open_24h == D("0.00001275")
    assert pepe.circulating_supply == D("420690000000000.0")


async def test_top_n_pages_as_needed(settings: Any) -> None:
    coins = rows("markets_usd.json")
    routes = {
        "/coins/markets?page=1": Reply(coins[0:1]),
        "/coins/markets?page=2": Reply(coins[1:2]),
        "/coins/markets?page=3": Reply(coins[2:3]),
    }
    async with replay_server(routes) as url, CoinGecko(settings(url)) as gecko:
        raw = await gecko.fetch_markets("usd", top_n=2, per_page=1)
    assert [row["id"] for row in raw] == ["bitcoin", "ethereum"]
    assert [r.query["page"] for r in url.requests] == ["1", "2"]
    assert {r.query["per_page"] for r in url.requests} == {"1"}


async def test_paging_stops_at_a_short_page(settings: Any) -> None:
    coins = rows("markets_usd.json")
    routes = {"/coins/markets?page=1": Reply(coins[0:2]), "/coins/markets?page=2": coins[2:3]}
    async with replay_server(routes) as url, CoinGecko(settings(url)) as gecko:
        raw = await gecko.fetch_markets("usd", top_n=10, per_page=2)
    assert len(raw) == 3
    assert url.count("/coins/markets") == 2


async def test_malformed_market_rows_become_violations(settings: Any) -> None:
    async with (
        replay_server({"/coins/markets": fixture("markets_usd_malformed.json")}) as url,
        CoinGecko(settings(url)) as gecko,
    ):
        raw = await gecko.fetch_markets("usd", top_n=5)
    parsed = parse_markets(raw, "usd", NOW)
    kept = sorted((type(r).__name__, r.asset_id) for r in parsed.records)
    assert kept == [
        ("Asset", "bitcoin"),
        ("Asset", "comma-coin"),
        ("Asset", "ghost-token"),
        ("MarketSnapshot", "bitcoin"),
    ]
    broken = [(v.record_type, v.field, v.value) for v in parsed.violations]
    assert broken == [
        ("Asset", "id", None),
        ("MarketSnapshot", "current_price", None),
        ("MarketSnapshot", "current_price", "12,50"),
        ("Asset", "id", "not-a-coin"),
    ]
    assert parsed.violations[1].record == raw[2]
    ghost = next(r for r in parsed.records if r.asset_id == "ghost-token")
    assert isinstance(ghost, Asset)
    assert ghost.updated_ts == NOW
    assert ghost.rank is None
    btc = next(r for r in parsed.records if isinstance(r, MarketSnapshot))
    assert (btc.open_24h, btc.change_pct_24h) == (None, None)


async def test_simple_price(settings: Any) -> None:
    async with (
        replay_server({"/simple/price": fixture("simple_price_usd_eur.json")}) as url,
        CoinGecko(settings(url)) as gecko,
    ):
        raw = await gecko.fetch_simple_price(["bitcoin", "pepe"], ["usd", "eur"])
    assert url.requests[0].query == {
        "ids": "bitcoin,pepe",
        "vs_currencies": "usd,eur",
        "include_market_cap": "true",
        "include_24hr_vol": "true",
        "include_24hr_change": "true",
        "include_last_updated_at": "true",
    }
    parsed = parse_simple_price(raw, ["usd", "eur"], NOW, symbols={"bitcoin": "btc"})
    assert parsed.violations == []
    by_key = {(r.asset_id, r.vs_currency): r for r in parsed.records}
    assert sorted(by_key) == [("bitcoin", "eur"), ("bitcoin", "usd"), ("pepe", "usd")]
    assert by_key["bitcoin", "eur"] == MarketSnapshot(
        source="coingecko",
        asset_id="bitcoin",
        ts=1_714_564_803_000,
        symbol="BTC",
        vs_currency="eur",
        price=D("59870.5"),
        market_cap=D(1179000000000),
        volume_24h=D(26800000000),
        change_pct_24h=D("1.91"),
    )
    pepe = by_key["pepe", "usd"]
    assert (str(pepe.price), pepe.volume_24h, pepe.symbol) == ("0.00001234", None, "")


async def test_simple_price_for_an_unknown_currency_is_no_data(settings: Any) -> None:
    async with (
        replay_server({"/simple/price": {"bitcoin": {}}}) as url,
        CoinGecko(settings(url)) as gecko,
    ):
        raw = await gecko.fetch_simple_price(["bitcoin"], ["ethereum"])
    parsed = parse_simple_price(raw, ["ethereum"], NOW)
    assert (parsed.records, parsed.violations) == ([], [])


async def test_ohlc_candles(settings: Any) -> None:
    async with (
        replay_server({"/coins/bitcoin/ohlc": fixture("ohlc_bitcoin_usd_1d.json")}) as url,
        CoinGecko(settings(url)) as gecko,
    ):
        raw = await gecko.fetch_ohlc("bitcoin", "usd", 1)
    assert url.requests[0].query == {"vs_currency": "usd", "days": "1"}
    parsed = parse_ohlc(raw, "btc", "usd", 1)
    assert len(parsed.records) == 4
    assert parsed.records[0] == Candle(
        exchange="coingecko",
        symbol="BTC/USD",
        timeframe="30m",
        ts=1_714_564_800_000 - 30 * 60_000,
        open=D("63011.7"),
        high=D("63120.0"),
        low=D("62980.5"),
        close=D("63100.25"),
        volume=None,
    )
    assert parsed.records[1].close == D("63240.10")
    [off_grid] = parsed.violations
    assert (off_grid.record_type, off_grid.field, off_grid.value) == ("Candle", "ts", 1714571234567)
    assert off_grid.record == raw[4]


@pytest.mark.parametrize(
    ("days", "timeframe"),
    [
        (1, "30m"),
        (2, "30m"),
        (3, "4h"),
        (7, "4h"),
        (30, "4h"),
        (31, "4d"),
        (365, "4d"),
        ("max", "4d"),
    ],
)
def test_ohlc_timeframe_follows_days(days: int | str, timeframe: str) -> None:
    assert ohlc_timeframe(days) == timeframe


@pytest.mark.parametrize("days", [0, -1, "7", True])
async def test_ohlc_refuses_days_without_a_candle_body(days: Any) -> None:
    with pytest.raises(ValueError, match="days"):
        ohlc_timeframe(days)
    async with CoinGecko(SourceSettings(url="http://127.0.0.1:9")) as gecko:
        with pytest.raises(ValueError, match="days"):
            await gecko.fetch_ohlc("bitcoin", "usd", days)


async def test_market_chart(settings: Any) -> None:
    chart = fixture("market_chart_bitcoin_usd_1d.json")
    async with (
        replay_server({"/coins/bitcoin/market_chart": chart}) as url,
        CoinGecko(settings(url)) as gecko,
    ):
        raw = await gecko.fetch_market_chart("bitcoin", "usd", 1, interval="5m")
    assert url.requests[0].query == {"vs_currency": "usd", "days": "1", "interval": "5m"}
    parsed = parse_market_chart(raw, "bitcoin", "btc", "usd")
    assert parsed.violations == []
    first, second, third = parsed.records
    assert first.ts == 1_714_564_800_000
    assert first.price == D("63011.7")
    assert first.market_cap == D("1240000000000.5")
    assert first.volume_24h == D(raw["total_volumes"][0][1])
    assert len(str(first.volume_24h).replace(".", "")) >= 90
    assert (second.price, second.market_cap) == (D("63020.15"), None)
    assert (third.ts, third.volume_24h) == (1_714_565_400_123, D("28766000000.75"))
    assert {(r.source, r.asset_id, r.symbol, r.vs_currency) for r in parsed.records} == {
        ("coingecko", "bitcoin", "BTC", "usd")
    }


def test_market_chart_bad_points_are_violations() -> None:
    raw = {
        "prices": [
            [1714564800000, D("63011.7")],
            [1714565100000, None],
            ["soon", 1],
            [1714565400000],
        ],
        "market_caps": [[1714564800000, "lots"]],
        "total_volumes": [],
    }
    parsed = parse_market_chart(raw, "bitcoin", "btc", "usd")
    assert parsed.records == []
    fields = [(v.field, v.value) for v in parsed.violations]
    assert fields == [
        ("prices[2]", "soon"),
        ("prices[3]", [1714565400000]),
        ("market_cap", "lots"),
        ("price", None),
    ]


async def test_unprocessable_request_is_a_source_error(settings: Any) -> None:
    routes = {"/coins/markets": Reply({"error": "Missing parameter vs_currency"}, status=422)}
    async with replay_server(routes) as url, CoinGecko(settings(url)) as gecko:
        with pytest.raises(SourceError, match="HTTP 422") as caught:
            await gecko.fetch_markets("", top_n=1)
    assert not isinstance(caught.value, TemporarySourceError)
    assert url.count() == 1


async def test_server_error_is_temporary(settings: Any) -> None:
    routes = {
        "/coins/bitcoin/ohlc": Reply({"status": 500, "error": "Internal Server Error"}, status=500)
    }
    async with replay_server(routes) as url, CoinGecko(settings(url), attempts=1) as gecko:
        with pytest.raises(TemporarySourceError, match="HTTP 500"):
            await gecko.fetch_ohlc("bitcoin", "usd", 7)


async def test_rate_limited_with_retry_after(settings: Any) -> None:
    limited = Reply({"status": {"error_code": 429}}, status=429, headers={"Retry-After": "42"})
    async with (
        replay_server({"/simple/price": limited}) as url,
        CoinGecko(settings(url), attempts=1) as gecko,
    ):
        with pytest.raises(RateLimitedError) as caught:
            await gecko.fetch_simple_price(["bitcoin"], ["usd"])
    assert caught.value.retry_after == 42
    assert caught.value.source == "coingecko"


async def test_html_instead_of_json_is_a_payload_error(settings: Any) -> None:
    page = Reply("<html><body>Just a moment...</body></html>", content_type="text/html")
    async with replay_server({"/coins/markets": page}) as url, CoinGecko(settings(url)) as gecko:
        with pytest.raises(PayloadError, match="not JSON"):
            await gecko.fetch_markets("usd", top_n=1)


async def test_error_object_where_a_list_belongs_is_a_payload_error(settings: Any) -> None:
    routes = {"/coins/markets": {"error": "invalid vs_currency"}}
    async with replay_server(routes) as url, CoinGecko(settings(url)) as gecko:
        with pytest.raises(PayloadError, match="invalid vs_currency"):
            await gecko.fetch_markets("zzz", top_n=1)


async def test_demo_key_goes_in_the_demo_header(settings: Any) -> None:
    async with (
        replay_server({"/simple/price": {"bitcoin": {"usd": 1}}}) as url,
        CoinGecko(settings(url, OMC_COINGECKO_API_KEY="CG-demo-key")) as gecko,
    ):
        await gecko.fetch_simple_price(["bitcoin"], ["usd"])
    headers = {k.lower(): v for k, v in url.requests[0].headers.items()}
    assert headers["x-cg-demo-api-key"] == "CG-demo-key"
    assert "x-cg-pro-api-key" not in headers


async def test_plan_follows_the_url() -> None:
    assert plan_for(SourceSettings()) is coingecko.FREE
    assert plan_for(SourceSettings(url=coingecko.PRO_URL)) is coingecko.PRO
    assert plan_for(SourceSettings(url="http://127.0.0.1:8080")) is coingecko.FREE
    async with CoinGecko(SourceSettings(url=coingecko.PRO_URL, api_key="CG-pro")) as pro:
        assert pro.http.base_url == coingecko.PRO_URL
        assert pro.http.limiter is not None
        assert pro.http.limiter.rate_per_s == pytest.approx(coingecko.PRO.rate_limit / 60)


async def test_free_plan_defaults_to_thirty_calls_a_minute() -> None:
    async with CoinGecko() as gecko:
        assert gecko.http.base_url == coingecko.FREE_URL
        assert gecko.http.limiter is not None
        assert gecko.http.limiter.rate_per_s == pytest.approx(30 / 60)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1620550800000, 1620550800000),
        (D("1620550800000.0"), 1620550800000),
        (D("1620550800000.9"), 1620550800000),
        ("1620550800000", 1620550800000),
        ("2021-05-15T15:59:43.867Z", 1621094383867),
        ("2020-05-21T13:22:45", 1590067365000),
    ],
)
def test_epoch_ms_from_every_wire_form(value: object, expected: int) -> None:
    assert to_epoch_ms(value, "ts") == expected


@pytest.mark.parametrize(
    "value", [None, True, "", "n/a", "1_000", "NaN", "Infinity", D("NaN"), 0.1, [1]]
)
def test_to_decimal_refuses_what_is_not_a_finite_number(value: object) -> None:
    with pytest.raises(FieldError):
        to_decimal(value, "price")


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_decimal_strings_round_trip_exactly(value: D) -> None:
    parsed = to_decimal(str(value), "price")
    assert str(parsed) == str(value)
