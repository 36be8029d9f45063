"""`omc collectors list`: every configured collector, scheduled yet or not, with what
the schedule knows of it, and stored tasks no configured collector runs."""

from __future__ import annotations

import dataclasses

from ohmycoins.scheduling.overview import NOT_CONFIGURED, collector_views
from ohmycoins.scheduling.registry import Registry
from ohmycoins.scheduling.tasks import pause, sync_tasks
from ohmycoins.storage.database import Database
from tests.scheduling.support import T0, Calls, collector, scripted


def test_every_configured_collector_shows_before_any_run(sqlite_db: Database) -> None:
    run = scripted(Calls())
    keyless = dataclasses.replace(
        collector("keyless", run), enabled=False, disabled_reason="no API key"
    )
    registry = Registry(
        [
            collector("often", run, every=60),
            collector("hourly", run, cron="0 * * * *"),
            keyless,
            dataclasses.replace(collector("switched_off", run), enabled=False),
        ]
    )
    views = collector_views(sqlite_db, registry, {"fake": 1000}, T0)
    assert [(v.name, v.state, v.scheduled) for v in views] == [
        ("often", "enabled", False),
        ("hourly", "enabled", False),
        ("keyless", "disabled: no API key", False),
        ("switched_off", "disabled: [collectors.switched_off] enabled = false", False),
    ]
    assert (views[0].interval_seconds, views[0].cron) == (60, None)
    assert (views[1].interval_seconds, views[1].cron) == (None, "0 * * * *")
    assert (views[0].quota_used, views[0].quota_limit, views[0].next_run_ts) == (0, 1000, None)


def test_stored_state_shows_and_unconfigured_tasks_stay_visible(sqlite_db: Database) -> None:
    run = scripted(Calls())
    kept, gone = collector("kept", run), collector("gone", run)
    sync_tasks(sqlite_db, Registry([kept, gone]), T0)
    pause(sqlite_db, ["kept"], T0)
    views = collector_views(sqlite_db, Registry([kept]), {}, T0)
    assert [(v.name, v.state, v.scheduled, v.next_run_ts) for v in views] == [
        ("kept", "paused", True, T0),
        ("gone", NOT_CONFIGURED, True, None),
    ]
    assert views[0].as_dict()["name"] == "kept" and views[0].quota_limit is None
