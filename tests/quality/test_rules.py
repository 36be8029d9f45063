"""Bad records are refused with the field and the value named; a batch is all or nothing
unless the caller asks for quarantine."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ohmycoins.collectors.ingest import store
from ohmycoins.errors import ValidationError
from ohmycoins.quality.rules import check
from ohmycoins.records import Candle, QuarantinedRecord, Record
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import read_records
from tests import factories

NOW = factories.T0 + 3_600_000

BAD = [
    (factories.candle(close=Decimal("NaN")), "close", "finite"),
    (factories.candle(volume=Decimal("-1")), "volume", ">= 0"),
    (factories.candle(high=Decimal("36000")), "high", "max(open, close)"),
    (factories.candle(low=Decimal("37100")), "low", "min(open, close)"),
    (factories.candle(open=Decimal("0")), "open", "> 0"),
    (factories.candle(ts=factories.T0 + 1), "ts", "aligned"),
    (factories.candle(ts=NOW + 3_600_000), "ts", "future"),
    (factories.candle(timeframe="7x"), "timeframe", "unknown timeframe"),
    (factories.candle(symbol=""), "symbol", "empty"),
    (factories.candle(exchange=None), "exchange", "required"),
    (factories.candle(close=37005.25), "close", "must be Decimal"),
    (factories.candle(ts="1700000040000"), "ts", "must be int"),
    (factories.ticker(bid=Decimal("2"), ask=Decimal("1")), "bid", "<= ask"),
    (factories.trade(side="hold"), "side", "'buy' or 'sell'"),
    (factories.trade(amount=Decimal("0")), "amount", "> 0"),
    (
        factories.orderbook(bids=((Decimal(1), Decimal(1)), (Decimal(2), Decimal(1)))),
        "bids[1]",
        "descending",
    ),
    (
        factories.orderbook(asks=((Decimal(36000), Decimal(1)),)),
        "bids[0]",
        "best ask",
    ),
    (factories.catalyst_event(impact=11), "impact", "1..10"),
    (factories.news_item(sentiment_score=Decimal("1.5")), "sentiment_score", "[-1, 1]"),
    (factories.onchain_metric(block_height=-5), "block_height", ">= 0"),
    (factories.macro_observation(ts=-2_208_988_800_001), "ts", "1900-01-01"),
    (factories.news_item(published_ts=-3 * 10**12), "published_ts", "1900-01-01"),
]


def test_times_before_1970_are_history_not_errors() -> None:
    gdp_1947 = factories.macro_observation(ts=-725_846_400_000)
    assert check(gdp_1947, NOW) == []
    assert check(factories.macro_observation(ts=-2_208_988_800_000), NOW) == []  # 1900-01-01
    assert check(factories.news_item(published_ts=None, fetched_ts=NOW), NOW) == []


@pytest.mark.parametrize(("record", "field", "rule"), BAD, ids=[f"{b[1]}-{b[2]}" for b in BAD])
def test_bad_record_is_named(record: Record, field: str, rule: str) -> None:
    violations = check(record, NOW)
    assert violations, f"{record} passed"
    assert violations[0].field == field
    assert rule in violations[0].rule
    assert field in str(violations[0]) and repr(violations[0].value) in str(violations[0])


@pytest.mark.parametrize("record", factories.ONE_OF_EACH, ids=lambda r: type(r).__name__)
def test_factory_records_are_valid(record: Record) -> None:
    assert check(record, NOW) == []


def test_one_bad_record_writes_nothing(db: Database) -> None:
    good = [factories.candle(ts=factories.T0 + i * 60_000) for i in range(3)]
    bad = factories.candle(ts=factories.T0 + 10 * 60_000, volume=Decimal("-2"))
    with pytest.raises(ValidationError) as raised:
        store(db, [*good, bad], source="test", at_ms=NOW)
    assert "Candle.volume=Decimal('-2')" in str(raised.value)
    assert read_records(db, Candle) == []


def test_quarantine_mode_stores_the_rest(db: Database) -> None:
    good = [factories.candle(ts=factories.T0 + i * 60_000) for i in range(3)]
    bad = factories.candle(ts=factories.T0 + 10 * 60_000, high=Decimal("1"))
    result = store(db, [*good, bad], source="binance", quarantine=True, at_ms=NOW)
    assert (result.written, result.quarantined) == (3, 1)
    assert read_records(db, Candle) == good
    (row,) = read_records(db, QuarantinedRecord)
    assert row.source == "binance" and row.record_type == "Candle"
    assert "high" in row.rule and '"high":"1"' in row.payload
    store(db, [bad], source="binance", quarantine=True, at_ms=NOW)
    assert len(read_records(db, QuarantinedRecord)) == 1
