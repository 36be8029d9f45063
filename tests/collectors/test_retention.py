"""Retention on every backend: detail rolled up exactly before it goes, served candles
never overwritten, incomplete hours said so, and a second run changes nothing."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal as D
from fractions import Fraction
from pathlib import Path

from typer.testing import CliRunner

from ohmycoins.cli import app
from ohmycoins.collectors.retention import RetentionReport, run_retention
from ohmycoins.records import (
    RECORD_TYPES,
    BookStats,
    Candle,
    CollectorRun,
    NewsItem,
    OrderBook,
    Record,
    SentimentDaily,
    SocialPost,
    Trade,
    TradeStats,
)
from ohmycoins.settings import Settings, StreamSettings
from ohmycoins.sources.capture import capture_path
from ohmycoins.storage.cursors import Hole, record_holes
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import read_records
from ohmycoins.storage.upsert import upsert
from tests import factories as f
from tests.support.candles import aggregate
from tests.support.cli import one_error_line

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
START = 1_700_006_400_000  # 2023-11-15 00:00 UTC
NOW = START + 200 * DAY  # 2024-06-02: the 1m candles, trades, books, news are past retention
RECENT = NOW - DAY
SKIPPED = {65, 66, 130}
"""Minutes of the old BTC day with no stored candle: a hole (65, 66), a quarantined row."""
SERVED_HOUR = START + 3 * HOUR


def _detail(rng: random.Random) -> list[Record]:
    """One old day of BTC 1m candles but `SKIPPED`, a served 1h candle, ETH trades in its
    first two hours, books, news, posts and runs; and a few recent rows of each."""
    records: list[Record] = []
    for minute in [m for m in range(24 * 60) if m not in SKIPPED]:
        open_ = D(rng.randint(3_000_000, 3_100_000)) / 100
        volume = D(f"{rng.randint(1, 10**18)}.{rng.randint(0, 10**14):014d}")
        records.append(
            f.candle(
                ts=START + minute * MINUTE,
                open=open_,
                high=open_ + D(rng.randint(0, 99)) / 10,
                low=open_ - D(rng.randint(0, 99)) / 10,
                close=open_ + D(rng.randint(-9, 9)) / 10,
                volume=volume,
            )
        )
    records.append(
        f.candle(timeframe="1h", ts=SERVED_HOUR, open=D(1), high=D(2), low=D("0.5"), close=D(1))
    )
    for index in range(300):
        records.append(
            f.trade(
                symbol="ETH/USDT",
                trade_id=str(index),
                ts=START + rng.randint(0, 2 * HOUR - 1),
                price=D(rng.randint(200_000, 210_000)) / 100,
                amount=D(f"0.{rng.randint(1, 10**20):020d}"),
                side=rng.choice(("buy", "sell")),
            )
        )
    for index in range(40):
        bid = D(rng.randint(3_000_000, 3_100_000)) / 100
        records.append(
            f.orderbook(
                ts=START + index * 90_000,
                bids=((bid, D(rng.randint(1, 99)) / 4),),
                asks=((bid + D(rng.randint(1, 99)) / 100, D(rng.randint(1, 99)) / 8),),
            )
        )
    for index, score in enumerate(("0.5", "-0.25", "0.125")):
        label = "negative" if score.startswith("-") else "positive"
        records.append(
            f.news_item(
                item_id=f"n{index}",
                url=f"https://example.com/{index}",
                published_ts=START + index * HOUR,
                sentiment_label=label,
                sentiment_score=D(score),
            )
        )
        records.append(
            f.social_post(post_id=f"p{index}", ts=START + index, sentiment_score=D(score))
        )
    records.append(f.collector_run(run_id="old", started_ts=START))
    records += [
        f.candle(ts=RECENT),
        f.trade(trade_id="recent", ts=RECENT),
        f.orderbook(ts=RECENT),
        f.news_item(item_id="recent", url="https://example.com/recent", published_ts=RECENT),
        f.social_post(post_id="recent", ts=RECENT),
        f.collector_run(run_id="recent", started_ts=RECENT),
    ]
    return records


def _seed(db: Database) -> list[Record]:
    records = _detail(random.Random(18))
    upsert(db, records)
    upsert(db, [f.quarantined_record(ts=START + 130 * MINUTE)])
    hole = Hole("binance", "BTC/USDT", "1m", START + 65 * MINUTE, START + 66 * MINUTE, 2, 4, NOW)
    with db.engine.begin() as conn:
        record_holes(conn, [hole])
    return records


def _run(db: Database, dry_run: bool = False, settings: Settings | None = None) -> RetentionReport:
    return asyncio.run(run_retention(db, settings or Settings(), dry_run=dry_run, now=NOW))


def _everything(db: Database) -> dict[str, list[Record]]:
    return {t.TABLE: read_records(db, t) for t in RECORD_TYPES}


def _aggregate(parts: list[Candle]) -> tuple[D, D, D, D, Fraction, int]:
    return (*aggregate(parts), len(parts))


def _shape(candle: Candle) -> tuple[D, D, D, D, Fraction, int | None]:
    volume = Fraction(candle.volume) if candle.volume is not None else Fraction(-1)
    return (candle.open, candle.high, candle.low, candle.close, volume, candle.minutes)


def test_rollups_equal_independent_aggregates_and_detail_goes(db: Database) -> None:
    records = _seed(db)
    report = _run(db)
    old_btc = [
        r for r in records if isinstance(r, Candle) and r.timeframe == "1m" and r.ts < NOW - DAY
    ]
    hours = {c.ts: c for c in read_records(db, Candle, symbol="BTC/USDT", timeframe="1h")}
    assert sorted(hours) == [START + h * HOUR for h in range(24)]
    for ts, hour in hours.items():
        if ts == SERVED_HOUR:  # the exchange's own candle stays as it was served
            assert (hour.open, hour.high, hour.derived_from, hour.minutes) == (
                D(1),
                D(2),
                None,
                None,
            )
            continue
        parts = [c for c in old_btc if ts <= c.ts < ts + HOUR]
        assert _shape(hour) == _aggregate(parts)
        assert hour.derived_from == "1m"
    assert (hours[START + HOUR].minutes, hours[START + 2 * HOUR].minutes) == (58, 59)
    [day] = read_records(db, Candle, symbol="BTC/USDT", timeframe="1d")
    assert _shape(day) == _aggregate(old_btc) and day.minutes == 24 * 60 - len(SKIPPED)
    minutes = read_records(db, Candle, symbol="BTC/USDT", timeframe="1m")
    assert [c.ts for c in minutes] == [RECENT]

    trades = [r for r in records if isinstance(r, Trade) and r.ts < RECENT]
    stats = read_records(db, TradeStats)
    assert [s.ts for s in stats] == [START, START + HOUR]
    for stat in stats:
        parts = [t for t in trades if stat.ts <= t.ts < stat.ts + HOUR]
        assert stat.trades == len(parts)
        assert Fraction(stat.volume) == sum(Fraction(t.amount) for t in parts)
        assert Fraction(stat.quote_volume) == sum(
            Fraction(t.price) * Fraction(t.amount) for t in parts
        )
    eth_hours = read_records(db, Candle, symbol="ETH/USDT", timeframe="1h")
    for hour in eth_hours:  # trades → 1m candles → 1h, all in one run
        parts = sorted(
            (t for t in trades if hour.ts <= t.ts < hour.ts + HOUR),
            key=lambda t: (t.ts, int(t.trade_id)),
        )
        assert (hour.open, hour.close) == (parts[0].price, parts[-1].price)
        assert Fraction(hour.volume or 0) == sum(Fraction(t.amount) for t in parts)
        assert hour.minutes == len({t.ts // MINUTE for t in parts})
    assert len(eth_hours) == 2
    assert [t.trade_id for t in read_records(db, Trade)] == ["recent"]

    [books] = read_records(db, BookStats)
    assert books.snapshots == 40 and books.ts == START
    assert [b.ts for b in read_records(db, OrderBook)] == [RECENT]
    daily = {(d.kind, d.currency): d for d in read_records(db, SentimentDaily)}
    assert daily["news", "*"].score_sum == D("0.375") and daily["news", "*"].items == 3
    assert daily["social", "BTC"].score_mean == D("0.125")
    assert [n.item_id for n in read_records(db, NewsItem)] == ["recent"]
    assert [p.post_id for p in read_records(db, SocialPost)] == ["recent"]
    assert [r.run_id for r in read_records(db, CollectorRun)] == ["recent"]
    assert report.rows > 0 and report.rollups > 0


def test_a_second_run_changes_nothing(db: Database) -> None:
    _seed(db)
    first = _run(db)
    after_first = _everything(db)
    second = _run(db)
    assert _everything(db) == after_first
    assert (second.rows, second.rollups, second.partitions_created) == (0, 0, [])
    assert first.rows > 0


def test_a_dry_run_reports_the_run_and_changes_nothing(db: Database) -> None:
    _seed(db)
    before = _everything(db)
    dry = _run(db, dry_run=True)
    assert _everything(db) == before
    done = _run(db)
    assert [(r.key, r.rows, r.rollups, r.partitions) for r in dry.retained] == [
        (r.key, r.rows, r.rollups, r.partitions) for r in done.retained
    ]


def test_a_rollup_never_replaces_a_served_candle_nor_a_fuller_rollup(db: Database) -> None:
    served = f.candle(timeframe="1h", ts=START)
    upsert(db, [served])
    upsert(db, [f.candle(timeframe="1h", ts=START, open=D(9), derived_from="1m", minutes=60)])
    assert read_records(db, Candle) == [served]
    fuller = f.candle(timeframe="1h", ts=START + HOUR, derived_from="1m", minutes=60)
    upsert(db, [fuller])
    upsert(db, [f.candle(timeframe="1h", ts=START + HOUR, derived_from="1m", minutes=12)])
    assert read_records(db, Candle, ts=START + HOUR) == [fuller]
    later = f.candle(timeframe="1h", ts=START + HOUR, open=D(3))  # served after all
    upsert(db, [later])
    assert read_records(db, Candle, ts=START + HOUR) == [later]


def test_cli_dry_run_prints_what_would_go_then_the_run_removes_it(database: Database) -> None:
    upsert(database, [f.candle(ts=START + m * MINUTE) for m in range(120)])
    dry = CliRunner().invoke(app, ["retention", "run", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "candles_1m" in dry.output and "120 candles_1h" not in dry.output
    # the 120 minutes, and the two hours rolled up from them: past a year (kept as a day)
    assert "would remove 122 rows" in dry.output and "2 candles_1h" in dry.output
    assert len(read_records(database, Candle)) == 120
    done = CliRunner().invoke(app, ["retention", "run"])
    assert done.exit_code == 0, done.output
    assert "removed 122 rows" in done.output
    [day] = read_records(database, Candle)
    assert (day.timeframe, day.derived_from, day.minutes) == ("1d", "1h", 120)


def test_cli_names_a_bad_retention_setting(database: Database, tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "omc.toml"
    config.write_text('[retention]\ncandles_1m = "ninety days"\n')
    monkeypatch.setenv("OMC_CONFIG", str(config))
    line = one_error_line(CliRunner().invoke(app, ["retention", "run"]))
    assert "[retention] candles_1m" in line and "ninety days" in line


def test_the_scheduled_retention_job_records_its_run(database: Database) -> None:
    """`retention` is a collector of its own kind: run through the scheduler's own path,
    with its run record."""
    upsert(database, [f.candle(ts=START + m * MINUTE) for m in range(60)])
    result = CliRunner().invoke(app, ["collectors", "run", "retention"])
    assert result.exit_code == 0, result.output
    [run] = read_records(database, CollectorRun, collector="retention")
    # 60 minutes removed, rolled into an hour and a day; the hour (past a year) rolled
    # into the day again and removed
    assert run.status == "ok" and run.records_written == 60 + 2 + 1 + 1
    [day] = read_records(database, Candle)
    assert (day.timeframe, day.minutes) == ("1d", 60)


def test_capture_files_go_by_their_hour_and_other_files_stay(
    sqlite_db: Database, tmp_path: Path
) -> None:
    settings = Settings(streams=StreamSettings(capture_dir=tmp_path))
    kept_ms = 14 * 86_400_000
    hours = {hour: NOW - kept_ms - hour * HOUR for hour in (-2, 0, 1, 30)}  # hours before cutoff
    files = {hour: capture_path(tmp_path, "binance", "book", at) for hour, at in hours.items()}
    for path in [*files.values(), tmp_path / "binance" / "book" / "notes.jsonl.zst"]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    dry = _run(sqlite_db, dry_run=True, settings=settings)
    [capture] = [r for r in dry.retained if r.key == "capture"]
    assert (capture.rows, capture.unit, dry.rows) == (2, "files", 0)
    assert all(path.exists() for path in files.values())
    _run(sqlite_db, settings=settings)
    assert {hour for hour, path in files.items() if path.exists()} == {-2, 0}
    assert (tmp_path / "binance" / "book" / "notes.jsonl.zst").exists()
