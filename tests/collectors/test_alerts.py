"""Alerts end to end: a stale collector's alert reaches a local webhook receiver and a
local SMTP server through apprise, once when it fires, again only after the cool-down,
and once more when it resolves; an undelivered message is sent at the next evaluation."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from ohmycoins.api import create_app
from ohmycoins.collectors.alerting import evaluate
from ohmycoins.collectors.ingest import store
from ohmycoins.scheduling.registry import Collector, Registry, RunContext, RunOutcome
from ohmycoins.scheduling.schedule import Schedule
from ohmycoins.scheduling.tasks import sync_tasks
from ohmycoins.settings import AlertSettings, Settings
from ohmycoins.storage.alerts import read_alerts
from ohmycoins.storage.database import Database
from tests import factories as f
from tests.support.replay import ReplayUrl, Reply, replay_server
from tests.support.smtp import Mailbox, smtp_server

MINUTE = 60_000
T0 = 1_796_000_000_000
WATCHED = "binance_tickers"


async def _never(context: RunContext) -> RunOutcome:
    raise AssertionError("the alert rules read the schedule; they never run a collector")


def _schedule(db: Database) -> None:
    """One collector every minute whose last success finished at T0."""
    collector = Collector(WATCHED, "exchange", "binance", Schedule.every(60), _never)
    sync_tasks(db, Registry([collector]), T0)
    run = f.collector_run(run_id="r1", collector=WATCHED, started_ts=T0 - 500, finished_ts=T0)
    store(db, [run], source="test")


@dataclass
class Receivers:
    webhook: ReplayUrl
    mailbox: Mailbox

    def rules(self, **changes: object) -> AlertSettings:
        urls = [
            f"json://{self.webhook.removeprefix('http://')}/hook",
            f"mailto://127.0.0.1:{self.mailbox.port}?from=omc@example.com&to=ops@example.com",
        ]
        values: dict[str, object] = {
            "urls": [SecretStr(url) for url in urls],
            "cooldown_minutes": 60,
            "stale_factor": 3,
            "disk_percent": 0,
        }
        return AlertSettings.model_validate(values | changes)

    def titles(self) -> list[str]:
        return [json.loads(seen.body)["title"] for seen in self.webhook.requests]


@pytest.fixture
async def receivers() -> AsyncIterator[Receivers]:
    hook = [Reply(status=500), Reply({"ok": True})]  # the first delivery fails
    async with replay_server({"/hook": hook}) as webhook, smtp_server() as mailbox:
        yield Receivers(webhook, mailbox)


async def test_stale_collector_fires_repeats_after_cooldown_and_resolves(
    sqlite_db: Database, receivers: Receivers
) -> None:
    _schedule(sqlite_db)
    receivers.webhook.requests.clear()
    rules = receivers.rules()
    fired = "[ohmycoins] FIRING: stale binance_tickers"

    quiet = await evaluate(sqlite_db, rules, [WATCHED], T0 + 2 * MINUTE)  # 2 min: fresh
    assert quiet.sent == [] and receivers.webhook.requests == []

    # 4 min > 3 x 1 min: fires; the webhook answers 500 the first time, so the firing
    # is not marked sent and goes out again at the next evaluation, cool-down or not
    first = await evaluate(sqlite_db, rules, [WATCHED], T0 + 4 * MINUTE)
    assert first.sent == [] and first.problem == "1 of 1 alert message(s) not delivered"
    assert receivers.mailbox.subjects == [fired]  # the e-mail did go
    second = await evaluate(sqlite_db, rules, [WATCHED], T0 + 5 * MINUTE)
    assert [n.kind for n in second.sent] == ["firing"] and second.problem is None
    assert receivers.titles() == [fired, fired]
    assert receivers.mailbox.subjects == [fired, fired]

    for minutes in (6, 30, 64):  # inside the hour's cool-down from the delivery at 5
        assert (await evaluate(sqlite_db, rules, [WATCHED], T0 + minutes * MINUTE)).sent == []
    repeat = await evaluate(sqlite_db, rules, [WATCHED], T0 + 65 * MINUTE)
    assert [n.kind for n in repeat.sent] == ["repeat"]
    still = "[ohmycoins] STILL FIRING: stale binance_tickers"
    assert receivers.titles()[-1] == still and receivers.mailbox.subjects[-1] == still
    [alert] = read_alerts(sqlite_db)
    assert (alert.state, alert.since_ts) == ("firing", T0 + 4 * MINUTE)
    assert "data is 65 min old, over 3x its schedule of 1 min" in alert.message

    fresh = f.collector_run(
        run_id="r2", collector=WATCHED, started_ts=T0 + 66 * MINUTE, finished_ts=T0 + 66 * MINUTE
    )
    store(sqlite_db, [fresh], source="test")
    resolved = await evaluate(sqlite_db, rules, [WATCHED], T0 + 67 * MINUTE)
    assert [n.kind for n in resolved.sent] == ["resolved"]
    done = "[ohmycoins] RESOLVED: stale binance_tickers"
    assert receivers.titles()[-1] == done and receivers.mailbox.subjects[-1] == done
    assert json.loads(receivers.webhook.requests[-1].body)["type"] == "success"
    after = await evaluate(sqlite_db, rules, [WATCHED], T0 + 68 * MINUTE)
    assert after.sent == []
    assert receivers.titles() == [fired, fired, still, done]
    assert receivers.mailbox.subjects == [fired, fired, still, done]

    app = create_app(Settings(database_url=sqlite_db.url), db=sqlite_db)
    with TestClient(app) as client:
        body = client.get("/api/v1/alerts").json()
    assert body["firing"] == 0
    [shown] = body["alerts"]
    assert shown["rule"] == "stale" and shown["subject"] == WATCHED
    assert shown["state"] == "resolved" and shown["resolved_ts"] == T0 + 67 * MINUTE


async def test_collectors_not_watched_never_alert(
    sqlite_db: Database, receivers: Receivers
) -> None:
    """A stored task of a collector that is off now (not in the registry's enabled
    names) is not judged."""
    _schedule(sqlite_db)
    report = await evaluate(sqlite_db, receivers.rules(), [], T0 + 600 * MINUTE)
    assert report.changed == [] and receivers.mailbox.messages == []


async def test_without_urls_alerts_are_kept_and_shown(sqlite_db: Database) -> None:
    _schedule(sqlite_db)
    rules = AlertSettings(disk_percent=0)
    report = await evaluate(sqlite_db, rules, [WATCHED], T0 + 600 * MINUTE)
    assert [n.kind for n in report.sent] == ["firing"]
    [alert] = read_alerts(sqlite_db, "firing")
    assert alert.rule == "stale" and alert.notified == "firing"
