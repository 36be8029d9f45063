"""Read latency and throughput of the API beside the same query run on the database.

    python bench/api.py [--rows 10000000] [--requests 300] [--total 2000] [--postgres URL]

Builds a candle table of `--rows` 1m candles (10 series) in a migrated SQLite database
in a temporary folder (raw sqlite3 `executemany`, in key order), serves it with the
real app under uvicorn in a separate process on localhost, and measures, for
"latest 1000 candles" (`order=desc&limit=1000`) and "one day of 1m candles" (1440, a
random day each time):
- latency p50/p99 of `--requests` sequential requests (httpx, keep-alive), beside the
  same query run directly on the database (raw driver, then the project's
  `storage.reads.read_candles`, which the API calls) in the same run;
- requests/s with `--clients` concurrent clients (asyncio + httpx), `--total` requests.
Goals: API p99 <= 25 ms, and API p99 within 2x of the direct (raw driver) query's p99.
With `--postgres URL` the same table is loaded (COPY) into a fresh schema and measured
too (the schema is dropped afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from bench.scratch import postgres_schema

from ohmycoins.storage import reads
from ohmycoins.storage.database import Database

MINUTE = 60_000
DAY = 1440 * MINUTE
T0 = 1_600_000_020_000 - 1_600_000_020_000 % DAY
SERIES = 10
EXCHANGE, TIMEFRAME = "binance", "1m"
COLUMNS = "exchange, symbol, timeframe, ts, open, high, low, close, volume"
GOAL_P99_MS = 25.0
GOAL_RATIO = 2.0


def symbols() -> list[str]:
    return [f"C{i}/USDT" for i in range(SERIES)]


def candle_rows(symbol: str, count: int) -> Iterator[tuple[object, ...]]:
    """`count` 1m candles of one series in key order, decimals in their stored text form."""
    prices = [f"{20_000 + i / 100:.2f}" for i in range(1000)]
    volumes = [f"{i / 1000:.3f}" for i in range(997)]
    for i in range(count):
        yield (
            EXCHANGE,
            symbol,
            TIMEFRAME,
            T0 + i * MINUTE,
            prices[i % 1000],
            prices[(i + 7) % 1000],
            prices[(i + 3) % 1000],
            prices[(i + 1) % 1000],
            volumes[i % 997],
        )


def fill_sqlite(path: Path, rows: int) -> float:
    """A migrated database with `rows` candles; returns the seconds the insert took."""
    seed = Database(f"sqlite:///{path}")
    seed.upgrade()
    seed.dispose()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    start = time.perf_counter()
    with conn:
        for symbol in symbols():
            conn.executemany(
                f"INSERT INTO candles ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                candle_rows(symbol, rows // SERIES),
            )
    conn.execute("ANALYZE")
    conn.close()
    return time.perf_counter() - start


def fill_postgres(url: str, rows: int) -> float:
    import psycopg

    db = Database(url)
    db.upgrade()
    db.dispose()
    start = time.perf_counter()
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur, cur.copy(f"COPY candles ({COLUMNS}) FROM STDIN") as copy:
            for symbol in symbols():
                for row in candle_rows(symbol, rows // SERIES):
                    copy.write_row(row)
        conn.commit()
        conn.execute("ANALYZE candles")
    return time.perf_counter() - start


# --- the two queries -----------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """One request: the API's parameters; `start`/`end` None for the latest candles."""

    symbol: str
    start: int | None
    end: int | None
    limit: int

    @property
    def order(self) -> str:
        return "desc" if self.start is None else "asc"

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "exchange": EXCHANGE,
            "symbol": self.symbol,
            "timeframe": TIMEFRAME,
            "limit": self.limit,
            "order": self.order,
        }
        if self.start is not None:
            params |= {"start": self.start, "end": self.end}
        return params


def latest_queries(n: int, rng: random.Random) -> list[Query]:
    return [Query(rng.choice(symbols()), None, None, 1000) for _ in range(n)]


def day_queries(n: int, rng: random.Random, rows: int) -> list[Query]:
    days = max(1, rows // SERIES // 1440)
    out = []
    for _ in range(n):
        start = T0 + rng.randrange(days) * DAY
        out.append(Query(rng.choice(symbols()), start, start + DAY - MINUTE, 1440))
    return out


def raw_sql(query: Query, mark: str) -> tuple[str, tuple[object, ...]]:
    """The API's query in the driver's own SQL (same rows: limit + 1, same order)."""
    where = f"exchange = {mark} AND symbol = {mark} AND timeframe = {mark}"
    args: tuple[object, ...] = (EXCHANGE, query.symbol, TIMEFRAME)
    if query.start is not None:
        where += f" AND ts >= {mark} AND ts <= {mark}"
        args += (query.start, query.end)
    sql = f"SELECT {COLUMNS} FROM candles WHERE {where} ORDER BY ts {query.order} LIMIT {mark}"
    return sql, (*args, query.limit + 1)


# --- measuring -------------------------------------------------------------------------


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return pick(0.50), pick(0.99)


def latencies(run: Callable[[Query], int], queries: list[Query], expect: int) -> list[float]:
    for query in queries[:20]:  # warm-up: connections, caches, page cache
        run(query)
    out = []
    for query in queries:
        start = time.perf_counter()
        got = run(query)
        out.append(time.perf_counter() - start)
        assert got == expect, f"{query}: {got} rows, expected {expect}"
    return out


def raw_runner(url: str) -> tuple[Callable[[Query], int], Callable[[], None]]:
    if url.startswith("sqlite"):
        conn: Any = sqlite3.connect(url.removeprefix("sqlite:///"), check_same_thread=False)
        mark = "?"
    else:
        import psycopg

        conn = psycopg.connect(url)
        conn.autocommit = True
        mark = "%s"

    def run(query: Query) -> int:
        sql, args = raw_sql(query, mark)
        return min(len(conn.execute(sql, args).fetchall()), query.limit)

    return run, conn.close


def storage_runner(url: str) -> tuple[Callable[[Query], int], Callable[[], None]]:
    db = Database(url)

    def run(query: Query) -> int:
        page = reads.read_candles(
            db,
            EXCHANGE,
            query.symbol,
            TIMEFRAME,
            start=query.start,
            end=query.end,
            limit=query.limit,
            order="desc" if query.start is None else "asc",
        )
        return len(page.rows)

    return run, db.dispose


def api_runner(base: str) -> tuple[Callable[[Query], int], Callable[[], None]]:
    client = httpx.Client(base_url=base, timeout=30)

    def run(query: Query) -> int:
        response = client.get("/api/v1/candles", params=query.params())
        response.raise_for_status()
        return len(response.json()["data"])

    return run, client.close


async def throughput(base: str, queries: list[Query], clients: int) -> float:
    """Requests/s of `queries` spread over `clients` concurrent keep-alive clients."""
    pending = list(reversed(queries))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:

        async def worker() -> None:
            while pending:
                query = pending.pop()
                response = await client.get("/api/v1/candles", params=query.params())
                response.raise_for_status()

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return len(queries) / (time.perf_counter() - start)


# --- the server ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(url: str, port: int) -> None:
    """The child process: the real app over `url`, as `omc serve` would run it."""
    from ohmycoins.api import create_app
    from ohmycoins.api.app import api_server
    from ohmycoins.publish import MemoryBroker
    from ohmycoins.settings import Settings

    app = create_app(Settings(database_url=url), broker=MemoryBroker())
    asyncio.run(api_server(app, "127.0.0.1", port).serve())


def start_server(url: str) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", url, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                return base, child
        except httpx.TransportError:
            time.sleep(0.05)
    child.kill()
    raise SystemExit("the API server did not start")


# --- one backend -----------------------------------------------------------------------


def bench_backend(name: str, url: str, args: argparse.Namespace) -> list[bool]:
    rng = random.Random(7)
    workloads = {
        "latest 1000": (latest_queries(args.requests, rng), 1000),
        "one day (1440)": (day_queries(args.requests, rng, args.rows), 1440),
    }
    base, child = start_server(url)
    verdicts = []
    try:
        for label, (queries, expect) in workloads.items():
            measured = {}
            for how, make in (
                ("direct (raw driver)", lambda: raw_runner(url)),
                ("storage.reads", lambda: storage_runner(url)),
                ("API (HTTP)", lambda: api_runner(base)),
            ):
                run, close = make()
                measured[how] = percentiles(latencies(run, queries, expect))
                close()
            load = (queries * (args.total // len(queries) + 1))[: args.total]
            rps = asyncio.run(throughput(base, load, args.clients))
            verdicts += report(name, label, measured, rps, args.clients)
    finally:
        child.terminate()
        child.wait(10)
    return verdicts


def report(
    backend: str,
    label: str,
    measured: dict[str, tuple[float, float]],
    rps: float,
    clients: int,
) -> list[bool]:
    raw_p99 = measured["direct (raw driver)"][1]
    print(f"\n{backend} | {label}")
    print(f"  {'path':22} {'p50 ms':>8} {'p99 ms':>8} {'p99 / direct':>13}")
    for how, (p50, p99) in measured.items():
        print(f"  {how:22} {p50:8.2f} {p99:8.2f} {p99 / raw_p99:12.2f}x")
    api_p99 = measured["API (HTTP)"][1]
    fast, close = api_p99 <= GOAL_P99_MS, api_p99 <= GOAL_RATIO * raw_p99
    print(f"  throughput with {clients} concurrent clients: {rps:,.0f} requests/s")
    print(
        f"  goal API p99 <= {GOAL_P99_MS:.0f} ms: {'PASS' if fast else 'FAIL'} ({api_p99:.2f} ms)"
        f" | goal API p99 <= {GOAL_RATIO:.0f}x direct: {'PASS' if close else 'FAIL'}"
        f" ({api_p99 / raw_p99:.2f}x)",
        flush=True,
    )
    return [fast, close]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=300, help="per latency measurement")
    parser.add_argument("--total", type=int, default=2000, help="requests per throughput run")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--postgres", default=None, help="also measure this PostgreSQL")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    print(f"{args.rows:,} 1m candles in {SERIES} series; {os.cpu_count()} CPUs")
    verdicts = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "api-bench.db"
        seconds = fill_sqlite(path, args.rows)
        print(f"sqlite: filled in {seconds:.1f} s ({args.rows / seconds:,.0f} rows/s)")
        verdicts += bench_backend("sqlite", f"sqlite:///{path}", args)
    if args.postgres:
        url, drop = postgres_schema(args.postgres)
        try:
            seconds = fill_postgres(url, args.rows)
            print(f"\npostgresql: filled in {seconds:.1f} s ({args.rows / seconds:,.0f} rows/s)")
            verdicts += bench_backend("postgresql", url, args)
        finally:
            drop()
    print(f"\ngoals met: {sum(verdicts)}/{len(verdicts)}")


if __name__ == "__main__":
    main()
