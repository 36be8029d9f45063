"""The `omc` command line. The only place (with the API app) that configures logging.

The heavy stacks (FastAPI, ccxt and the collectors) are imported by the commands that
run them, so `omc --help` and the database commands start in under a second. Every
command runs inside `cli_edge.Commands`, which prints an expected failure as one line
on stderr; its tables and JSON are drawn by `cli_views`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from ohmycoins import __version__
from ohmycoins.api.keys import create_key
from ohmycoins.cli_edge import Commands, check_address, open_output, print_error, time_range
from ohmycoins.cli_features import features_app
from ohmycoins.cli_views import (
    collectors_json,
    collectors_table,
    folded_table,
    once_line,
    print_json,
    retention_table,
    status_json,
    status_table,
    utc,
)
from ohmycoins.errors import BannedError, OhMyCoinsError, UnknownTaskError, UsageError
from ohmycoins.logs import configure_logging
from ohmycoins.scheduling.overview import CollectorView, collector_views
from ohmycoins.scheduling.policy import policy_from_settings
from ohmycoins.scheduling.tasks import list_tasks, pause, resume, trigger
from ohmycoins.settings import Settings, load_settings
from ohmycoins.storage.cursors import read_holes
from ohmycoins.storage.database import Database, shown_url
from ohmycoins.storage.export import ExportQuery, export_partitioned, export_table
from ohmycoins.storage.queries import table_stats
from ohmycoins.storage.reports.coverage import DEFAULT_HOURS, coverage
from ohmycoins.storage.reports.integrity import DEFAULT_TVL_JUMP, check_integrity, violations
from ohmycoins.storage.upsert import upsert
from ohmycoins.timeframes import now_ms

if TYPE_CHECKING:
    from ohmycoins.collectors.candle_report import SyncReport
    from ohmycoins.collectors.replay import Replay
    from ohmycoins.collectors.streams import StreamSpec, StreamStats
    from ohmycoins.scheduling.once import OnceResult

app = typer.Typer(
    cls=Commands,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # a bug's traceback must not print secrets
    help="ohmycoins: collect and serve crypto data.",
)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(db_app, name="db")
quality_app = typer.Typer(no_args_is_help=True, help="Data quality reports.")
app.add_typer(quality_app, name="quality")
collectors_app = typer.Typer(no_args_is_help=True, help="The scheduled collectors.")
app.add_typer(collectors_app, name="collectors")
apikey_app = typer.Typer(no_args_is_help=True, help="API keys.")
app.add_typer(apikey_app, name="apikey")
retention_app = typer.Typer(no_args_is_help=True, help="Rollups and retention ([retention]).")
app.add_typer(retention_app, name="retention")
app.add_typer(features_app, name="features")
console = Console()
log = logging.getLogger("ohmycoins")


def _version(value: bool) -> None:
    if value:
        console.print(f"ohmycoins {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Collect crypto market data into a database and serve it."""


def _settings() -> Settings:
    settings = load_settings()
    configure_logging(settings)
    return settings


def _database(settings: Settings) -> Database:
    """The configured database, migrated to the newest schema."""
    db = Database.of(settings)
    db.upgrade()  # a database that does not answer ends in one line (cli_edge.Commands)
    return db


def _error(exc: Exception) -> typer.Exit:
    """Print `exc` as a one-line error; the caller raises the exit 1 it returns. For
    failures of the work itself, which end with 1 even when they are a ConfigError (an
    unknown exchange): `Commands` would end those with 2, as refused input."""
    print_error(exc)
    return typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to the newest schema (a no-op when it is current)."""
    applied = Database.of(_settings()).upgrade()
    console.print(f"applied {', '.join(applied)}" if applied else "schema is current")


@app.command()
def backup(
    to: Annotated[
        Path | None, typer.Option(help="Directory of the backup; default: [backup] dir.")
    ] = None,
) -> None:
    """An online, consistent backup of the whole database, with a manifest of its rows."""
    from ohmycoins.storage.backup import backup as take_backup

    settings = _settings()
    directory = to if to is not None else Path(settings.backup.dir)
    path, manifest = take_backup(_database(settings), directory, now_ms())
    console.print(
        f"backup {path}: {len(manifest.tables)} tables, {manifest.rows:,} rows, "
        f"{manifest.bytes:,} bytes",
        soft_wrap=True,
        highlight=False,
    )


@app.command()
def restore(
    file: Annotated[
        Path, typer.Argument(help="A backup `omc backup` wrote (its manifest beside).")
    ],
) -> None:
    """Restore a backup into the configured database, which must be empty, and check
    every table's rows against the backup's manifest."""
    from ohmycoins.storage.backup import restore as restore_backup

    settings = _settings()
    db = Database.of(settings)  # not migrated: a restore needs the database empty
    manifest = restore_backup(db, file)
    console.print(
        f"restored {file.name} into {shown_url(db.url)}: {len(manifest.tables)} tables, "
        f"{manifest.rows:,} rows, every table's count as in the manifest",
        soft_wrap=True,
        highlight=False,
    )


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """Tables with their row counts and newest rows, then the scheduled collectors."""
    settings = _settings()
    db = _database(settings)
    stats = table_stats(db)
    views = _collector_views(settings, db) if list_tasks(db) else []
    if as_json:
        print_json(status_json(shown_url(db.url), stats, views))
        return
    console.print(status_table(repr(db), stats, time.time()))
    if views:
        console.print(collectors_table(views, time.time()))


@app.command()
def export(
    table: Annotated[str, typer.Argument(help="A table: candles, trades, news_items, …")],
    output: Annotated[str, typer.Option("--output", "-o", help="File; - for stdout.")] = "-",
    fmt: Annotated[str, typer.Option("--format", help="csv, jsonl or parquet.")] = "csv",
    since: Annotated[str | None, typer.Option(help="From, ISO-8601 UTC or epoch ms.")] = None,
    until: Annotated[str | None, typer.Option(help="Until (exclusive).")] = None,
    where: Annotated[
        list[str] | None, typer.Option(help="column=value, repeatable: symbol=BTC/USDT.")
    ] = None,
    partition_by: Annotated[
        str | None,
        typer.Option(
            help="day, symbol or day,symbol: compressed files in Hive-style folders under"
            " the --output directory (Parquet with zstd; CSV and JSON lines gzipped)."
        ),
    ] = None,
) -> None:
    """Stream a table's rows to CSV, JSON lines or Parquet, in constant memory; with
    --partition-by, as daily archives per date (and symbol)."""
    start, end = time_range(since, until, now_ms())
    query = ExportQuery(table, start, end, dict(_column_value(pair) for pair in where or []))
    settings = _settings()
    if partition_by is not None:
        _export_partitioned(settings, query, output, fmt, partition_by)
        return
    if output == "-":
        export_table(_database(settings), query, sys.stdout.buffer, fmt)
        return
    with open_output(output) as out:
        try:
            count = export_table(_database(settings), query, out, fmt)
        except OhMyCoinsError:
            out.close()
            Path(output).unlink(missing_ok=True)
            raise
    console.print(f"{count:,} rows of {table} written to {output}")


def _export_partitioned(
    settings: Settings, query: ExportQuery, output: str, fmt: str, partition_by: str
) -> None:
    if output == "-":
        raise UsageError("--partition-by writes files: give a directory with --output")
    by = [part.strip() for part in partition_by.split(",") if part.strip()]
    files = export_partitioned(_database(settings), query, Path(output), fmt, by)
    rows = sum(part.rows for part in files)
    console.print(
        f"{rows:,} rows of {query.table} written to {len(files):,} files under "
        f"{Path(output) / query.table}",
        soft_wrap=True,
        highlight=False,
    )


def _column_value(pair: str) -> tuple[str, str]:
    column, sep, value = pair.partition("=")
    if not sep or not column:
        raise UsageError(f"--where {pair!r}: expected column=value")
    return column, value


@app.command()
def backfill(
    exchange: Annotated[str, typer.Option(help="ccxt exchange id, e.g. binance.")],
    symbol: Annotated[list[str], typer.Option(help="Unified symbol, repeatable: BTC/USDT.")],
    since: Annotated[str, typer.Option(help="Start, ISO-8601 UTC: 2024-01-01T00:00:00Z.")],
    timeframe: Annotated[list[str], typer.Option(help="Repeatable: 1m 5m 15m 30m 1h 4h 1d.")] = [  # noqa: B006
        "1m"
    ],
    until: Annotated[str | None, typer.Option(help="End (exclusive); default now.")] = None,
    wait_ban: Annotated[
        bool, typer.Option("--wait-ban", help="If the exchange bans this IP (418), wait it out.")
    ] = False,
) -> None:
    """Fetch candle history; interrupted, it resumes where it stopped when run again.

    Each page is retried under the workers' own retry policy (the line it prints
    first); a page still failing is kept as missing, and fetched by the next run."""
    settings = _settings()
    start, end = time_range(since, until, now_ms())
    assert start is not None
    db = _database(settings)
    span = (start, end)
    try:
        reports = asyncio.run(_backfill(settings, db, exchange, symbol, timeframe, span, wait_ban))
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]: run the same command again to continue")
        raise typer.Exit(130) from None
    except BannedError as exc:
        hint = "run the same command again after it, or with --wait-ban to wait it out"
        console.print(f"[red]error:[/red] {exc}; {hint}", soft_wrap=True)
        raise typer.Exit(1) from None
    except OhMyCoinsError as exc:
        raise _error(exc) from None
    _print_reports(reports)
    if not all(report.complete for report in reports):
        raise typer.Exit(1)


def _wait_out(exc: BannedError) -> None:
    """Say that the exchange banned us and that we wait (`omc backfill --wait-ban`)."""
    console.print(f"[yellow]banned:[/yellow] {exc}; waiting it out (--wait-ban)", soft_wrap=True)


async def _backfill(
    settings: Settings,
    db: Database,
    exchange: str,
    symbols: list[str],
    timeframes: list[str],
    span: tuple[int, int | None],
    wait_ban: bool,
) -> list[SyncReport]:
    from ohmycoins.collectors.candle_report import run_record
    from ohmycoins.collectors.candles import CandleSync
    from ohmycoins.scheduling.retry import Retry
    from ohmycoins.sources.exchange import ExchangeClient

    since, until = span
    retry = Retry(policy_from_settings(settings))
    console.print(f"retries: each page {retry} (the workers' policy)", highlight=False)
    on_ban = _wait_out if wait_ban else None
    client = ExchangeClient(exchange, settings.source(exchange), on_ban=on_ban)
    try:
        await client.load_markets()
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>9} candles/s"),
            TimeRemainingColumn(),
            console=console,
        ) as progress:
            tasks: dict[str, TaskID] = {}

            def show(series: str, done: int, total: int) -> None:
                if series not in tasks:
                    tasks[series] = progress.add_task(series, total=total, rate="-")
                task = progress.tasks[tasks[series]]
                speed = task.speed
                rate = f"{speed:,.0f}" if speed else "-"
                progress.update(tasks[series], completed=done, total=total, rate=rate)

            sync = CandleSync(client, db, retry=retry, on_progress=show)
            jobs = [sync.sync(s, tf, since, until) for s in symbols for tf in timeframes]
            reports = list(await asyncio.gather(*jobs))
            upsert(db, [run_record(report) for report in reports])
            return reports
    finally:
        await client.close()


def _print_reports(reports: list[SyncReport]) -> None:
    """Each series on its own line, then its counts as words that wrap between pairs: a
    table of eight columns cannot fit an 80-column terminal without cutting something."""
    for report in reports:
        counts = {
            "expected": f"{report.expected:,}",
            "stored": f"{report.stored:,}",
            "quarantined": f"{report.quarantined:,}",
            "refetched": f"{report.refetched:,}",
            "holes": f"{sum(h.candles for h in report.holes):,}",
            "missing": f"{report.missing:,}",
            "quality": f"{report.quality.overall}" if report.quality else "-",
        }
        console.print(f"[bold]{report.series}[/bold]", soft_wrap=True, highlight=False)
        console.print(
            "  " + "   ".join(f"{name} {value}" for name, value in counts.items()),
            highlight=False,
        )


@quality_app.command("gaps")
def quality_gaps(
    exchange: Annotated[str | None, typer.Option(help="Only this exchange.")] = None,
    symbol: Annotated[str | None, typer.Option(help="Only this symbol.")] = None,
) -> None:
    """Candles the exchanges do not have (known holes), per series."""
    db = _database(_settings())
    with db.engine.connect() as conn:
        holes = read_holes(conn, exchange, symbol)
    table = folded_table("exchange", "symbol", "timeframe", "from (UTC)", "to (UTC)", "candles")
    for hole in holes:
        table.add_row(
            hole.exchange,
            hole.symbol,
            hole.timeframe,
            utc(hole.start_ts),
            utc(hole.end_ts),
            f"{hole.candles:,}",
        )
    console.print(table if holes else "no known holes")


@quality_app.command("integrity")
def quality_integrity(
    as_json: Annotated[bool, typer.Option("--json", help="Print the findings as JSON.")] = False,
    tvl_jump: Annotated[
        float, typer.Option(min=0.0, help="Day-over-day TVL change flagged (0.5 = 50 %).")
    ] = float(DEFAULT_TVL_JUMP),
) -> None:
    """Integrity checks over the glass data; exit code 1 when any violation is found."""
    db = _database(_settings())
    findings = check_integrity(db, tvl_jump=Decimal(str(tvl_jump)))
    broken = violations(findings)
    if as_json:
        body = {"violations": len(broken), "anomalies": len(findings) - len(broken)}
        print(json.dumps(body | {"findings": [finding.as_dict() for finding in findings]}))
    else:
        table = folded_table("check", "severity", "table", "key", "detail")
        for finding in findings:
            key = " ".join(f"{name}={value}" for name, value in finding.key.items())
            table.add_row(finding.check, finding.severity, finding.table, key, finding.detail)
        console.print(table if findings else "no findings")
    if broken:
        raise typer.Exit(1)


@quality_app.command("coverage")
def quality_coverage(
    hours: Annotated[
        float, typer.Option(min=0.01, help="Window: rows this recent.")
    ] = DEFAULT_HOURS,
) -> None:
    """How many recent rows of each glass and macro table have each field."""
    db = _database(_settings())
    report = coverage(db, hours=hours)
    table = folded_table("table", "field", "rows with it", "rows", "%", title=f"last {hours:g} h")
    for covered in report.tables:
        for field in covered.fields:
            percent = "-" if field.percent is None else f"{field.percent:.1f}"
            table.add_row(
                covered.table, field.field, f"{field.present:,}", f"{covered.rows:,}", percent
            )
    console.print(table)


@app.command()
def run(
    demo: Annotated[
        bool,
        typer.Option(
            help="Collect the built-in exchange simulator (no internet) as the exchange `sim`,"
            " into its own database: OMC_DEMO_DATABASE_URL (./data/demo.db)."
        ),
    ] = False,
    host: Annotated[str, typer.Option(help="Address the API listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port the API listens on.")] = 8000,
) -> None:
    """The main job: migrate, collect on schedule and serve the API, until Ctrl-C or SIGTERM."""
    _run(demo=demo, serve_at=(host, port))


@app.command()
def worker() -> None:
    """A worker only: claims due collections from the shared schedule (PostgreSQL for many)."""
    _run(demo=False, serve_at=None)


def _run(*, demo: bool, serve_at: tuple[str, int] | None) -> None:
    from ohmycoins.collectors.service import run_service

    settings = _settings()
    if serve_at is not None:
        check_address(*serve_at)
    where = f"; API at http://{serve_at[0]}:{serve_at[1]}/api/v1" if serve_at else ""
    into = shown_url(settings.demo_database_url if demo else settings.database_url)
    what = "simulated data (exchange `sim`)" if demo else "data"
    console.print(f"collecting {what} into {into}{where} (Ctrl-C stops)", soft_wrap=True)
    try:
        asyncio.run(run_service(settings, demo=demo, serve_at=serve_at))
    except OhMyCoinsError as exc:
        raise _error(exc) from None
    console.print("stopped")


@retention_app.command("run")
def retention_run(
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print what would go and be rolled up; change nothing."),
    ] = False,
) -> None:
    """Roll detail up, then remove what is older than its retention period."""
    from ohmycoins.collectors.retention import run_retention

    settings = _settings()
    db = _database(settings)
    try:
        report = asyncio.run(run_retention(db, settings, dry_run=dry_run))
    except OhMyCoinsError as exc:
        raise _error(exc) from None
    console.print(retention_table(report))
    done, written = ("would remove", "to write") if dry_run else ("removed", "written")
    line = f"{done} {report.rows:,} rows; rollups {written}: {report.rollups:,}"
    if report.partitions_created:
        line += f"; partitions created: {', '.join(report.partitions_created)}"
    console.print(line)


@app.command("stream")
def stream_command(
    symbol: Annotated[list[str], typer.Option(help="Unified symbol; repeat for more.")],
    exchange: Annotated[str, typer.Option(help="A ccxt exchange id.")] = "binance",
    channel: Annotated[
        list[str] | None,
        typer.Option(help="trades, book, ticker or candles; repeat for more."),
    ] = None,
    seconds: Annotated[
        float | None, typer.Option(min=0, help="Stop after this many seconds (else Ctrl-C).")
    ] = None,
    depth: Annotated[int, typer.Option(min=1, help="Levels a side per stored book.")] = 50,
) -> None:
    """One live stream in the foreground with a status line, until N seconds or Ctrl-C."""
    from ohmycoins.collectors.streams import stream_specs

    settings = _settings()
    config = settings.streams.model_copy(update={"depth": depth, "symbols": None})
    spec = stream_specs(config, exchange, tuple(symbol))
    spec = dataclasses.replace(spec, channels=tuple(channel or spec.channels))
    db = _database(settings)
    try:
        stats = asyncio.run(_stream(settings, db, spec, seconds))
    except OhMyCoinsError as exc:
        raise _error(exc) from None
    console.print(f"stopped: {stats.stored:,} stored, {stats.resyncs} resync(s)")


async def _stream(
    settings: Settings, db: Database, spec: StreamSpec, seconds: float | None
) -> StreamStats:
    """Run the stream, redrawing its status line, until `seconds` or a signal."""
    import signal

    from rich.live import Live

    from ohmycoins.collectors.streams import Stream, status_line, with_capture
    from ohmycoins.publish import create_broker
    from ohmycoins.sources.exchange_ws import ExchangeStream

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    if seconds is not None:
        loop.call_later(seconds, stopping.set)
    broker = create_broker(settings.redis_url)
    client = ExchangeStream(spec.exchange, settings.source(spec.exchange))
    stream = Stream(spec, with_capture(settings.streams, client), db, broker)
    job = asyncio.create_task(stream.run(stopping))
    try:
        with Live(console=console, auto_refresh=False, transient=False) as live:
            while not job.done():
                live.update(status_line(spec, stream.stats), refresh=True)
                await asyncio.wait({job}, timeout=0.5)
            live.update(status_line(spec, stream.stats), refresh=True)
        await job
    finally:
        await client.close()
        await broker.close()
    return stream.stats


@app.command("replay")
def replay_command(
    files: Annotated[list[Path], typer.Argument(help="Capture files, or directories of them.")],
    speed: Annotated[
        float | None, typer.Option(min=0.001, help="Pace at X times the captured speed.")
    ] = None,
    as_fast_as_possible: Annotated[
        bool, typer.Option("--as-fast-as-possible", help="No pacing (the default).")
    ] = False,
) -> None:
    """Store a raw stream capture again through the live stream path (same rows)."""
    from ohmycoins.collectors.replay import replay
    from ohmycoins.publish import create_broker

    if speed is not None and as_fast_as_possible:
        raise UsageError("--speed and --as-fast-as-possible: choose one")
    settings = _settings()
    db = _database(settings)

    async def run() -> Replay:
        broker = create_broker(settings.redis_url)
        try:
            return await replay(files, db, broker, speed)
        finally:
            await broker.close()

    try:
        done = asyncio.run(run())
    except OhMyCoinsError as exc:
        raise _error(exc) from None
    for line in done.errors:
        print_error(OhMyCoinsError(line))
    outcome = done.outcome
    console.print(
        f"replayed {len(done.feed.handed):,} events: {outcome.records_written:,} stored, "
        f"{outcome.records_quarantined:,} quarantined"
    )
    if done.errors or done.feed.unanswered:
        raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """The API only (REST, WebSocket stream, /metrics), over the shared database."""
    from ohmycoins.api import api_server, create_app

    settings = _settings()
    check_address(host, port)
    db = _database(settings)
    app_ = create_app(settings, db=db)
    console.print(f"API at http://{host}:{port}/api/v1")
    asyncio.run(api_server(app_, host, port).serve())


@apikey_app.command("create")
def apikey_create(
    scope: Annotated[str, typer.Option(help="read or admin.")] = "read",
    name: Annotated[str | None, typer.Option(help="Who or what the key is for.")] = None,
) -> None:
    """Create an API key; it is shown once and stored only as a hash."""
    db = _database(_settings())
    new = create_key(db, scope, name=name)
    console.print(f"{new.scope} key {new.key_id} (shown once, keep it safe):")
    print(new.key)


@collectors_app.command("list")
def collectors_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print the collectors as JSON.")] = False,
) -> None:
    """Every collector the configuration defines, scheduled yet or not: schedule, state
    (enabled, paused, disabled and why), last run and its result, next run, quota."""
    settings = _settings()
    views = _collector_views(settings, _database(settings))
    if as_json:
        print_json(collectors_json(views))
    else:
        console.print(collectors_table(views, time.time()))


def _collector_views(settings: Settings, db: Database) -> list[CollectorView]:
    """The configured collectors (as `omc run` would build them) with their state."""
    from ohmycoins.collectors.clients import Sources
    from ohmycoins.collectors.defaults import registry_for

    sources = Sources.open(settings, db, None)
    try:
        registry = registry_for(sources)
    finally:
        asyncio.run(sources.close())
    quotas = policy_from_settings(settings).quotas
    return collector_views(db, registry, quotas, now_ms())


@collectors_app.command("run")
def collectors_run(
    names: Annotated[list[str], typer.Argument(help="Collector names (omc collectors list).")],
    attempts: Annotated[
        int | None,
        typer.Option(min=1, help="Attempts per collector; default: the scheduler's retries."),
    ] = None,
) -> None:
    """Run collectors once, now, in this process, and print what each stored,
    quarantined or why it failed; exit code 1 when any failed or could not run."""
    settings = _settings()
    results = asyncio.run(_run_collectors(settings, _database(settings), names, attempts))
    for result in results:
        console.print(once_line(result), soft_wrap=True, highlight=False, markup=False)
    if any(result.failed for result in results):
        raise typer.Exit(1)


async def _run_collectors(
    settings: Settings, db: Database, names: list[str], attempts: int | None
) -> list[OnceResult]:
    """Build the registry `omc run` builds and run the named collectors of it."""
    from ohmycoins.collectors.clients import Sources
    from ohmycoins.collectors.defaults import registry_for
    from ohmycoins.publish import create_broker
    from ohmycoins.scheduling.once import run_named

    broker = create_broker(settings.redis_url)
    sources = Sources.open(settings, db, broker)
    try:
        registry = registry_for(sources)
        policy = policy_from_settings(settings)
        if attempts is not None:
            policy = dataclasses.replace(policy, max_attempts=attempts)
        return await run_named(db, registry, policy, names)
    finally:
        await sources.close()
        await broker.close()


def _change_tasks(action: Callable[[Database, list[str], int], None], names: list[str]) -> None:
    settings = _settings()
    db = _database(settings)
    known = [task.task_id for task in list_tasks(db)]
    for name in names:
        if name not in known:
            raise UnknownTaskError(name, known)
    action(db, names, now_ms())
    console.print(f"{action.__name__}: {', '.join(names)}")


@collectors_app.command("trigger")
def collectors_trigger(
    names: Annotated[list[str], typer.Argument(help="Collector names.")],
) -> None:
    """Run collectors as soon as a worker is free."""
    _change_tasks(trigger, names)


@collectors_app.command("pause")
def collectors_pause(names: Annotated[list[str], typer.Argument(help="Collector names.")]) -> None:
    """Stop scheduling collectors until resumed."""
    _change_tasks(pause, names)


@collectors_app.command("resume")
def collectors_resume(names: Annotated[list[str], typer.Argument(help="Collector names.")]) -> None:
    """Schedule paused collectors again."""
    _change_tasks(resume, names)


@app.command()
def sim(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 9000,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    seed: Annotated[int, typer.Option(help="Seed of the market model.")] = 1,
    latency_ms: Annotated[float, typer.Option(help="Delay added to every answer.")] = 0.0,
    stream_rate: Annotated[
        float | None,
        typer.Option(
            min=0.25,
            help="Websocket messages a second per stream: each symbol trades and its book "
            "changes this often (default: each symbol's own trade pace, 10 book changes).",
        ),
    ] = None,
) -> None:
    """Run the local exchange simulator (Binance spot REST and websocket wire formats)."""
    from ohmycoins.sim import SimulatorConfig, serve_forever

    _settings()
    check_address(host, port)
    config = SimulatorConfig(seed=seed, latency_ms=latency_ms, stream_rate=stream_rate)
    console.print(f"simulator on http://{host}:{port} and ws://{host}:{port}/ws (seed {seed})")
    asyncio.run(serve_forever(config, host, port))
