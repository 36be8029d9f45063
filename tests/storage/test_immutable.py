"""Immutable rows (trades) on every backend: a trade received again is not written
again, and one received with another price or amount is refused, reported with both
versions and quarantined by the gate, while the stored row stays as it was.

Each write goes through the real bulk path: the fast path that inserts a whole batch
of new keys, and the path that reads stored rows back when some key is known."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from decimal import Decimal as D

import pytest
from sqlalchemy import text

from ohmycoins.collectors.ingest import store
from ohmycoins.errors import ValidationError
from ohmycoins.quality.quarantine import CONFLICTING_DUPLICATE
from ohmycoins.records import Conflict, QuarantinedRecord, Trade
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import read_records
from ohmycoins.storage.reads.market import conflict_counts
from ohmycoins.storage.retention import ensure_partitions
from ohmycoins.storage.upsert import Written, upsert, upsert_records
from tests import factories as f
from tests.support.polling import until

NOW = f.T0 + 3_600_000


def trades(first: int, count: int) -> list[Trade]:
    return [f.trade(trade_id=str(i), ts=f.T0 + i) for i in range(first, first + count)]


def test_a_batch_of_new_trades_is_written_whole(db: Database) -> None:
    with db.engine.begin() as conn:
        written = upsert_records(conn, trades(0, 500))
    assert (written.rows, written.unchanged, written.conflicts) == (500, [], [])
    assert len(read_records(db, Trade)) == 500


def test_an_overlapping_page_counts_only_the_rows_inserted(db: Database) -> None:
    assert upsert(db, trades(0, 100)) == 100
    with db.engine.begin() as conn:
        written = upsert_records(conn, trades(50, 100))  # 50 already stored, 50 new
    assert (written.rows, len(written.unchanged), written.conflicts) == (50, 50, [])
    assert len(read_records(db, Trade)) == 150


def test_a_changed_trade_is_a_conflict_and_the_stored_one_stays(db: Database) -> None:
    stored = f.trade(trade_id="7", price=D("37001.01"), amount=D("0.00120000"))
    upsert(db, [stored])
    changed = f.trade(trade_id="7", price=D("37002.50"))
    same_value = f.trade(trade_id="7", amount=D("0.0012"))  # the same amount, other digits
    with db.engine.begin() as conn:
        written = upsert_records(conn, [changed, *trades(100, 3)])
    assert written.rows == 3
    [conflict] = written.conflicts
    assert conflict == Conflict(stored, changed) and conflict.fields() == ("price",)
    with db.engine.begin() as conn:
        again = upsert_records(conn, [same_value])
    assert (again.rows, again.unchanged, again.conflicts) == (0, [same_value], [])
    [kept] = read_records(db, Trade, trade_id="7")
    assert (kept.price, kept.amount) == (D("37001.01"), D("0.00120000"))


def test_two_versions_of_one_trade_in_one_batch(db: Database) -> None:
    first = f.trade(trade_id="9")
    other = f.trade(trade_id="9", amount=D("5"))
    with db.engine.begin() as conn:
        written = upsert_records(conn, [first, first, other])
    assert (written.rows, written.unchanged, written.conflicts) == (
        1,
        [first],
        [Conflict(first, other)],
    )
    assert read_records(db, Trade) == [first]


def test_the_gate_quarantines_a_conflict_with_both_versions(db: Database) -> None:
    stored = f.trade(trade_id="7")
    store(db, [stored, *trades(100, 2)], source="binance", at_ms=NOW)
    changed = f.trade(trade_id="7", price=D("36000"), amount=D("2"))
    page = [stored, changed, *trades(100, 2), *trades(200, 3)]
    result = store(db, page, source="binance", quarantine=True, at_ms=NOW)
    assert result.written == 3  # only the trades inserted, not the whole page
    assert result.stored == trades(200, 3)
    assert (result.unchanged, result.quarantined) == (3, 1)
    [violation] = result.violations
    assert (violation.field, violation.rule) == ("price", CONFLICTING_DUPLICATE)
    [row] = read_records(db, QuarantinedRecord)
    assert row.rule.endswith(f": {CONFLICTING_DUPLICATE}") and row.source == "binance"
    payload = json.loads(row.payload)
    assert (payload["stored"]["price"], payload["received"]["price"]) == ("37001.01", "36000")
    assert (payload["stored"]["amount"], payload["received"]["amount"]) == ("0.00120000", "2")
    assert read_records(db, Trade, trade_id="7") == [stored]
    assert conflict_counts(db) == {("trades", "binance"): 1}
    # the same conflict seen again is the same quarantine row, not a second one
    store(db, [changed], source="binance", quarantine=True, at_ms=NOW + 1)
    assert conflict_counts(db) == {("trades", "binance"): 1}


def test_strict_mode_refuses_a_batch_with_a_conflict(db: Database) -> None:
    upsert(db, [f.trade(trade_id="7")])
    with pytest.raises(ValidationError, match=CONFLICTING_DUPLICATE):
        store(db, [f.trade(trade_id="7", price=D("1")), *trades(100, 2)], source="binance")
    assert len(read_records(db, Trade)) == 1  # nothing of the batch was written


def test_the_same_trade_twice_in_a_page_is_stored_and_counted_once(db: Database) -> None:
    trade = f.trade(trade_id="3")
    result = store(db, [trade, trade], source="binance", quarantine=True, at_ms=NOW)
    assert (result.stored, result.unchanged, result.quarantined) == ([trade], 1, 0)


def _ids_once(db: Database) -> list[str]:
    """The stored trade ids, asserting each is stored once per (exchange, symbol)."""
    stored = read_records(db, Trade)
    keys = [(t.exchange, t.symbol, t.trade_id) for t in stored]
    assert len(keys) == len(set(keys)), sorted(keys)
    return sorted(t.trade_id for t in stored)


def test_a_trade_resent_at_another_time_is_a_conflict_never_a_second_row(db: Database) -> None:
    """On PostgreSQL the trades' unique index holds `ts` (monthly partitions): the write
    path finds the stored id at its other time, in the same month or another one."""
    with db.engine.begin() as conn:
        ensure_partitions(conn, f.T0)  # months from T0's on (PostgreSQL); nothing elsewhere
    first = trades(0, 10)
    upsert(db, first)
    same_month = dataclasses.replace(first[3], ts=first[3].ts + 60_000)
    next_month = dataclasses.replace(first[5], ts=first[5].ts + 40 * 86_400_000)
    new = trades(10, 10)
    with db.engine.begin() as conn:
        written = upsert_records(conn, [same_month, *new, next_month, first[7]])
    assert (written.rows, written.unchanged) == (10, [first[7]])
    assert [c.received for c in written.conflicts] == [same_month, next_month]
    assert [c.stored for c in written.conflicts] == [first[3], first[5]]
    assert _ids_once(db) == sorted(str(i) for i in range(20))
    with db.engine.begin() as conn:  # only moved trades: nothing written
        again = upsert_records(conn, [next_month, same_month])
    assert (again.rows, len(again.conflicts)) == (0, 2)
    assert read_records(db, Trade, trade_id="5") == [first[5]]


def test_new_ids_among_stored_ones_go_in_and_stored_ones_stay_once(db: Database) -> None:
    """Ids whose text order interleaves stored ones ("15" between "10" and "2"), or a
    batch whose range spans stored ids it does not hold: each new id in, each old once."""
    upsert(db, [f.trade(trade_id=str(i), ts=f.T0 + i) for i in (2, 10, 30, 999)])
    spanning = [f.trade(trade_id=str(i), ts=f.T0 + 5_000 + i) for i in (1, 15, 25, 1000, 3)]
    with db.engine.begin() as conn:
        written = upsert_records(conn, spanning)
    assert (written.rows, written.conflicts) == (5, [])
    moved = f.trade(trade_id="999", ts=f.T0 + 86_400_000)
    with db.engine.begin() as conn:
        mixed = upsert_records(conn, [f.trade(trade_id="4", ts=f.T0 + 4), moved])
    assert mixed.rows == 1 and [c.received for c in mixed.conflicts] == [moved]
    assert _ids_once(db) == sorted(str(i) for i in (1, 2, 3, 4, 10, 15, 25, 30, 999, 1000))


def test_two_writers_of_one_trade_at_two_times_leave_one_row(postgres_db: Database) -> None:
    """The second writer's look waits for the first's commit (a lock per series), so it
    sees the row the first wrote, whatever `ts` each sent."""
    early, late = f.trade(trade_id="42", ts=f.T0), f.trade(trade_id="42", ts=f.T0 + 60_000)
    results: list[Written] = []
    with postgres_db.engine.begin() as first:
        assert upsert_records(first, [early]).rows == 1
        with postgres_db.engine.connect() as probe:
            second_pid: list[int] = []

            def second_writer() -> None:
                with postgres_db.engine.begin() as conn:
                    second_pid.append(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
                    results.append(upsert_records(conn, [late]))

            thread = threading.Thread(target=second_writer)
            thread.start()

            def waiting() -> bool:
                if not second_pid:
                    return False
                query = text(
                    "SELECT count(*) FROM pg_locks WHERE pid = :pid AND NOT granted "
                    "AND locktype = 'advisory'"
                )
                return bool(probe.execute(query, {"pid": second_pid[0]}).scalar_one())

            asyncio.run(until(waiting, 30))
    thread.join(30)
    [second] = results
    assert second.rows == 0 and [c.received for c in second.conflicts] == [late]
    assert read_records(postgres_db, Trade) == [early]


def test_ids_in_a_language_collation_are_bounded_by_the_server(postgres_db: Database) -> None:
    """Where the ids' column sorts text by language rules ("a" < "b" < "C"), the batch's
    smallest and largest id are the server's, not Python's ("C" < "a" < "b" by bytes,
    a range that would miss the stored "b")."""
    collation = "en-US-x-icu"
    with postgres_db.engine.begin() as conn:
        query = text("SELECT 1 FROM pg_collation WHERE collname = :name")
        if conn.execute(query, {"name": collation}).first() is None:
            pytest.skip(f"this PostgreSQL server has no {collation} collation (built without ICU)")
        retype = f'ALTER TABLE trades ALTER COLUMN trade_id TYPE text COLLATE "{collation}"'
        conn.execute(text(retype))
    stored = f.trade(trade_id="b", ts=f.T0)
    upsert(postgres_db, [stored])
    moved = f.trade(trade_id="b", ts=f.T0 + 60_000)
    batch = [f.trade(trade_id="a", ts=f.T0 + 1), moved, f.trade(trade_id="C", ts=f.T0 + 2)]
    with postgres_db.engine.begin() as conn:
        written = upsert_records(conn, batch)
    assert written.rows == 2 and [c.received for c in written.conflicts] == [moved]
    assert _ids_once(postgres_db) == ["C", "a", "b"]
