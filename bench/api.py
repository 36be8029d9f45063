"""Read latency and throughput of the API beside the same query run on the database.

    python bench/api.py [--rows 10000000] [--requests 1000] [--total 2000] [--postgres URL]
                        [--keep DIR]

Builds a candle table of `--rows` 1m candles (10 series) in a migrated SQLite database
in a temporary folder (raw sqlite3 `executemany`, in key order), serves it with the
real app under uvicorn in a separate process on localhost, and measures, for
"latest 1000 candles" (`order=desc&limit=1000`) and "one day of 1m candles" (1440, a
random day each time):
- latency p50/p99 of `--requests` sequential requests (one keep-alive `http.client`
  connection), from sending the request to holding the whole response, as HTTP load
  tools count it; the client then parses the body with orjson to check it, off the
  clock, and that time is shown on its own line ("+ client parse"). Beside it, the
  same query run directly on the database: the range's SQL
  (`storage.reads.ranges.candle_query`, decimals selected as text) on a bare driver
  connection, fetching the rows into Python tuples; then the same range in the form
  the API runs it, the JSON objects written by the database (`form="json"`: joined
  into one string on SQLite, one per row on PostgreSQL), and
  the project's `storage.reads.ranges.fetch_json`, which the API calls. The paths take turns
  query by query, so a change in the machine's load touches them alike, after the
  query has run once off the clock, so that none of them reads its pages from disk;
- the same API requests again, back to back ("API (HTTP), back to back"), as a client
  paging through a range sends them. Taking turns with the other paths, the API server
  sits idle between requests and wakes up for each; the gap between the two lines is
  what that costs on this machine. The goals are checked on the turn-taking figures;
- the API server's CPU time per request (Linux), which the machine's load barely moves;
- requests/s with `--clients` concurrent clients (asyncio + httpx), `--total` requests.
Goals: API p99 <= 25 ms, and API p99 within 2x of the direct query's p99 (the rows
form, the query as a user would write it; on SQLite the JSON form is faster still, and
every path's ratio to the rows form is printed, at p50 as well).
With `--postgres URL` the same table is loaded (COPY) into a fresh schema and measured
too (the schema is dropped afterwards).

`--keep DIR` keeps the filled tables for the next run instead of rebuilding them: the
SQLite file in DIR and, with `--postgres`, a schema named after the row count (both
reused when they hold `--rows` candles). Drop the schema by hand when done.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import http.client
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import orjson
from bench.scratch import (
    count_rows,
    cpu_seconds,
    free_port,
    postgres_schema,
    run_sql,
    schema_url,
)

from ohmycoins.storage.database import Database
from ohmycoins.storage.reads import ranges

MINUTE = 60_000
DAY = 1440 * MINUTE
T0 = 1_600_000_020_000 - 1_600_000_020_000 % DAY
SERIES = 10
EXCHANGE, TIMEFRAME = "binance", "1m"
COLUMNS = "exchange, symbol, timeframe, ts, open, high, low, close, volume"
GOAL_P99_MS = 25.0
GOAL_RATIO = 2.0
DIRECT = "direct (raw driver)"
API = "API (HTTP)"
API_STREAM = "API (HTTP), back to back"
WARM_UP = 20
"""Queries each path runs before it is timed: connections, caches, page cache."""


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


def fill_sqlite(path: Path, rows: int) -> None:
    """A migrated database with `rows` candles; prints how fast they went in."""
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
    seconds = time.perf_counter() - start
    print(f"sqlite: filled in {seconds:.1f} s ({rows / seconds:,.0f} rows/s)")


def fill_postgres(url: str, rows: int) -> None:
    """The candle table at `url` filled with `rows` candles; prints how fast they went in."""
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
    seconds = time.perf_counter() - start
    print(f"\npostgresql: filled in {seconds:.1f} s ({rows / seconds:,.0f} rows/s)")


def stored_rows(url: str) -> int:
    """Candles in the table at `url`; 0 when there is no table yet."""
    try:
        return count_rows(url, "candles")
    except Exception:  # no table (a fresh or half-made schema): fill it again
        return 0


def kept_sqlite(folder: Path, rows: int) -> str:
    """The SQLite table of `rows` candles in `folder`, filled unless a run left it."""
    path = folder / f"api-bench-{rows}.db"
    url = f"sqlite:///{path}"
    if path.exists() and stored_rows(url) == rows:
        print(f"sqlite: reusing {path}")
        return url
    for stale in folder.glob(f"{path.name}*"):
        stale.unlink()
    fill_sqlite(path, rows)
    return url


def kept_postgres(url: str, rows: int) -> str:
    """A schema `bench_api_<rows>` holding `rows` candles, filled unless a run left it."""
    schema = f"bench_api_{rows}"
    kept = schema_url(url, schema)
    if stored_rows(kept) == rows:
        print(f"\npostgresql: reusing schema {schema}")
        return kept
    run_sql(url, f"DROP SCHEMA IF EXISTS {schema} CASCADE", f"CREATE SCHEMA {schema}")
    fill_postgres(kept, rows)
    return kept


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

    def read_args(self) -> dict[str, Any]:
        """The same range as arguments of `ranges.candle_query`."""
        return {"start": self.start, "end": self.end, "limit": self.limit, "order": self.order}


def latest_queries(n: int, rng: random.Random) -> list[Query]:
    return [Query(rng.choice(symbols()), None, None, 1000) for _ in range(n)]


def day_queries(n: int, rng: random.Random, rows: int) -> list[Query]:
    days = max(1, rows // SERIES // 1440)
    out = []
    for _ in range(n):
        start = T0 + rng.randrange(days) * DAY
        out.append(Query(rng.choice(symbols()), start, start + DAY - MINUTE, 1440))
    return out


def raw_query(db: Database, query: Query, form: ranges.Form) -> ranges.RawQuery:
    """The range's SQL and arguments for `query` (same rows: limit + 1, same order)."""
    return ranges.candle_query(
        db, EXCHANGE, query.symbol, TIMEFRAME, **query.read_args(), form=form
    )


# --- measuring -------------------------------------------------------------------------


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return pick(0.50), pick(0.99)


@dataclass(frozen=True)
class Runner:
    """One path to the data: `fetch` is timed; `count` (rows in what it fetched, for the
    check) is not, and is reported as its own line when `decode` names it."""

    fetch: Callable[[Query], Any]
    count: Callable[[Any, Query], int]
    close: Callable[[], None]
    decode: str | None = None


def latencies(
    runners: dict[str, Runner], queries: list[Query], expect: int
) -> dict[str, list[float]]:
    """Seconds per query of each runner (and of fetch + decode where a runner names it),
    taking turns query by query, so that a change in the machine's load (other work on
    it) touches every path alike. Each query is first run once off the clock, so that
    every path finds its pages in memory: else the first path alone would pay for
    reading a random day from disk. Which path goes first rotates from query to query,
    so that none always runs with the caches the warm-up left hot."""
    for query in queries[:WARM_UP]:
        for runner in runners.values():
            runner.count(runner.fetch(query), query)
    first = next(iter(runners.values()))
    gc.collect()
    gc.freeze()  # the client's own long-lived objects, never rescanned on the clock
    out: dict[str, list[float]] = {}
    turns = list(runners.items())
    for index, query in enumerate(queries):
        first.fetch(query)
        shift = index % len(turns)
        for how, runner in turns[shift:] + turns[:shift]:
            start = time.perf_counter()
            got = runner.fetch(query)
            fetched = time.perf_counter()
            rows = runner.count(got, query)
            out.setdefault(how, []).append(fetched - start)
            if runner.decode:
                out.setdefault(runner.decode, []).append(time.perf_counter() - start)
            assert rows == expect, f"{how} {query}: {rows} rows, expected {expect}"
    return out


def raw_runner(url: str, form: ranges.Form) -> Runner:
    """The range's SQL in `form` on a bare driver connection, rows fetched into Python."""
    compiler = Database(url)  # only compiles the statement, for this backend
    if url.startswith("sqlite"):
        conn: Any = sqlite3.connect(url.removeprefix("sqlite:///"), check_same_thread=False)
    else:
        import psycopg

        conn = psycopg.connect(url)
        conn.autocommit = True

    def fetch(query: Query) -> tuple[ranges.RawQuery, list[Any]]:
        raw = raw_query(compiler, query, form)
        return raw, conn.execute(raw.sql, raw.args).fetchall()

    def count(fetched: tuple[ranges.RawQuery, list[Any]], query: Query) -> int:
        raw, rows = fetched
        return min(rows[0][1] if raw.joined else len(rows), query.limit)

    def close() -> None:
        conn.close()
        compiler.dispose()

    return Runner(fetch, count, close)


def json_runner(url: str) -> Runner:
    db = Database(url)

    def fetch(query: Query) -> ranges.JsonPage:
        return ranges.fetch_json(db, raw_query(db, query, "json"))

    return Runner(fetch, lambda page, _query: page.data.count(b'"ts":'), db.dispose)


def api_runner(base: str) -> Runner:
    """One keep-alive connection of the standard library's `http.client`: the thinnest
    Python client, so the time is the API's and the wire's rather than a client
    library's (httpx adds about 0.6 ms a request)."""
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)

    def fetch(query: Query) -> bytes:
        conn.request("GET", f"/api/v1/candles?{urlencode(query.params())}")
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200, f"{response.status}: {body[:200]!r}"
        return body

    def count(body: bytes, _query: Query) -> int:
        return len(orjson.loads(body)["data"])  # into Python, as the direct path

    return Runner(fetch, count, conn.close, decode=f"{API} + client parse")


def back_to_back(runner: Runner, queries: list[Query], expect: int) -> list[float]:
    """Seconds per query of one path alone, each query sent as soon as the last answered."""
    for query in queries[:WARM_UP]:
        runner.fetch(query)
    out = []
    for query in queries:
        start = time.perf_counter()
        got = runner.fetch(query)
        out.append(time.perf_counter() - start)
        assert runner.count(got, query) == expect
    runner.close()
    return out


async def throughput(base: str, queries: list[Query], clients: int) -> float:
    """Requests/s of `queries` spread over `clients` concurrent keep-alive clients."""
    pending = list(reversed(queries))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        dropped = 0

        async def worker() -> None:
            nonlocal dropped
            while pending:
                query = pending.pop()
                try:
                    response = await client.get("/api/v1/candles", params=query.params())
                except httpx.TransportError:  # a keep-alive connection closed under us
                    dropped += 1
                    pending.append(query)
                    continue
                response.raise_for_status()

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        seconds = time.perf_counter() - start
        if dropped:
            print(f"  ({dropped} requests retried after a dropped connection)")
        return len(queries) / seconds


# --- the server ------------------------------------------------------------------------


def serve(url: str, port: int) -> None:
    """The child process: the real app over `url`, as `omc serve` would run it."""
    from ohmycoins.api import create_app
    from ohmycoins.api.app import api_server
    from ohmycoins.publish import MemoryBroker
    from ohmycoins.settings import Settings

    # One client asking thousands of times a minute, without a key: lift the
    # per-address budget so the bench times the API, not its 429s.
    settings = Settings(database_url=url, api_anon_rate_limit=1e9)
    app = create_app(settings, broker=MemoryBroker())
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
            runners = {
                DIRECT: raw_runner(url, "rows"),
                "direct, JSON form": raw_runner(url, "json"),
                "fetch_json": json_runner(url),
                API: api_runner(base),
            }
            before = cpu_seconds(child.pid)
            seconds = latencies(runners, queries, expect)
            after = cpu_seconds(child.pid)
            for runner in runners.values():
                runner.close()
            measured = {how: percentiles(times) for how, times in seconds.items()}
            measured[API_STREAM] = percentiles(back_to_back(api_runner(base), queries, expect))
            server_ms = None
            if before is not None and after is not None:
                sent = len(queries) + len(queries[:WARM_UP])
                server_ms = (after - before) * 1000 / sent
            load = (queries * (args.total // len(queries) + 1))[: args.total]
            rps = asyncio.run(throughput(base, load, args.clients))
            verdicts += report(name, label, measured, rps, args.clients, server_ms)
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
    server_ms: float | None,
) -> list[bool]:
    raw_p50, raw_p99 = measured[DIRECT]
    print(f"\n{backend} | {label}")
    print(f"  {'path':29} {'p50 ms':>8} {'p99 ms':>8} {'p50 / direct':>13} {'p99 / direct':>13}")
    for how, (p50, p99) in measured.items():
        print(f"  {how:29} {p50:8.2f} {p99:8.2f} {p50 / raw_p50:12.2f}x {p99 / raw_p99:12.2f}x")
    api_p99 = measured[API][1]
    fast, close = api_p99 <= GOAL_P99_MS, api_p99 <= GOAL_RATIO * raw_p99
    print(f"  throughput with {clients} concurrent clients: {rps:,.0f} requests/s")
    if server_ms is not None:
        print(f"  API server CPU per request: {server_ms:.2f} ms (load-independent)")
    print(
        f"  goal API p99 <= {GOAL_P99_MS:.0f} ms: {'PASS' if fast else 'FAIL'} ({api_p99:.2f} ms)"
        f" | goal API p99 <= {GOAL_RATIO:.0f}x direct: {'PASS' if close else 'FAIL'}"
        f" ({api_p99 / raw_p99:.3f}x)",
        flush=True,
    )
    return [fast, close]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=1000, help="per latency measurement")
    parser.add_argument("--total", type=int, default=2000, help="requests per throughput run")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--postgres", default=None, help="also measure this PostgreSQL")
    parser.add_argument("--keep", type=Path, help="keep and reuse the filled tables (folder)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    print(f"{args.rows:,} 1m candles in {SERIES} series; {os.cpu_count()} CPUs")
    print(f"load average before: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
    verdicts = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        verdicts += bench_backend("sqlite", kept_sqlite(folder, args.rows), args)
    if args.postgres and args.keep:
        verdicts += bench_backend("postgresql", kept_postgres(args.postgres, args.rows), args)
    elif args.postgres:
        url, drop = postgres_schema(args.postgres)
        try:
            fill_postgres(url, args.rows)
            verdicts += bench_backend("postgresql", url, args)
        finally:
            drop()
    print(f"\ngoals met: {sum(verdicts)}/{len(verdicts)}")
    print(f"load average after: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")


if __name__ == "__main__":
    main()
