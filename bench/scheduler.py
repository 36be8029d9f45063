"""Scheduler throughput and schedule lag, on SQLite and PostgreSQL, 1 and 3 workers.

    python bench/scheduler.py [--tasks 10000] [--postgres URL] [--quick]
        [--backends sqlite,postgresql] [--no-lag] [--concurrency 32] [--run-ms 0]

Workers are real processes (this script with `--serve`), each a `Worker` with
`--concurrency` runs at once, over trivial collectors that only note when they
started (and then wait `--run-ms`, as a collector waiting on its source would).
Every run builds a fresh database (a temporary SQLite file; a fresh schema of
PostgreSQL when a URL is given or OMC_TEST_POSTGRES_URL is set).

(a) throughput: `--tasks` tasks (interval one hour) all due at the same moment t0;
    claimed/s = tasks ÷ (last collector start - t0), completed/s = tasks ÷ (last run
    recorded in `collector_runs` - t0). Also the CPU per task of the worker processes
    and of their PostgreSQL backends (read from /proc, so only for a local server),
    and the cores both kept busy: with trivial runs the scheduler itself is the whole
    load, and once the machine's cores are busy more workers cannot add throughput.
(b) lag at a steady 1,000 tasks per minute: `--lag-interval` s x 1000/60 tasks, each
    every `--lag-interval` s, their first slots spread evenly over one interval
    (default 1,000 tasks at 60 s; `--quick`: 100 tasks at 6 s); for every slot due
    in the first `--lag-periods` intervals, lag = collector start - due time; p50,
    p99 and max.

Goals: lag p99 < 1 s at 1,000 tasks/min, and 3 workers ≥ 2.5x one worker in
completed/s on PostgreSQL. Peak RSS of this process and of the largest worker is
printed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scratch import cpu_seconds, postgres_schema
from sqlalchemy import bindparam, func, select, text, update

from ohmycoins.records import CollectorRun
from ohmycoins.scheduling.policy import Policy
from ohmycoins.scheduling.registry import Collector, Registry, RunContext, RunOutcome
from ohmycoins.scheduling.schedule import Schedule
from ohmycoins.scheduling.tasks import sync_tasks
from ohmycoins.scheduling.worker import Worker
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import RECORD_TABLES, collection_tasks
from ohmycoins.timeframes import now_ms

ROOT = Path(__file__).resolve().parents[1]
RUNS = RECORD_TABLES[CollectorRun]
FAR_MS = 3_600_000_000
"""How far ahead prepared tasks are set, so that none is due until the measurement starts."""


# --- the worker process -------------------------------------------------------------


def task_name(index: int) -> str:
    return f"b{index:05d}"


def registry(
    tasks: int, interval: float, started: list[tuple[int, int]], run_ms: float = 0.0
) -> Registry:
    """`tasks` trivial collectors over ten sources; each notes (due, start) in `started`,
    then waits `run_ms` as a collector waiting on its source would."""

    async def note(context: RunContext) -> RunOutcome:
        started.append((context.due_ts, now_ms()))
        if run_ms:
            await asyncio.sleep(run_ms / 1000)
        return RunOutcome(records_written=0)

    return Registry(
        Collector(
            name=task_name(i),
            ledger="exchange",
            source=f"bench{i % 10}",
            schedule=Schedule.every(interval),
            run=note,
        )
        for i in range(tasks)
    )


async def serve(args: argparse.Namespace) -> None:
    """Run one worker until SIGTERM, then write the (due, start) pairs to `--out`."""
    db = Database(args.serve)
    started: list[tuple[int, int]] = []
    policy = Policy(
        lease_seconds=30.0,
        max_concurrency=args.concurrency,
        idle_cap_seconds=0.1,
        stop_timeout_seconds=5.0,
    )
    worker = Worker(db, registry(args.tasks, args.interval, started, args.run_ms), policy)
    loop = asyncio.get_running_loop()
    stopping: set[asyncio.Task[None]] = set()
    loop.add_signal_handler(signal.SIGTERM, lambda: stopping.add(loop.create_task(worker.stop())))
    print("READY", worker.owner, flush=True)
    try:
        await worker.run()
    finally:
        db.dispose()
        await asyncio.to_thread(Path(args.out).write_text, json.dumps(started))


# --- the driver ---------------------------------------------------------------------


@contextmanager
def fresh_database(backend: str, postgres: str | None) -> Iterator[str]:
    """The URL of an empty, migrated database, removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/bench.db"
            Database(url).upgrade()
            yield url
        return
    assert postgres
    url, drop = postgres_schema(postgres)
    try:
        db = Database(url)
        db.upgrade()
        db.dispose()
        yield url
    finally:
        drop()


class WorkerProcess:
    def __init__(self, url: str, tasks: int, interval: float, concurrency: int, run_ms: float,
                 out: Path):  # fmt: skip
        command = [sys.executable, str(Path(__file__).resolve()), "--serve", url,
                   "--tasks", str(tasks), "--interval", str(interval),
                   "--concurrency", str(concurrency), "--out", str(out),
                   "--run-ms", str(run_ms)]  # fmt: skip
        self.out = out
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)

    def ready(self) -> None:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("READY"):
            raise RuntimeError(f"worker did not start: {line!r}")

    def stop(self) -> list[tuple[int, int]]:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)
        return [(due, start) for due, start in json.loads(self.out.read_text())]


@dataclass
class Result:
    backend: str
    workers: int
    claimed_per_s: float = 0.0
    completed_per_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    slots: int = 0
    worker_cpu_ms: float = 0.0
    db_cpu_ms: float = 0.0
    cores: float = 0.0


def _prepare(url: str, tasks: int, interval: float) -> Database:
    db = Database(url)
    sync_tasks(db, registry(tasks, interval, []), now_ms())
    with db.engine.begin() as conn:
        conn.execute(update(collection_tasks).values(next_run_ts=now_ms() + FAR_MS))
    return db


def _ok_runs(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(RUNS)).scalar_one())


def _wait_for_runs(db: Database, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _ok_runs(db) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{_ok_runs(db)} of {count} runs after {timeout:.0f} s")
        time.sleep(0.05)


@contextmanager
def workers(url: str, n: int, tasks: int, interval: float, concurrency: int, run_ms: float,
            ) -> Iterator[tuple[list[WorkerProcess], list[tuple[int, int]]]]:  # fmt: skip
    """`n` worker processes, ready; on exit stopped, their notes in the list yielded."""
    with tempfile.TemporaryDirectory() as tmp:
        procs = [
            WorkerProcess(url, tasks, interval, concurrency, run_ms, Path(tmp) / f"w{i}.json")
            for i in range(n)
        ]
        notes: list[tuple[int, int]] = []
        try:
            for proc in procs:
                proc.ready()
            yield procs, notes
        finally:
            for proc in procs:
                if proc.process.poll() is None:
                    notes += proc.stop()


WORKER_APP = "omc_bench_worker"


def _cpu_of(db: Database, procs: list[WorkerProcess]) -> tuple[dict[int, float], dict[int, float]]:
    """CPU seconds so far of the worker processes and of their PostgreSQL backends (found
    by application_name; the backends' CPU is only visible when the server is local, else 0)."""
    workers_cpu = {p.process.pid: cpu_seconds(p.process.pid) or 0.0 for p in procs}
    backends: dict[int, float] = {}
    if db.dialect == "postgresql":
        with db.engine.connect() as conn:
            pids = conn.execute(
                text("SELECT pid FROM pg_stat_activity WHERE application_name = :app"),
                {"app": WORKER_APP},
            ).scalars()
            backends = {pid: cpu_seconds(pid) or 0.0 for pid in pids}
    return workers_cpu, backends


def _spent(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def throughput(result: Result, url: str, tasks: int, concurrency: int, run_ms: float) -> None:
    db = _prepare(url, tasks, 3600.0)
    worker_url = f"{url}&application_name={WORKER_APP}" if db.dialect == "postgresql" else url
    try:
        running = workers(worker_url, result.workers, tasks, 3600.0, concurrency, run_ms)
        with running as (procs, notes):
            cpu_before = _cpu_of(db, procs)
            t0 = now_ms()
            with db.engine.begin() as conn:
                conn.execute(update(collection_tasks).values(next_run_ts=t0))
            _wait_for_runs(db, tasks, timeout=600)
            wall = (now_ms() - t0) / 1000
            cpu_after = _cpu_of(db, procs)
            result.worker_cpu_ms = _spent(cpu_before[0], cpu_after[0]) * 1000 / tasks
            result.db_cpu_ms = _spent(cpu_before[1], cpu_after[1]) * 1000 / tasks
            result.cores = (result.worker_cpu_ms + result.db_cpu_ms) * tasks / 1000 / wall
        with db.engine.connect() as conn:
            last_done = conn.execute(select(func.max(RUNS.c.finished_ts))).scalar_one()
        last_start = max(start for _, start in notes)
        result.claimed_per_s = tasks / max(0.001, (last_start - t0) / 1000)
        result.completed_per_s = tasks / max(0.001, (int(last_done) - t0) / 1000)
    finally:
        db.dispose()


def lag(
    result: Result, url: str, interval: float, periods: int, concurrency: int, run_ms: float
) -> None:
    tasks = round(1000 * interval / 60)
    interval_ms = round(interval * 1000)
    db = _prepare(url, tasks, interval)
    try:
        with workers(url, result.workers, tasks, interval, concurrency, run_ms) as (_, notes):
            start = now_ms() + 500
            rows = [{"tid": task_name(i), "due": start + i * interval_ms // tasks}
                    for i in range(tasks)]  # fmt: skip
            with db.engine.begin() as conn:
                conn.execute(
                    update(collection_tasks)
                    .where(collection_tasks.c.task_id == bindparam("tid"))
                    .values(next_run_ts=bindparam("due")),
                    rows,
                )
            _wait_for_runs(db, tasks * periods, timeout=periods * interval + 60)
        horizon = start + periods * interval_ms
        lags = sorted(begun - due for due, begun in notes if due < horizon)
        result.slots = len(lags)
        result.p50_ms = statistics.median(lags)
        result.p99_ms = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
        result.max_ms = lags[-1]
    finally:
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--postgres", default=os.environ.get("OMC_TEST_POSTGRES_URL"))
    parser.add_argument("--concurrency", type=int, default=32, help="runs at once per worker")
    parser.add_argument("--run-ms", type=float, default=0.0, help="how long each run waits")
    parser.add_argument("--lag-interval", type=float, default=60.0)
    parser.add_argument("--lag-periods", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="2,000 tasks; 100 tasks at 6 s")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument("--no-lag", action="store_true", help="measure throughput only")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--interval", type=float, default=3600.0, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args))
        return
    if args.quick:
        args.tasks, args.lag_interval = min(args.tasks, 2000), 6.0
    wanted = args.backends.split(",")
    backends = [b for b in ("sqlite", "postgresql") if b in wanted]
    if not args.postgres and "postgresql" in backends:
        backends.remove("postgresql")
    lag_tasks = round(1000 * args.lag_interval / 60)
    print(f"throughput: {args.tasks:,} tasks due at once; lag: {lag_tasks:,} tasks every "
          f"{args.lag_interval:g} s (1,000/min), {args.lag_periods} periods; "
          f"{args.concurrency} runs at once per worker, each {args.run_ms:g} ms")  # fmt: skip
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPUs, load average {load:.1f} at the start (workers share them)")
    results = []
    for backend in backends:
        for n in (1, 3):
            result = Result(backend, n)
            with fresh_database(backend, args.postgres) as url:
                throughput(result, url, args.tasks, args.concurrency, args.run_ms)
            if not args.no_lag:
                with fresh_database(backend, args.postgres) as url:
                    lag(
                        result,
                        url,
                        args.lag_interval,
                        args.lag_periods,
                        args.concurrency,
                        args.run_ms,
                    )
            results.append(result)
            print(f"  done: {backend} x {n}", file=sys.stderr, flush=True)
    report(results)


def report(results: list[Result]) -> None:
    print(f"{'backend':<11}{'workers':>8}{'claimed/s':>11}{'completed/s':>13}"
          f"{'lag p50 ms':>12}{'p99 ms':>9}{'max ms':>9}{'slots':>7}")  # fmt: skip
    for r in results:
        print(f"{r.backend:<11}{r.workers:>8}{r.claimed_per_s:>11,.0f}{r.completed_per_s:>13,.0f}"
              f"{r.p50_ms:>12,.0f}{r.p99_ms:>9,.0f}{r.max_ms:>9,.0f}{r.slots:>7}")  # fmt: skip
    print("CPU per task in the throughput run (workers, their PostgreSQL backends) and the "
          "cores they kept busy on average:")  # fmt: skip
    for r in results:
        print(f"  {r.backend} x {r.workers}: workers {r.worker_cpu_ms:.2f} ms, "
              f"database {r.db_cpu_ms:.2f} ms, {r.cores:.2f} cores")  # fmt: skip
    for r in results:
        if not r.slots:
            continue
        met = "met" if r.p99_ms < 1000 else "NOT met"
        print(f"goal lag p99 < 1 s ({r.backend}, {r.workers} worker(s)): {met}")
    by = {(r.backend, r.workers): r for r in results}
    if ("postgresql", 1) in by:
        ratio = by["postgresql", 3].completed_per_s / by["postgresql", 1].completed_per_s
        met = "met" if ratio >= 2.5 else "NOT met"
        print(f"goal 3 workers ≥ 2.5x one on PostgreSQL: {ratio:.2f}x - {met}")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS {own:,.0f} MiB (this process), {child:,.0f} MiB (largest worker)")


if __name__ == "__main__":
    main()
