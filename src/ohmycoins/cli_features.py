"""`omc features build|export`: rebuild a series' features, write them as a dataset.

The feature stack (pandas, TA-Lib, the collectors) is imported inside the commands, so
`omc --help` and the other commands start without it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress

from ohmycoins.cli_edge import time_range
from ohmycoins.errors import ConfigError
from ohmycoins.settings import load_settings
from ohmycoins.storage.database import Database
from ohmycoins.timeframes import now_ms

features_app = typer.Typer(no_args_is_help=True, help="The feature store.")
console = Console()

FORMATS = ("parquet", "csv")


def _database() -> Database:
    db = Database.of(load_settings())
    db.upgrade()
    return db


def _set(name: str) -> Any:
    from ohmycoins.enrich.default_features import FEATURE_SETS

    if name not in FEATURE_SETS:
        raise ConfigError("--set", name, f"not one of {sorted(FEATURE_SETS)}")
    return FEATURE_SETS[name]


@features_app.command("build")
def build(
    exchange: Annotated[str, typer.Option(help="ccxt exchange id, e.g. binance.")],
    symbol: Annotated[str, typer.Option(help="Unified symbol: BTC/USDT.")],
    timeframe: Annotated[str, typer.Option(help="1m 5m 15m 30m 1h 4h 1d.")],
    since: Annotated[str | None, typer.Option(help="From, ISO-8601 UTC or epoch ms.")] = None,
    set_name: Annotated[str, typer.Option("--set", help="Feature set name.")] = "default",
) -> None:
    """Recompute a series' features in full (or from --since), replacing the stored rows."""
    from ohmycoins.collectors.features import rebuild
    from ohmycoins.storage.feature_stale import Series

    feature_set = _set(set_name)
    start, _ = time_range(since, None, now_ms())
    series = Series(exchange, symbol, timeframe)
    db = _database()
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(f"features of {series}", total=None)
        written = rebuild(
            db, series, feature_set, since=start,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )  # fmt: skip
    console.print(f"{written:,} feature rows of {series} ({feature_set.version})")


@features_app.command("export")
def export(
    exchange: Annotated[str, typer.Option(help="ccxt exchange id.")],
    symbol: Annotated[list[str], typer.Option(help="Unified symbol, repeatable.")],
    timeframe: Annotated[str, typer.Option(help="1m 5m 15m 30m 1h 4h 1d.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="File, or folder when partitioned.")
    ],
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
    since: Annotated[str | None, typer.Option(help="From, ISO-8601 UTC or epoch ms.")] = None,
    until: Annotated[str | None, typer.Option(help="Until (exclusive).")] = None,
    set_name: Annotated[str, typer.Option("--set", help="Feature set name.")] = "default",
    version: Annotated[str | None, typer.Option(help="A stored set version.")] = None,
    columns: Annotated[str | None, typer.Option(help="Comma-separated feature names.")] = None,
    partition: Annotated[
        bool, typer.Option("--partition", help="A folder partitioned by symbol and month.")
    ] = False,
) -> None:
    """Write stored features (one row per candle, keyed by `ts`) as Parquet or CSV."""
    from ohmycoins.storage.feature_stale import Series
    from ohmycoins.storage.features import arrow_table, read_features

    if fmt not in FORMATS:
        raise ConfigError("--format", fmt, f"not one of {FORMATS}")
    chosen = version or _set(set_name).version
    start, end = time_range(since, until, now_ms())
    db = _database()
    wanted = columns.split(",") if columns else None
    pages = [
        (Series(exchange, s, timeframe), read_features(
            db, Series(exchange, s, timeframe), chosen, start=start,
            end=None if end is None else end - 1, columns=wanted))
        for s in symbol
    ]  # fmt: skip
    table = arrow_table(pages)
    write_dataset(table, output, fmt, partition)
    console.print(f"{table.num_rows:,} feature rows ({chosen}) written to {output}")


def write_dataset(table: Any, output: Path, fmt: str, partition: bool) -> None:
    """One file; or a folder `symbol=BTC-USDT/month=2026-01/…` when `partition`."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    if not partition:
        if fmt == "parquet":
            pq.write_table(table, output)
        else:
            pcsv.write_csv(table, output)
        return
    month = pc.strftime(table["time"], format="%Y-%m")
    keyed = table.append_column("month", month).set_column(
        table.schema.get_field_index("symbol"), "symbol",
        pc.replace_substring(table["symbol"], "/", "-"),
    )  # fmt: skip
    partitioning = ds.partitioning(
        pa.schema([("symbol", pa.string()), ("month", pa.string())]), flavor="hive"
    )
    ds.write_dataset(keyed, output, format=fmt, partitioning=partitioning,
                     existing_data_behavior="overwrite_or_ignore")  # fmt: skip
