"""Check, then store: the gate every record passes on its way into the database.

In strict mode a batch with one bad record raises `ValidationError` and writes
nothing; in quarantine mode the bad records go to the quarantine table with their
reasons and the rest of the batch is stored, in the same transaction.

Immutable records (trades) received again are not stored again: one already stored
as it is counts as `unchanged`, and one stored with other values (the same trade id
with another price) is a `conflicting_duplicate`, quarantined with both versions while
the stored row stays as it was (in strict mode it fails the batch like any violation).

Stored on-chain rows get their derived fields and quality score recomputed in that
transaction too (`storage.measures.refresh_onchain`): a row merged from several sources is
only complete once it is stored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection

from ohmycoins.errors import ValidationError, Violation
from ohmycoins.quality.quarantine import conflict_violations, quarantine_records
from ohmycoins.quality.rules import split_valid
from ohmycoins.records import OnchainMetric, QuarantinedRecord, Record
from ohmycoins.storage.database import Database, write_transaction
from ohmycoins.storage.measures import refresh_onchain
from ohmycoins.storage.upsert import upsert_records
from ohmycoins.timeframes import now_ms


@dataclass(frozen=True, slots=True)
class StoreResult:
    """What one call to `store` did."""

    stored: list[Record] = field(default_factory=list)
    """The records written: immutable ones already stored are not among them."""
    violations: list[Violation] = field(default_factory=list)
    unchanged: int = 0
    """Immutable records already stored with the same values (a refetched page)."""

    @property
    def written(self) -> int:
        return len(self.stored)

    @property
    def quarantined(self) -> int:
        return len(self.violations)


def store(
    db: Database,
    records: Sequence[Record],
    *,
    source: str,
    quarantine: bool = False,
    at_ms: int | None = None,
    rejected: Sequence[Violation] = (),
    before_store: Callable[[Connection, Sequence[Record]], Sequence[Record]] | None = None,
    before_commit: Callable[[Connection], None] | None = None,
) -> StoreResult:
    """Validate and store `records`; see the module docstring for the two modes.

    `rejected` are rows the parser could not turn into records; they count as
    violations. `before_store` runs first in the write transaction and may rewrite the
    records from what is stored (catalyst ids), so the read and the write see the same
    state. `before_commit` runs on the same transaction after the records are written
    (a cursor that must move with the data it covers)."""
    at_ms = now_ms() if at_ms is None else at_ms
    with write_transaction(db, f"storing {len(records)} records") as conn:
        if before_store is not None:
            records = before_store(conn, records)
        valid, violations = split_valid(records, at_ms)
        violations = [*rejected, *violations]
        if violations and not quarantine:
            raise ValidationError(violations)
        return _write(conn, valid, violations, source, quarantine, at_ms, before_commit)


def store_checked(
    db: Database,
    valid: Sequence[Record],
    violations: Sequence[Violation],
    *,
    source: str,
    at_ms: int,
    before_commit: Callable[[Connection], None] | None = None,
) -> StoreResult:
    """Store records already split by `split_valid` (a stream checked and published
    them before this write): `valid` are written, `violations` quarantined, as `store`
    does in quarantine mode, without checking the records a second time."""
    with write_transaction(db, f"storing {len(valid)} records") as conn:
        return _write(conn, list(valid), list(violations), source, True, at_ms, before_commit)


def _write(
    conn: Connection,
    valid: list[Record],
    violations: list[Violation],
    source: str,
    quarantine: bool,
    at_ms: int,
    before_commit: Callable[[Connection], None] | None,
) -> StoreResult:
    """Upsert checked records and quarantine rows in the open transaction `conn`."""
    quarantined = quarantine_records(violations, source, at_ms)
    written = upsert_records(conn, [*valid, *quarantined])
    if written.conflicts:
        conflicts = conflict_violations(written.conflicts)
        if not quarantine:
            raise ValidationError(conflicts)
        upsert_records(conn, quarantine_records(conflicts, source, at_ms))
        violations += conflicts
    valid = _without(valid, [*written.unchanged, *(c.received for c in written.conflicts)])
    onchain = [(r.asset, r.ts) for r in valid if isinstance(r, OnchainMetric)]
    if onchain:
        refresh_onchain(conn, onchain)
    if before_commit is not None:
        before_commit(conn)
    unchanged = sum(not isinstance(r, QuarantinedRecord) for r in written.unchanged)
    return StoreResult(valid, violations, unchanged)


def _without(records: list[Record], refused: list[Record]) -> list[Record]:
    """`records` less one occurrence of each refused record (by identity: the same
    record may come twice, once written and once refused)."""
    if not refused:
        return records
    left = Counter(id(record) for record in refused)
    kept = []
    for record in records:
        if left[id(record)]:
            left[id(record)] -= 1
        else:
            kept.append(record)
    return kept
