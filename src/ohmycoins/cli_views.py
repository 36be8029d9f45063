"""What the CLI prints: tables that fold their cells to fit, and the same facts as JSON.

In a pipe or an 80-column terminal rich shrinks a wide table by cutting every cell to
the column's width, so names came out as `binan…`. Tables here fold long cells onto
more lines instead, and the first column (the names) is never broken; `--json` gives
the same rows whole, for scripts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ohmycoins.cli_edge import one_line
from ohmycoins.timeframes import DAY_MS

if TYPE_CHECKING:
    from ohmycoins.collectors.retention import RetentionReport
    from ohmycoins.scheduling.once import OnceResult
    from ohmycoins.scheduling.overview import CollectorView
    from ohmycoins.storage.queries import TableStats

__all__ = [
    "age",
    "collectors_json",
    "collectors_table",
    "folded_table",
    "once_line",
    "print_json",
    "retention_table",
    "status_json",
    "status_table",
    "utc",
]


def folded_table(*headers: str, title: str | None = None) -> Table:
    """A table whose cells fold to fit the terminal; the first column is not broken."""
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for index, header in enumerate(headers):
        table.add_column(header, overflow="fold", no_wrap=index == 0)
    return table


def keep_words(table: Table, *, widest: int = 12) -> Table:
    """Make each column at least as wide as its longest word (up to `widest`), so that a
    narrow terminal wraps short cells between words rather than through them."""
    for column in table.columns:
        words = [word for cell in column.cells for word in str(cell).split()]
        longest = max((len(word) for word in words), default=0)
        column.min_width = min(max(longest, len(str(column.header).split()[0])), widest)
    return table


def print_json(value: object) -> None:
    """JSON on stdout, one document, never wrapped or coloured."""
    print(json.dumps(value, indent=2))


def status_table(title: str, stats: Iterable[TableStats], now: float) -> Table:
    table = folded_table("table", "rows", "newest (UTC)", "age", title=title)
    for row in stats:
        newest = newest_age = "-"
        if row.newest_ts is not None:
            newest = utc(row.newest_ts)
            newest_age = age(now - row.newest_ts / 1000)
        table.add_row(row.table, f"{row.rows:,}", newest, newest_age)
    return table


def status_json(database: str, stats: Iterable[TableStats], views: list[CollectorView]) -> Any:
    tables = [{"table": row.table, "rows": row.rows, "newest_ts": row.newest_ts} for row in stats]
    return {"database": database, "tables": tables, "collectors": collectors_json(views)}


def collectors_table(views: list[CollectorView], now: float) -> RenderableType:
    """One row per collector (the quota column only when a source has a monthly quota),
    then each last error in full under the table: an error column would leave the
    others no room in 80 columns."""
    quotas = any(view.quota_limit for view in views)
    headers = ["collector", "every", "state", "last run", "next run"]
    table = folded_table(*headers, *(["quota used"] if quotas else []))
    for view in views:
        cells = [
            view.name,
            _every(view),
            _state(view),
            _last_run(view, now),
            f"in {age(max(0.0, view.next_run_ts / 1000 - now))}" if view.next_run_ts else "-",
        ]
        if quotas:
            cells.append(_quota(view))
        table.add_row(*cells)
    errors = [
        Text(f"{view.name}: {one_line(view.last_error)}") for view in views if view.last_error
    ]
    if not errors:
        return keep_words(table)
    return Group(keep_words(table), Text("last errors:", style="bold"), *errors)


def collectors_json(views: Iterable[CollectorView]) -> list[dict[str, object]]:
    return [view.as_dict() for view in views]


def _every(view: CollectorView) -> str:
    """The interval in its largest whole unit (`60s` is `1m`), or the cron expression."""
    if view.cron is not None:
        return f"cron {view.cron}"
    seconds = view.interval_seconds or 0
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _state(view: CollectorView) -> str:
    if view.circuit != "closed":
        return f"{view.state}, circuit {view.circuit}"
    return view.state


def _last_run(view: CollectorView, now: float) -> str:
    if view.last_run_ts is None:
        return "-"
    return f"{view.last_status or '?'} {age(now - view.last_run_ts / 1000)} ago"


def _quota(view: CollectorView) -> str:
    if view.quota_used is None:
        return "-"
    limit = f" / {view.quota_limit:,}" if view.quota_limit else ""
    return f"{view.quota_used:,}{limit}"


def once_line(result: OnceResult) -> str:
    """One line per collector run by `omc collectors run`: what it stored, quarantined,
    or why it failed."""
    run = result.run
    if run is None:
        return f"{result.collector}: {result.status}: {result.reason}"
    counts = f"{run.records_written:,} stored, {run.records_quarantined:,} quarantined"
    seconds = ((run.finished_ts or run.started_ts) - run.started_ts) / 1000
    line = f"{result.collector}: {run.status}, {counts} in {seconds:.1f}s"
    return f"{line}: {result.reason}" if result.reason else line


def retention_table(report: RetentionReport) -> Table:
    """Per setting: what goes (rows before the cutoff, whole partitions dropped) and the
    rollups written before it goes."""
    verb = "would go" if report.dry_run else "removed"
    table = folded_table("setting", "kept", "before", verb, "partitions", "rollups")
    for retained in report.retained:
        made = ", ".join(f"{n:,} {key}" for key, n in retained.rollups.items() if n)
        table.add_row(
            retained.key,
            f"{retained.kept_ms // DAY_MS}d",
            utc(retained.cutoff),
            f"{retained.rows:,}" + ("" if retained.unit == "rows" else f" {retained.unit}"),
            str(len(retained.partitions)) if retained.partitions else "-",
            made or "-",
        )
    return keep_words(table)


def age(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{max(seconds, 0):.0f}s"


def utc(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ms / 1000))
