"""A circuit breaker per source, kept in the database so every worker obeys it and
health shows it.

State lives once per source in `source_circuits` (state, consecutive_failures,
opened_ts); a source without a row is closed with no failures. A run's record changes
that one row, by primary key, in the transaction that records the run: a success on a
clean circuit writes nothing (its conditional UPDATE matches no row), a failure is one
UPSERT. So busy sources never serialise their runs on their task rows, and no
statement lists the source's collectors except when the circuit opens.

    closed ──(threshold consecutive failed runs, or a ban)──► open
    open ──(cooldown elapsed; one worker takes the probe)──► half_open
    half_open ──(probe succeeds)──► closed      (any success closes it)
    half_open ──(probe fails)──► open           (cooldown starts again)

Opening pushes every task of the source to the end of the cooldown (or the ban's
Retry-After if longer). After the cooldown the first claimant becomes the single
probe: it moves the source to half_open with `opened_ts` = probe start, in a
conditional update of the source's row that only one worker can win. While the probe
runs, the source's other tasks look again every `probe_recheck_seconds`; a probe whose
worker died is taken over once another cooldown has passed since it started.

Lock order: the source's row before any task row (a run's record settles the breaker
first; opening then locks the source's task rows in task_id order).

A failed run is one that ends in a `SourceError` after its retries; errors that
are not the source's fault (storage, bugs) leave the breaker as it is.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, or_, select, update

from ohmycoins.errors import StorageError
from ohmycoins.scheduling.leases import lock_task_rows, write_transaction
from ohmycoins.scheduling.policy import CLOSED, HALF_OPEN, OPEN, BreakerPolicy
from ohmycoins.storage.database import Database
from ohmycoins.storage.dialects import dialect_for
from ohmycoins.storage.tables import collection_tasks as tasks
from ohmycoins.storage.tables import source_circuits as circuits

__all__ = [
    "CLOSED",
    "HALF_OPEN",
    "OPEN",
    "Admission",
    "Circuit",
    "Verdict",
    "admit",
    "read_circuit",
    "read_circuits",
    "settle",
    "take_probe",
]

_STATE_COLUMNS = (circuits.c.state, circuits.c.consecutive_failures, circuits.c.opened_ts)


class Verdict(enum.Enum):
    """What one run says about its source."""

    SUCCESS = "success"
    FAILURE = "failure"
    TRIP = "trip"
    """The source banned us: open at once."""
    NEUTRAL = "neutral"
    """The run failed for a reason that is not the source's."""


@dataclass(frozen=True, slots=True)
class Circuit:
    """A source's breaker: `blocked_until` is when its tasks may run again (None while
    closed)."""

    state: str = CLOSED
    failures: int = 0
    opened_ts: int | None = None
    blocked_until: int | None = None


@dataclass(frozen=True, slots=True)
class Admission:
    """Whether a claimed task may run now: as usual, as the source's probe (to be won
    with `take_probe`), or not before `defer_until`."""

    run: bool
    probe: bool = False
    defer_until: int | None = None


def admit(state: str, opened_ts: int | None, now_ms: int, policy: BreakerPolicy) -> Admission:
    """Decide from the circuit state the task was claimed with."""
    if state == CLOSED:
        return Admission(run=True)
    ready_at = (opened_ts or 0) + policy.cooldown_ms
    if now_ms >= ready_at:
        return Admission(run=True, probe=True)
    if state == HALF_OPEN:
        return Admission(run=False, defer_until=now_ms + policy.recheck_ms)
    return Admission(run=False, defer_until=ready_at)


def take_probe(
    db: Database, source: str, seen_state: str, seen_opened: int | None, now_ms: int
) -> bool:
    """Become the source's single probe: move it to half_open if its circuit is still as
    this worker saw it. Returns False when another worker won."""
    opened_matches = (
        circuits.c.opened_ts.is_(None)
        if seen_opened is None
        else circuits.c.opened_ts == seen_opened
    )
    probe = (
        update(circuits)
        .where(circuits.c.source == source, circuits.c.state == seen_state, opened_matches)
        .values(state=HALF_OPEN, opened_ts=now_ms, updated_ts=now_ms)
    )
    with write_transaction(db) as conn:
        return conn.execute(probe).rowcount > 0


def settle(
    conn: Connection,
    source: str,
    collectors: Sequence[str],
    verdict: Verdict,
    now_ms: int,
    policy: BreakerPolicy,
    *,
    hold_ms: int = 0,
) -> Circuit:
    """Apply a run's verdict to its source's breaker, on the caller's transaction.
    `collectors` are the source's (their tasks are held back when it opens); `hold_ms`
    is how long the source asked us to stay away (a ban's Retry-After)."""
    if verdict is Verdict.SUCCESS:
        _close(conn, source, now_ms)
        return Circuit()
    if verdict is Verdict.NEUTRAL:
        return read_circuit(conn, source, policy)
    state, failures, opened = _count_failure(conn, source, now_ms)
    tripped = verdict is Verdict.TRIP or state == HALF_OPEN
    if tripped or failures >= policy.threshold:
        return _open(conn, source, collectors, failures, now_ms, policy, hold_ms)
    return _circuit(state, failures, opened, policy)


def _close(conn: Connection, source: str, now_ms: int) -> None:
    """Close the circuit and clear its failures; matches no row (writes nothing) when it
    is already clean."""
    dirty = or_(circuits.c.state != CLOSED, circuits.c.consecutive_failures != 0)
    conn.execute(
        update(circuits)
        .where(circuits.c.source == source, dirty)
        .values(state=CLOSED, consecutive_failures=0, opened_ts=None, updated_ts=now_ms)
    )


def _count_failure(conn: Connection, source: str, now_ms: int) -> tuple[str, int, int | None]:
    """Add one failure to the source's count (creating its row); returns the state, the
    new count and when the circuit opened."""
    first = {
        "source": source,
        "state": CLOSED,
        "consecutive_failures": 1,
        "opened_ts": None,
        "updated_ts": now_ms,
    }
    counted = dialect_for(conn).upsert_returning(
        conn,
        circuits,
        first,
        ("source",),
        {"consecutive_failures": circuits.c.consecutive_failures + 1, "updated_ts": now_ms},
        _STATE_COLUMNS,
    )
    if counted is None:
        raise StorageError(f"the circuit of {source} was not written")
    state, failures, opened = tuple(counted)
    return str(state), int(failures), opened


def _open(
    conn: Connection,
    source: str,
    collectors: Sequence[str],
    failures: int,
    now_ms: int,
    policy: BreakerPolicy,
    hold_ms: int,
) -> Circuit:
    """Open the circuit and push the source's tasks past the cooldown."""
    until = now_ms + max(policy.cooldown_ms, hold_ms)
    conn.execute(
        update(circuits)
        .where(circuits.c.source == source)
        .values(state=OPEN, opened_ts=now_ms, updated_ts=now_ms)
    )
    if collectors:
        in_source = dialect_for(conn).among(tasks.c.collector, collectors)
        lock_task_rows(conn, in_source)
        conn.execute(
            update(tasks)
            .where(in_source, tasks.c.next_run_ts < until)
            .values(next_run_ts=until, updated_ts=now_ms)
        )
    return Circuit(OPEN, failures, now_ms, until)


def read_circuit(conn: Connection, source: str, policy: BreakerPolicy) -> Circuit:
    """The source's breaker as stored."""
    row = conn.execute(select(*_STATE_COLUMNS).where(circuits.c.source == source)).first()
    if row is None:
        return Circuit()
    return _circuit(row.state, int(row.consecutive_failures), row.opened_ts, policy)


def read_circuits(conn: Connection) -> dict[str, Circuit]:
    """Every stored breaker by source, without the cooldown arithmetic (for health)."""
    rows = conn.execute(select(circuits.c.source, *_STATE_COLUMNS)).all()
    return {
        row.source: Circuit(row.state, int(row.consecutive_failures), row.opened_ts) for row in rows
    }


def _circuit(state: str, failures: int, opened_ts: int | None, policy: BreakerPolicy) -> Circuit:
    if state == CLOSED:
        return Circuit(CLOSED, failures)
    opened = int(opened_ts or 0)
    wait = policy.cooldown_ms if state == OPEN else policy.recheck_ms
    return Circuit(state, failures, opened, opened + wait)
