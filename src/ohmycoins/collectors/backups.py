"""Scheduled backups: a maintenance collector, scheduled and recorded like the others.

One run is `collect`'s story with a backup for its fetch and store: take the backup
(`storage.backup`: the backend's own online tool, a manifest beside it), then keep
the newest `[backup] keep`. A failed backup raises, so the runner records the run as
failed with its reason, and the `backup_failed` alert rule sees it there.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from pathlib import Path

from ohmycoins.collectors.clients import Sources
from ohmycoins.collectors.collect import run_outcome
from ohmycoins.scheduling.registry import Collector, RunContext, RunOutcome
from ohmycoins.scheduling.schedule import Schedule
from ohmycoins.settings import BackupSettings
from ohmycoins.storage.backup import backup, prune
from ohmycoins.timeframes import now_ms

log = logging.getLogger(__name__)

BACKUP_COLLECTOR = "backup"


def default_collectors(sources: Sources) -> list[Collector]:
    """The scheduled backup of `[backup]` (`enabled = false` turns it off); none in the
    offline demo, whose database is simulated data (and whose backups would share the
    real ones' folder and count)."""
    if sources.offline:
        return []
    settings = sources.settings.backup
    return [
        Collector(
            name=BACKUP_COLLECTOR,
            ledger="maintenance",
            source=BACKUP_COLLECTOR,
            schedule=Schedule.at(settings.schedule),
            run=functools.partial(run_backup, settings),
            priority=1,
            enabled=settings.enabled,
            calls_per_run=0,
        )
    ]


async def run_backup(settings: BackupSettings, context: RunContext) -> RunOutcome:
    """Back the database up into `[backup] dir`, then delete all but the newest `keep`.
    Its records are the rows the backup holds."""
    directory = Path(settings.dir)
    path, manifest = await asyncio.to_thread(backup, context.db, directory, now_ms())
    removed = await asyncio.to_thread(prune, directory, settings.keep)
    if removed:
        log.info("backups removed (keeping %d): %s", settings.keep, [p.name for p in removed])
    log.info("backup %s: %d rows", path, manifest.rows)
    return run_outcome(manifest.rows, changed=True)
