"""The `omc` command line. The only place (with the API app) that configures logging."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ohmycoins import __version__
from ohmycoins.errors import OhMyCoinsError
from ohmycoins.settings import Settings, load_settings
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import table_stats

app = typer.Typer(no_args_is_help=True, help="ohmycoins: collect and serve crypto data.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(db_app, name="db")
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
    try:
        settings = load_settings()
    except OhMyCoinsError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return settings


def _database(settings: Settings) -> Database:
    return Database(settings.database_url)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to the newest schema (a no-op when it is current)."""
    db = _database(_settings())
    applied = db.upgrade()
    console.print(f"applied {', '.join(applied)}" if applied else "schema is current")


@app.command()
def status() -> None:
    """Tables with their row counts and newest rows."""
    db = _database(_settings())
    db.upgrade()
    _print_status(db)


def _print_status(db: Database) -> None:
    now = time.time()
    table = Table("table", "rows", "newest (UTC)", "age", title=f"{db!r}")
    for stats in table_stats(db):
        newest = age = "-"
        if stats.newest_ts is not None:
            newest = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stats.newest_ts / 1000))
            age = _age(now - stats.newest_ts / 1000)
        table.add_row(stats.table, f"{stats.rows:,}", newest, age)
    console.print(table)


def _age(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{max(seconds, 0):.0f}s"


@app.command()
def run() -> None:
    """The main job: migrate, then report what is stored."""
    db = _database(_settings())
    db.upgrade()
    _print_status(db)


@app.command()
def sim(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 9000,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    seed: Annotated[int, typer.Option(help="Seed of the market model.")] = 1,
    latency_ms: Annotated[float, typer.Option(help="Delay added to every answer.")] = 0.0,
) -> None:
    """Run the local exchange simulator (Binance spot REST wire format)."""
    from ohmycoins.sim import SimulatorConfig, serve_forever

    _settings()
    config = SimulatorConfig(seed=seed, latency_ms=latency_ms)
    console.print(f"simulator on http://{host}:{port} (seed {seed})")
    asyncio.run(serve_forever(config, host, port))
