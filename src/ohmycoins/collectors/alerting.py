"""Alerts: a maintenance collector that judges the others, scheduled like them.

One evaluation is `collect`'s story with the scheduler's own tables for a source:

    read facts (storage.alerts) ─► conditions (quality.alerts, pure) ─► step each alert
    ─► deliver its notices (apprise, `notify.send`) ─► store the alerts

A notice that was not delivered leaves its alert as "not sent", so the next
evaluation sends it again; the run is then partial, naming why.

Live streams are judged by their lease (`collection_tasks`) and by the latest report
each publishes to the broker (`publish.stream_stats_key`): quiet, not running, or
resyncing its books too often. A stream held by a worker of another process is judged
by its report only where the broker is shared (Redis), as health and metrics are.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import shutil
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from ohmycoins.collectors.backups import BACKUP_COLLECTOR
from ohmycoins.collectors.clients import Sources
from ohmycoins.collectors.collect import run_outcome
from ohmycoins.errors import DeliveryError
from ohmycoins.notify import send
from ohmycoins.publish import Broker, latest_stream_reports
from ohmycoins.quality.alerts import (
    AlertState,
    Facts,
    Notice,
    StreamFacts,
    conditions,
    delivered,
    step,
)
from ohmycoins.scheduling.registry import Collector, RunContext, RunOutcome
from ohmycoins.scheduling.schedule import Schedule, cron_gap_ms
from ohmycoins.settings import AlertSettings
from ohmycoins.storage.alerts import read_alerts, read_facts, write_alerts
from ohmycoins.storage.database import Database
from ohmycoins.timeframes import now_ms

log = logging.getLogger(__name__)

ALERTS_COLLECTOR = "alerts"


def default_collectors(
    sources: Sources, watched: Callable[[], Collection[Collector]]
) -> list[Collector]:
    """The alert evaluation of `[alerts]`, over the collectors `watched` returns (the
    enabled ones of the configured registry, known only once it is built); none in the
    offline demo, whose alerts would go to the real deliveries."""
    if sources.offline:
        return []
    settings = sources.settings.alerts
    return [
        Collector(
            name=ALERTS_COLLECTOR,
            ledger="maintenance",
            source=ALERTS_COLLECTOR,
            schedule=Schedule.every(settings.interval_seconds),
            run=functools.partial(run_alerts, settings, watched, sources.broker),
            priority=9,
            calls_per_run=0,
        )
    ]


async def run_alerts(
    settings: AlertSettings,
    watched: Callable[[], Collection[Collector]],
    broker: Broker | None,
    context: RunContext,
) -> RunOutcome:
    """One evaluation at the time it runs."""
    jobs = watched()
    runs = [job.name for job in jobs if job.kind != "stream"]
    streams = [job.name for job in jobs if job.kind == "stream"]
    report = await evaluate(context.db, settings, runs, now_ms(), streams=streams, broker=broker)
    return run_outcome(len(report.sent), problem=report.problem, changed=True)


@dataclasses.dataclass(frozen=True, slots=True)
class Evaluation:
    """What one evaluation did: the alerts it changed and the notices it delivered."""

    changed: list[AlertState]
    sent: list[Notice]
    problem: str | None


async def evaluate(
    db: Database,
    settings: AlertSettings,
    collectors: Collection[str],
    now: int,
    *,
    streams: Collection[str] = (),
    broker: Broker | None = None,
) -> Evaluation:
    """Judge the rules at `now` over `collectors` and the live `streams` (whose reports
    `broker` holds), deliver what is due, store the alerts."""
    facts = await asyncio.to_thread(
        read_facts, db, collectors, now, _period, BACKUP_COLLECTOR, streams
    )
    facts = dataclasses.replace(
        facts,
        disk_percent=disk_percent(settings.disk_path),
        streams=await _with_reports(facts, broker),
    )
    stored = await asyncio.to_thread(read_alerts, db)
    changed, notices = step(stored, conditions(facts, settings, now), now, _cooldown(settings))
    urls = [url.get_secret_value() for url in settings.urls]
    after = {state.key: state for state in changed}
    sent: list[Notice] = []
    failures: list[str] = []
    for notice in notices:
        try:
            await send(urls, notice.title, notice.alert.message, notice.kind)
        except DeliveryError as exc:
            log.warning("%s", exc)
            failures.append(str(exc))
            continue
        after[notice.alert.key] = delivered(notice, now)
        sent.append(notice)
    await asyncio.to_thread(write_alerts, db, list(after.values()))
    problem = (
        f"{len(failures)} of {len(notices)} alert message(s) not delivered" if failures else None
    )
    return Evaluation(list(after.values()), sent, problem)


async def _with_reports(facts: Facts, broker: Broker | None) -> list[StreamFacts]:
    """Each stream's facts with its latest report, where the broker has one."""
    names = [stream.stream for stream in facts.streams]
    reports = await latest_stream_reports(broker, names) if broker is not None else {}
    return [dataclasses.replace(s, report=reports.get(s.stream)) for s in facts.streams]


def disk_percent(path: str) -> float | None:
    """How full the disk holding `path` (or its nearest existing folder) is, in percent."""
    place = Path(path).resolve()
    while not place.exists() and place != place.parent:
        place = place.parent
    try:
        usage = shutil.disk_usage(place)
    except OSError:
        return None
    return 100.0 * usage.used / usage.total if usage.total else None


def _period(interval_seconds: Any, cron: str | None) -> int | None:
    """A task's period in ms: its interval, or its cron's gap between two runs."""
    if interval_seconds is not None:
        return int(float(interval_seconds) * 1000)
    return cron_gap_ms(cron, now_ms()) if cron else None


def _cooldown(settings: AlertSettings) -> int:
    return int(settings.cooldown_minutes * 60_000)
