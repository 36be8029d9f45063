"""The live order book behind REST depth and the diff streams: always a valid book, its
recorded changes rebuild it exactly, and it is the same for the same seed and clock."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from ohmycoins.sim.market import MAX_DEPTH, MarketModel

from .support import NOW_MS, ManualClock, make_model

SECOND = 1000


def model_at(clock: ManualClock, rate: float | None = 20.0) -> MarketModel:
    return make_model(now_ms=clock, stream_rate=rate)


def assert_valid(book: dict[str, list[list[str]]]) -> None:
    bids = [Decimal(p) for p, _ in book["bids"]]
    asks = [Decimal(p) for p, _ in book["asks"]]
    assert all(a > b for a, b in itertools.pairwise(bids))
    assert all(a < b for a, b in itertools.pairwise(asks))
    assert bids[0] < asks[0]
    assert all(Decimal(q) > 0 for _, q in book["bids"] + book["asks"])


def test_book_stays_valid_full_and_near_the_price_as_the_market_moves() -> None:
    clock = ManualClock()
    model = model_at(clock)
    for _ in range(40):  # two minutes, three seconds at a time
        clock.now += 3 * SECOND
        book = model.depth("ETHUSDT", MAX_DEPTH)
        assert len(book["bids"]) == len(book["asks"]) == MAX_DEPTH
        assert_valid(book)
        last = Decimal(model.last_trade("ETHUSDT")["price"])  # type: ignore[index]
        mid = (Decimal(book["bids"][0][0]) + Decimal(book["asks"][0][0])) / 2
        assert abs(mid - last) / last < Decimal("0.01")


def test_recorded_changes_rebuild_the_book_from_an_earlier_snapshot() -> None:
    clock = ManualClock()
    model = model_at(clock)
    start = model.depth("BTCUSDT", MAX_DEPTH)
    clock.now += 30 * SECOND
    book = model.book("BTCUSDT")
    events = book.events_after(start["lastUpdateId"])
    assert events[0].first_id == start["lastUpdateId"] + 1
    assert all(b.first_id == a.last_id + 1 for a, b in itertools.pairwise(events))
    assert [e.time for e in events] == sorted(e.time for e in events)
    assert len(events) == 30 * 20  # 20 events a second
    sides = {
        "bids": {int(Decimal(p) * 100): q for p, q in start["bids"]},
        "asks": {int(Decimal(p) * 100): q for p, q in start["asks"]},
    }
    wire = model.wire_qty
    for event in events:
        assert event.last_id - event.first_id + 1 == len(event.bids) + len(event.asks)
        for name, changes in (("bids", event.bids), ("asks", event.asks)):
            for price, qty in changes:
                if qty:
                    sides[name][price] = wire("BTCUSDT", qty)
                else:
                    del sides[name][price]  # only existing levels are removed
    now = model.depth("BTCUSDT", MAX_DEPTH)
    assert now["lastUpdateId"] == events[-1].last_id
    for name, reverse in (("bids", True), ("asks", False)):
        rebuilt = sorted(sides[name].items(), reverse=reverse)
        assert [[model.wire_price("BTCUSDT", p), q] for p, q in rebuilt] == now[name]


def test_same_seed_and_clock_give_the_same_book() -> None:
    a, b = ManualClock(), ManualClock()
    first, second = model_at(a), model_at(b)
    for step in (0, 250, 1000, 7000):
        a.now = b.now = NOW_MS + step
        assert first.depth("SOLUSDT", 500) == second.depth("SOLUSDT", 500)


def test_a_long_clock_jump_rebuilds_the_book_in_one_recorded_event() -> None:
    clock = ManualClock()
    model = model_at(clock)
    before = model.depth("BTCUSDT", MAX_DEPTH)
    clock.now += 3 * 3_600_000  # far more events than are replayed one by one
    after = model.depth("BTCUSDT", MAX_DEPTH)
    assert_valid(after)
    (event,) = model.book("BTCUSDT").events_after(before["lastUpdateId"])
    assert event.first_id == before["lastUpdateId"] + 1 and event.last_id == after["lastUpdateId"]
    removed = {p for p, q in event.bids if q == 0}
    assert removed  # the old levels are cleared by the same event


def test_natural_pace_changes_the_book_ten_times_a_second() -> None:
    clock = ManualClock()
    model = model_at(clock, rate=None)
    start = model.depth("ETHUSDT", 5)["lastUpdateId"]
    clock.now += 10 * SECOND
    assert len(model.book("ETHUSDT").events_after(start)) == 100


def test_stream_rate_sets_the_trade_pace_and_rest_serves_those_trades() -> None:
    clock = ManualClock()
    model = model_at(clock, rate=50.0)
    ids = [t["id"] for t in model.trades("SOLUSDT", limit=1000)]
    assert ids == list(range(ids[0], ids[0] + 1000))
    minute = model.klines("SOLUSDT", "1m", end_ms=NOW_MS - 60_000, limit=1)[0]
    assert 2000 <= minute[8] <= 4000  # 3,000 a minute, give or take the pairing spread
    with pytest.raises(ValueError, match="stream rate"):
        model_at(clock, rate=0.1)
