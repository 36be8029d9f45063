"""A circuit breaker per source, kept in the database so every worker obeys it and
health shows it.

State lives on the `collection_tasks` rows of the source's collectors (there is no
source table): `consecutive_failures`, `circuit_state` and `circuit_opened_ts` are
the same on every task row of one source and always change together, in the
transaction that records a run, after the rows are locked in task_id order. The
common case, a success while the breaker is clean, reads them and locks nothing, so
busy sources do not serialise their runs on the breaker.

    closed ──(threshold consecutive failed runs, or a ban)──► open
    open ──(cooldown elapsed; one worker takes the probe)──► half_open
    half_open ──(probe succeeds)──► closed      (any success closes it)
    half_open ──(probe fails)──► open           (cooldown starts again)

Opening pushes every task of the source to the end of the cooldown (or the ban's
Retry-After if longer). After the cooldown the first claimant becomes the single
probe: it moves the source to half_open with `circuit_opened_ts` = probe start, in
a conditional update that only one worker can win. While the probe runs, the
source's other tasks look again every `probe_recheck_seconds`; a probe whose worker
died is taken over once another cooldown has passed since it started.

A failed run is one that ends in a `SourceError` after its retries; errors that
are not the source's fault (storage, bugs) leave the breaker as it is.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, case, func, select, update

from ohmycoins.scheduling.leases import lock_task_rows, write_transaction
from ohmycoins.scheduling.policy import BreakerPolicy
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import collection_tasks as tasks

__all__ = [
    "CLOSED",
    "HALF_OPEN",
    "OPEN",
    "Admission",
    "Circuit",
    "Verdict",
    "admit",
    "read_circuit",
    "recheck_ms",
    "settle",
    "take_probe",
]

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"


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
    """A source's breaker after a run: `blocked_until` is when its tasks may run again
    (None while closed)."""

    state: str
    failures: int
    opened_ts: int | None
    blocked_until: int | None


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
    ready_at = (opened_ts or 0) + int(policy.cooldown_seconds * 1000)
    if now_ms >= ready_at:
        return Admission(run=True, probe=True)
    if state == HALF_OPEN:
        return Admission(run=False, defer_until=now_ms + recheck_ms(policy))
    return Admission(run=False, defer_until=ready_at)


def recheck_ms(policy: BreakerPolicy) -> int:
    return int(policy.probe_recheck_seconds * 1000)


def take_probe(
    db: Database, collectors: Sequence[str], seen_state: str, seen_opened: int | None, now_ms: int
) -> bool:
    """Become the source's single probe: move it to half_open if its circuit is still as
    this worker saw it. Returns False when another worker won."""
    with write_transaction(db) as conn:
        lock_task_rows(conn, collectors)
        opened_matches = (
            tasks.c.circuit_opened_ts.is_(None)
            if seen_opened is None
            else tasks.c.circuit_opened_ts == seen_opened
        )
        probe = (
            update(tasks)
            .where(
                tasks.c.collector.in_(collectors),
                tasks.c.circuit_state == seen_state,
                opened_matches,
            )
            .values(circuit_state=HALF_OPEN, circuit_opened_ts=now_ms, updated_ts=now_ms)
        )
        return conn.execute(probe).rowcount > 0


def settle(
    conn: Connection,
    collectors: Sequence[str],
    verdict: Verdict,
    now_ms: int,
    policy: BreakerPolicy,
    *,
    hold_ms: int = 0,
) -> Circuit:
    """Apply a run's verdict to its source's breaker, on the caller's transaction.
    `hold_ms` is how long the source asked us to stay away (a ban's Retry-After)."""
    circuit = read_circuit(conn, collectors, policy)
    clean = circuit.state == CLOSED and circuit.failures == 0
    if verdict is Verdict.NEUTRAL or (verdict is Verdict.SUCCESS and clean):
        return circuit
    lock_task_rows(conn, collectors)
    in_source = tasks.c.collector.in_(collectors)
    if verdict is Verdict.SUCCESS:
        closed = {"consecutive_failures": 0, "circuit_state": CLOSED, "circuit_opened_ts": None}
        conn.execute(update(tasks).where(in_source).values(**closed, updated_ts=now_ms))
        return Circuit(CLOSED, 0, None, None)
    conn.execute(
        update(tasks)
        .where(in_source)
        .values(consecutive_failures=tasks.c.consecutive_failures + 1, updated_ts=now_ms)
    )
    circuit = read_circuit(conn, collectors, policy)
    tripped = verdict is Verdict.TRIP or circuit.state == HALF_OPEN
    if tripped or circuit.failures >= policy.threshold:
        return _open(conn, collectors, circuit.failures, now_ms, policy, hold_ms)
    return circuit


def _open(
    conn: Connection,
    collectors: Sequence[str],
    failures: int,
    now_ms: int,
    policy: BreakerPolicy,
    hold_ms: int,
) -> Circuit:
    """Open the circuit and push the source's tasks past the cooldown."""
    until = now_ms + max(int(policy.cooldown_seconds * 1000), hold_ms)
    conn.execute(
        update(tasks)
        .where(tasks.c.collector.in_(collectors))
        .values(
            circuit_state=OPEN,
            circuit_opened_ts=now_ms,
            next_run_ts=case((tasks.c.next_run_ts < until, until), else_=tasks.c.next_run_ts),
            updated_ts=now_ms,
        )
    )
    return Circuit(OPEN, failures, now_ms, until)


def read_circuit(conn: Connection, collectors: Sequence[str], policy: BreakerPolicy) -> Circuit:
    """The source's breaker as stored (the most open state among its rows, should a
    newly added task not carry it yet)."""
    rank = case(
        (tasks.c.circuit_state == OPEN, 2), (tasks.c.circuit_state == HALF_OPEN, 1), else_=0
    )
    row = conn.execute(
        select(
            func.max(rank),
            func.max(tasks.c.consecutive_failures),
            func.max(tasks.c.circuit_opened_ts),
        ).where(tasks.c.collector.in_(collectors))
    ).one()
    state = {2: OPEN, 1: HALF_OPEN}.get(row[0] or 0, CLOSED)
    if state == CLOSED:
        return Circuit(CLOSED, int(row[1] or 0), None, None)
    opened = int(row[2] or 0)
    if state == OPEN:
        blocked = opened + int(policy.cooldown_seconds * 1000)
    else:
        blocked = opened + recheck_ms(policy)
    return Circuit(state, int(row[1] or 0), opened, blocked)
