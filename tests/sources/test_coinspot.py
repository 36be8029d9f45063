"""CoinSpot public API v2: every endpoint fetched through its real path (settings URL,
HttpSource, httpx) from a local replay server, then parsed.

No real v2 body was recorded: the fixtures under tests/fixtures/coinspot are written
from CoinSpot's published v2 documentation (https://www.coinspot.com.au/v2/api: the
`status`/`message` envelope, `prices` with string `bid`/`ask`/`last`, `buyorders` and
`sellorders` of `amount`/`rate`/`total`/`coin`/`market`, ISO-8601 `solddate`, the
`{"status": "error", "message": ...}` error) and from client libraries built against
the live API (numbers in orders, `"NaN"` prices on illiquid markets, `coin_market` keys
in `/latest`). The one real recording, a v1 `/pubapi/latest` body, is parsed in
tests/conformance.
"""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from ohmycoins.errors import PayloadError, RateLimitedError, SourceError
from ohmycoins.records import OrderBook, Ticker
from ohmycoins.settings import SourceSettings, load_settings
from ohmycoins.sources import coinspot
from ohmycoins.sources.coinspot import (
    CoinSpot,
    Rate,
    market_path,
    market_symbol,
    parse_completed_orders,
    parse_latest,
    parse_latest_coin,
    parse_open_orders,
    parse_rate,
    trade_id,
)
from tests.support.replay import Reply, replay_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "coinspot"
NOW = 1_714_564_805_000


def fixture(name: str) -> Reply:
    return Reply.file(FIXTURES / name)


def body(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(), parse_float=D)


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    """Source settings as a user sets them: OMC_COINSPOT_* variables."""

    def make(url: str) -> SourceSettings:
        variables = {"OMC_COINSPOT_URL": url, "OMC_COINSPOT_RATE_LIMIT": "60000"}
        return load_settings(variables, tmp_path / "absent.toml").source("coinspot")

    return make


async def test_latest_tickers(settings: Any) -> None:
    async with (
        replay_server({"/latest": fixture("latest.json")}) as url,
        CoinSpot(settings(url)) as spot,
    ):
        raw = await spot.fetch_latest()
    parsed = parse_latest(raw, NOW)
    tickers = {t.symbol: t for t in parsed.records}
    assert sorted(tickers) == ["BTC/AUD", "BTC/USDT", "ETH/AUD", "SHIB/AUD"]
    assert tickers["BTC/AUD"] == Ticker(
        exchange="coinspot",
        symbol="BTC/AUD",
        ts=NOW,
        last=D("98400"),
        bid=D("98120.01"),
        ask=D("98650.5"),
    )
    assert tickers["BTC/USDT"].last == D("63210.42")
    shib = tickers["SHIB/AUD"]
    assert (str(shib.bid), str(shib.last)) == ("0.00001234", "0.00001250")
    [nan] = parsed.violations
    assert (nan.record_type, nan.field, nan.value) == ("Ticker", "last", "NaN")
    assert nan.record == {"ABC/USDT": {"bid": "NaN", "ask": "NaN", "last": "NaN"}}


async def test_latest_of_one_market(settings: Any) -> None:
    routes = {
        "/latest/BTC": fixture("latest_btc.json"),
        "/latest/BTC/usdt": fixture("latest_btc_usdt.json"),
    }
    async with replay_server(routes) as url, CoinSpot(settings(url)) as spot:
        aud = parse_latest_coin(await spot.fetch_latest_coin("btc"), "BTC/AUD", NOW)
        usdt = parse_latest_coin(await spot.fetch_latest_coin("btc", "USDT"), "BTC/USDT", NOW)
    assert [(t.symbol, t.bid, t.ask, t.last) for t in aud.records + usdt.records] == [
        ("BTC/AUD", D("98120.01"), D("98650.5"), D("98400")),
        ("BTC/USDT", D("63100.1"), D("63300"), D("63210.42")),
    ]


async def test_buy_and_sell_prices(settings: Any) -> None:
    routes = {
        "/buyprice/BTC": fixture("buyprice_btc.json"),
        "/sellprice/BTC/usdt": fixture("sellprice_btc_usdt.json"),
    }
    async with replay_server(routes) as url, CoinSpot(settings(url)) as spot:
        buy = parse_rate(await spot.fetch_buy_price("BTC"))
        sell = parse_rate(await spot.fetch_sell_price("btc", "usdt"))
    assert buy == Rate("BTC/AUD", D("98650.5"))
    assert sell == Rate("BTC/USDT", D("63100.1"))


def test_a_rate_answer_without_a_rate_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="rate"):
        parse_rate({"status": "ok", "message": "ok", "market": "BTC/AUD"})


async def test_open_orders_become_one_aggregated_book(settings: Any) -> None:
    async with (
        replay_server({"/orders/open/BTC": fixture("orders_open_btc.json")}) as url,
        CoinSpot(settings(url)) as spot,
    ):
        raw = await spot.fetch_open_orders("btc")
    parsed = parse_open_orders(raw, "BTC/AUD", NOW)
    [book] = parsed.records
    assert book == OrderBook(
        exchange="coinspot",
        symbol="BTC/AUD",
        ts=NOW,
        bids=((D("98120.01"), D("0.6")), (D(98000), D("0.25"))),
        asks=((D("98650.5"), D("0.2")), (D(98700), D("0.30001234"))),
    )
    [bad] = parsed.violations
    assert (bad.record_type, bad.field, bad.value) == ("OrderBook", "buyorders[3].amount", "lots")
    assert bad.record == raw["buyorders"][3]


async def test_completed_orders_become_trades(settings: Any) -> None:
    async with (
        replay_server({"/orders/completed/BTC": fixture("orders_completed_btc.json")}) as url,
        CoinSpot(settings(url)) as spot,
    ):
        raw = await spot.fetch_completed_orders("BTC")
    parsed = parse_completed_orders(raw, "BTC/AUD")
    trades = [(t.side, t.ts, t.price, t.amount) for t in parsed.records]
    assert trades == [
        ("buy", 1_714_564_801_000, D(98400), D("0.0102")),
        ("buy", 1_714_564_801_000, D(98400), D("0.0102")),
        ("buy", 1_714_564_798_250, D("98390.5"), D("0.5")),
        ("sell", 1_714_564_799_000, D("98120.01"), D("0.02")),
    ]
    ids = [t.trade_id for t in parsed.records]
    assert len(set(ids)) == 4, "two equal fills in one millisecond stay two trades"
    assert {(t.exchange, t.symbol) for t in parsed.records} == {("coinspot", "BTC/AUD")}
    [bad] = parsed.violations
    assert (bad.record_type, bad.field, bad.value) == ("Trade", "solddate", None)


def test_trade_ids_are_stable_across_polls() -> None:
    first = parse_completed_orders(body("orders_completed_btc.json"), "BTC/AUD")
    later = body("orders_completed_btc.json")
    newer = {"amount": 1, "rate": D("98500.0"), "total": 98500, "coin": "BTC", "market": "BTC/AUD"}
    later["buyorders"].insert(0, {**newer, "solddate": "2024-05-01T12:00:09.000Z"})
    later["buyorders"].pop()
    second = parse_completed_orders(later, "BTC/AUD")
    first_ids = {t.trade_id: t for t in first.records}
    second_ids = {t.trade_id: t for t in second.records}
    kept = set(first_ids) & set(second_ids)
    assert (len(second.records), len(kept)) == (4, 3)
    assert all(first_ids[i] == second_ids[i] for i in kept)


def test_trade_id_ignores_how_a_number_is_written() -> None:
    one = trade_id("BTC/AUD", "buy", 1, D("98400"), D("0.0102"), 0)
    assert one == trade_id("BTC/AUD", "buy", 1, D("98400.00"), D("0.01020"), 0)
    assert one != trade_id("BTC/AUD", "sell", 1, D("98400"), D("0.0102"), 0)
    assert one != trade_id("BTC/AUD", "buy", 1, D("98400"), D("0.0102"), 1)


async def test_error_status_is_a_source_error_with_coinspots_message(settings: Any) -> None:
    routes = {"/orders/open/NOPE": {"status": "error", "message": "Coin not found"}}
    async with replay_server(routes) as url, CoinSpot(settings(url)) as spot:
        with pytest.raises(SourceError, match="Coin not found") as caught:
            await spot.fetch_open_orders("nope")
    assert not isinstance(caught.value, PayloadError)
    assert caught.value.request == "/orders/open/NOPE"


async def test_http_error_status_is_a_source_error(settings: Any) -> None:
    routes = {
        "/latest/BTC/xyz": Reply({"status": "error", "message": "Invalid market"}, status=400)
    }
    async with replay_server(routes) as url, CoinSpot(settings(url)) as spot:
        with pytest.raises(SourceError, match="HTTP 400"):
            await spot.fetch_latest_coin("btc", "xyz")


async def test_an_answer_without_status_is_a_payload_error(settings: Any) -> None:
    async with (
        replay_server({"/latest": {"prices": {}}}) as url,
        CoinSpot(settings(url)) as spot,
    ):
        with pytest.raises(PayloadError, match="no status"):
            await spot.fetch_latest()


async def test_html_instead_of_json_is_a_payload_error(settings: Any) -> None:
    page = Reply("<!doctype html><title>CoinSpot maintenance</title>", content_type="text/html")
    async with replay_server({"/latest": page}) as url, CoinSpot(settings(url)) as spot:
        with pytest.raises(PayloadError, match="not JSON"):
            await spot.fetch_latest()


async def test_rate_limited_with_retry_after(settings: Any) -> None:
    limited = Reply(
        {"status": "error", "message": "slow down"}, status=429, headers={"Retry-After": "5"}
    )
    async with (
        replay_server({"/latest": limited}) as url,
        CoinSpot(settings(url), attempts=1) as spot,
    ):
        with pytest.raises(RateLimitedError) as caught:
            await spot.fetch_latest()
    assert caught.value.retry_after == 5


def test_book_lists_must_be_lists() -> None:
    with pytest.raises(PayloadError, match="sellorders"):
        parse_open_orders({"status": "ok", "buyorders": []}, "BTC/AUD", NOW)


def test_paths_and_symbols() -> None:
    assert market_symbol("btc") == "BTC/AUD"
    assert market_symbol("eth", "usdt") == "ETH/USDT"
    assert market_path(coinspot.OPEN_ORDERS, "btc") == "/orders/open/BTC"
    assert market_path(coinspot.OPEN_ORDERS, "btc", "aud") == "/orders/open/BTC"
    assert market_path(coinspot.OPEN_ORDERS, "btc", "USDT") == "/orders/open/BTC/usdt"


async def test_defaults_are_the_documented_ones() -> None:
    async with CoinSpot() as spot:
        assert spot.http.base_url == "https://www.coinspot.com.au/pubapi/v2"
        assert spot.http.limiter is not None
        assert spot.http.limiter.rate_per_s == pytest.approx(1000 / 60)
