"""The market model alone: determinism, candle invariants, aggregation, holes, trades, book."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest

from ohmycoins.sim import MarketModel
from ohmycoins.sim.market import InvalidIntervalError, UnknownSymbolError

from .support import HOLE, MINUTE, NOW_MS, START_MS, SYMBOLS, decimals, make_model, minute_rows

DAY = 1440 * MINUTE
NOW_MINUTE = NOW_MS // MINUTE * MINUTE
PAGE_START = 1_759_800_000_000


@pytest.fixture(scope="module")
def model() -> MarketModel:
    return make_model()


def test_same_seed_same_data_other_seed_other_data() -> None:
    a = make_model().klines("BTCUSDT", "1m", start_ms=PAGE_START, limit=50)
    b = make_model().klines("BTCUSDT", "1m", start_ms=PAGE_START, limit=50)
    c = make_model(seed=8).klines("BTCUSDT", "1m", start_ms=PAGE_START, limit=50)
    assert a == b
    assert a != c


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_one_minute_candles_are_well_formed(model: MarketModel, symbol: str) -> None:
    rows = model.klines(symbol, "1m", start_ms=PAGE_START, limit=1000)
    tick = Decimal(model.spec(symbol).tick_size)
    step = Decimal(model.spec(symbol).step_size)
    assert len(rows) == 1000
    for previous, row in itertools.pairwise(rows):
        assert row[0] == previous[0] + MINUTE
        assert row[1] == previous[4], "open equals the previous close"
    for row in rows:
        o, h, low, c, v = decimals(row)
        assert len(row) == 12 and row[11] == "0" and row[6] == row[0] + MINUTE - 1
        assert all(
            isinstance(row[i], str) and len(row[i].split(".")[1]) == 8
            for i in (1, 2, 3, 4, 5, 7, 9, 10)
        )
        assert h >= max(o, c) and low <= min(o, c) and low > 0 and v > 0
        assert all(p % tick == 0 for p in (o, h, low, c)) and v % step == 0
        assert isinstance(row[8], int) and row[8] > 0
        assert Decimal(row[9]) <= v


@pytest.mark.parametrize(
    ("symbol", "low", "high"),
    [("BTCUSDT", 30_000, 60_000), ("ETHUSDT", 1_500, 3_500), ("SOLUSDT", 20, 200)],
)
def test_prices_have_realistic_magnitudes_over_years(symbol: str, low: int, high: int) -> None:
    two_years = make_model(start_ms=1_704_067_200_000)
    for day in range(0, 640, 3):
        row = two_years.klines(symbol, "1m", start_ms=1_704_067_200_000 + day * DAY, limit=1)[0]
        assert low <= Decimal(row[3]) and Decimal(row[2]) <= high


def test_random_access_equals_paged_rows(model: MarketModel) -> None:
    page = model.klines("ETHUSDT", "1m", start_ms=PAGE_START, limit=300)
    for row in page[::37]:
        assert model.klines("ETHUSDT", "1m", start_ms=row[0], limit=1) == [row]


@pytest.mark.parametrize(
    ("interval", "minutes"),
    [
        ("3m", 3),
        ("5m", 5),
        ("15m", 15),
        ("30m", 30),
        ("1h", 60),
        ("2h", 120),
        ("4h", 240),
        ("6h", 360),
        ("8h", 480),
        ("12h", 720),
        ("1d", 1440),
    ],
)
def test_higher_intervals_aggregate_one_minute_candles_exactly(
    model: MarketModel, interval: str, minutes: int
) -> None:
    for row in model.klines("BTCUSDT", interval, end_ms=NOW_MS - 3 * DAY, limit=3):
        parts = minute_rows(model, "BTCUSDT", row[0], row[0] + minutes * MINUTE - 1)
        assert len(parts) == minutes
        assert row[1] == parts[0][1] and row[4] == parts[-1][4]
        assert Decimal(row[2]) == max(Decimal(p[2]) for p in parts)
        assert Decimal(row[3]) == min(Decimal(p[3]) for p in parts)
        for i in (5, 7, 9, 10):
            assert Decimal(row[i]) == sum(Decimal(p[i]) for p in parts)
        assert row[8] == sum(p[8] for p in parts)
        assert row[6] == row[0] + minutes * MINUTE - 1


def test_week_and_month_buckets_follow_the_calendar(model: MarketModel) -> None:
    weeks = model.klines("BTCUSDT", "1w", start_ms=START_MS)
    months = model.klines("BTCUSDT", "1M", start_ms=0)
    assert [w[0] for w in weeks] == [1_759_708_800_000]  # Monday 2025-10-06
    assert [m[0] for m in months] == [1_759_276_800_000] and months[0][6] == 1_761_955_199_999


def test_holes_have_no_candles_and_no_trades(model: MarketModel) -> None:
    rows = minute_rows(model, "SOLUSDT", HOLE[0] - 10 * MINUTE, HOLE[1] + 10 * MINUTE - 1)
    times = [row[0] for row in rows]
    assert len(rows) == 20
    assert not any(HOLE[0] <= t < HOLE[1] for t in times)
    assert times[9] == HOLE[0] - MINUTE and times[10] == HOLE[1]
    assert model.agg_trades("SOLUSDT", start_ms=HOLE[0], end_ms=HOLE[1] - 1) == []
    assert not model.is_live(HOLE[0]) and not model.is_live(HOLE[1] - 1) and model.is_live(HOLE[1])
    hourly = model.klines("SOLUSDT", "1h", start_ms=HOLE[0] - 3_600_000, limit=3)
    hour_parts = minute_rows(model, "SOLUSDT", hourly[1][0], hourly[1][0] + 3_599_999)
    assert hourly[1][8] == sum(p[8] for p in hour_parts) and len(hour_parts) == 30


def test_trade_ids_run_on_across_holes(model: MarketModel) -> None:
    before = model.agg_trades("SOLUSDT", end_ms=HOLE[0] - 1, limit=1)[0]
    after = model.agg_trades("SOLUSDT", start_ms=HOLE[1], end_ms=HOLE[1] + MINUTE, limit=1)[0]
    assert after["a"] == before["a"] + 1 and after["f"] == before["l"] + 1


def test_nothing_exists_before_listing_or_after_now(model: MarketModel) -> None:
    assert model.klines("BTCUSDT", "1m", start_ms=START_MS - DAY, limit=1)[0][0] == START_MS
    assert model.klines("BTCUSDT", "1m", end_ms=START_MS - 1) == []
    assert model.klines("BTCUSDT", "1m", start_ms=NOW_MS + MINUTE) == []
    latest = model.klines("BTCUSDT", "1m", limit=2)
    assert latest[-1][0] == NOW_MINUTE and latest[-1][6] > NOW_MS
    first = model.trades("BTCUSDT", from_id=0, limit=1)[0]
    assert first["id"] == model.first_trade_id("BTCUSDT") and first["time"] >= START_MS
    assert model.trades("BTCUSDT", limit=1000)[-1]["time"] <= NOW_MS


def test_current_candle_is_partial_and_matches_trades_so_far(model: MarketModel) -> None:
    partial = model.klines("ETHUSDT", "1m", limit=1)[0]
    trades = model.trades("ETHUSDT", limit=1000)
    so_far = [t for t in trades if t["time"] >= NOW_MINUTE]
    assert partial[8] == len(so_far)
    assert Decimal(partial[5]) == sum(Decimal(t["qty"]) for t in so_far)
    assert partial[4] == so_far[-1]["price"]
    complete = make_model(now_ms=lambda: NOW_MINUTE + 2 * MINUTE).klines(
        "ETHUSDT", "1m", start_ms=NOW_MINUTE, limit=1
    )[0]
    assert partial[1] == complete[1] and Decimal(partial[5]) < Decimal(complete[5])


@pytest.mark.parametrize(
    ("kwargs", "first", "count"),
    [
        ({"start_ms": PAGE_START, "limit": 10}, PAGE_START, 10),
        ({"start_ms": PAGE_START + 1, "limit": 10}, PAGE_START + MINUTE, 10),
        ({"start_ms": PAGE_START, "end_ms": PAGE_START + 4 * MINUTE}, PAGE_START, 5),
        ({"end_ms": PAGE_START + 4 * MINUTE + 59_999, "limit": 5}, PAGE_START, 5),
        ({"limit": 3}, NOW_MINUTE - 2 * MINUTE, 3),
        ({"start_ms": PAGE_START, "limit": 5000}, PAGE_START, 1000),
        ({}, NOW_MINUTE - 499 * MINUTE, 500),
    ],
)
def test_kline_window_semantics(
    model: MarketModel, kwargs: dict[str, Any], first: int, count: int
) -> None:
    rows = model.klines("BTCUSDT", "1m", **kwargs)
    assert len(rows) == count and rows[0][0] == first


def test_unknown_symbol_and_interval_are_rejected(model: MarketModel) -> None:
    with pytest.raises(UnknownSymbolError):
        model.klines("NOPEUSDT", "1m")
    for interval in ("7m", "1s", "3d", "1H"):
        with pytest.raises(InvalidIntervalError):
            model.klines("BTCUSDT", interval)


def test_trades_of_a_minute_reproduce_its_candle(model: MarketModel) -> None:
    candle = model.klines("BTCUSDT", "1m", start_ms=PAGE_START, limit=1)[0]
    aggs = model.agg_trades(
        "BTCUSDT", start_ms=PAGE_START, end_ms=PAGE_START + MINUTE - 1, limit=1000
    )
    trades = model.trades("BTCUSDT", from_id=aggs[0]["f"], limit=aggs[-1]["l"] - aggs[0]["f"] + 1)
    prices = [Decimal(t["price"]) for t in trades]
    assert len(trades) == candle[8]
    assert sum(Decimal(t["qty"]) for t in trades) == Decimal(candle[5])
    assert (trades[0]["price"], trades[-1]["price"]) == (candle[1], candle[4])
    assert (max(prices), min(prices)) == (Decimal(candle[2]), Decimal(candle[3]))
    assert all(Decimal(t["quoteQty"]) == Decimal(t["price"]) * Decimal(t["qty"]) for t in trades)
    for agg in aggs:
        members = [t for t in trades if agg["f"] <= t["id"] <= agg["l"]]
        assert {(t["price"], t["time"], t["isBuyerMaker"]) for t in members} == {
            (agg["p"], agg["T"], agg["m"])
        }
        assert sum(Decimal(t["qty"]) for t in members) == Decimal(agg["q"])


def test_trade_ids_are_sequential_and_page_by_from_id(model: MarketModel) -> None:
    first = model.trades("BTCUSDT", from_id=model.first_trade_id("BTCUSDT") + 12_345, limit=700)
    second = model.trades("BTCUSDT", from_id=first[-1]["id"] + 1, limit=700)
    ids = [t["id"] for t in first + second]
    assert ids == list(range(ids[0], ids[0] + 1400))
    times = [t["time"] for t in first + second]
    assert times == sorted(times)
    aggs = model.agg_trades(
        "BTCUSDT", from_id=model.agg_trades("BTCUSDT", limit=1)[0]["a"] - 999, limit=1000
    )
    assert [a["a"] for a in aggs] == list(range(aggs[0]["a"], aggs[0]["a"] + 1000))
    assert all(b["f"] == a["l"] + 1 for a, b in itertools.pairwise(aggs))


def test_depth_is_ordered_deterministic_per_second_and_honours_limit(model: MarketModel) -> None:
    for limit in (5, 10, 20, 50, 100, 500, 1000, 5000):
        book = model.depth("BTCUSDT", limit)
        bids = [Decimal(p) for p, _ in book["bids"]]
        asks = [Decimal(p) for p, _ in book["asks"]]
        assert len(bids) == len(asks) == limit
        assert all(a > b for a, b in itertools.pairwise(bids))
        assert all(a < b for a, b in itertools.pairwise(asks))
        assert bids[0] < asks[0]
    assert model.depth("BTCUSDT", 5)["bids"] == model.depth("BTCUSDT", 100)["bids"][:5]
    later = make_model(now_ms=lambda: NOW_MS + 1000)
    assert later.depth("BTCUSDT", 20) != model.depth("BTCUSDT", 20)


def test_tickers_agree_with_candles_and_book(model: MarketModel) -> None:
    ticker = model.ticker_24hr("ETHUSDT")
    day = minute_rows(model, "ETHUSDT", NOW_MS - DAY, NOW_MS)
    assert ticker["openPrice"] == day[0][1] and ticker["lastPrice"] == day[-1][4]
    assert Decimal(ticker["highPrice"]) == max(Decimal(r[2]) for r in day)
    assert Decimal(ticker["volume"]) == sum(Decimal(r[5]) for r in day)
    assert ticker["count"] == sum(r[8] for r in day) == ticker["lastId"] - ticker["firstId"] + 1
    book = model.book_ticker("ETHUSDT")
    assert (ticker["bidPrice"], ticker["askPrice"]) == (book["bidPrice"], book["askPrice"])
    assert model.ticker_price("ETHUSDT")["price"] == ticker["lastPrice"]
