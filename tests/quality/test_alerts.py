"""The alert rules and an alert's life, on facts written here (no database)."""

from __future__ import annotations

from decimal import Decimal as D

from ohmycoins.quality.alerts import (
    AlertState,
    Condition,
    Facts,
    TaskFacts,
    conditions,
    delivered,
    step,
)
from ohmycoins.settings import AlertSettings

MIN = 60_000
NOW = 1_796_000_000_000


def task(name: str = "c", **changes: object) -> TaskFacts:
    values: dict[str, object] = {
        "collector": name,
        "interval_ms": MIN,
        "last_ok_ts": NOW,
        "last_status": "ok",
        "last_error": None,
        "last_quality": D("1"),
    }
    return TaskFacts(**(values | changes))  # type: ignore[arg-type]


def rules_of(facts: Facts, **settings: object) -> list[tuple[str, str]]:
    rules = AlertSettings.model_validate({"disk_percent": 90} | settings)
    return [(c.rule, c.subject) for c in conditions(facts, rules, NOW)]


def test_each_rule_and_its_threshold() -> None:
    facts = Facts(
        tasks=[
            task("fresh", last_ok_ts=NOW - 3 * MIN),  # exactly 3x: not yet
            task("stale", last_ok_ts=NOW - 3 * MIN - 1),
            task("never", last_ok_ts=None),  # never succeeded: nothing to be old
            task("poor", last_quality=D("0.49")),
            task("backup", last_status="error", last_error="pg_dump: no space"),
        ],
        open_circuits=[("binance", NOW - 30 * MIN), ("kraken", NOW - 29 * MIN)],
        quarantined_last_hour=1001,
        disk_percent=90.5,
        backup_task="backup",
    )
    assert rules_of(facts) == [
        ("stale", "stale"),
        ("quality", "poor"),
        ("backup_failed", "backup"),
        ("circuit_open", "binance"),
        ("quarantine_spike", "all"),
        ("disk_full", "./data"),
    ]
    off = {"stale_factor": 0, "quality_below": 0, "circuit_open_minutes": 0}
    off |= {"quarantine_per_hour": 0, "disk_percent": 0, "backup_failed": False}
    assert rules_of(facts, **off) == []


def test_a_failed_run_of_another_collector_is_no_failed_backup() -> None:
    facts = Facts(tasks=[task("x", last_status="error")], backup_task="backup")
    assert rules_of(facts) == []


def _life(states: list[AlertState], held: bool, now: int) -> tuple[list[AlertState], list[str]]:
    """One evaluation whose notices are all delivered; the alerts after it."""
    condition = [Condition("stale", "c", "old")] if held else []
    changed, notices = step(states, condition, now, 60 * MIN)
    after = {s.key: s for s in [*states, *changed]}
    for notice in notices:
        after[notice.alert.key] = delivered(notice, now)
    return list(after.values()), [n.kind for n in notices]


def test_fires_once_repeats_after_the_cooldown_resolves_once() -> None:
    states: list[AlertState] = []
    kinds = []
    for minute, held in [(0, True), (1, True), (59, True), (60, True), (61, True),
                         (62, False), (63, False), (64, True)]:  # fmt: skip
        states, said = _life(states, held, NOW + minute * MIN)
        kinds.append(said)
    assert kinds == [["firing"], [], [], ["repeat"], [], ["resolved"], [], ["firing"]]
    [alert] = states
    assert (alert.state, alert.since_ts, alert.notified) == ("firing", NOW + 64 * MIN, "firing")


def test_an_undelivered_message_is_sent_again() -> None:
    changed, notices = step([], [Condition("stale", "c", "old")], NOW, 60 * MIN)
    assert [n.kind for n in notices] == ["firing"]
    # not delivered: the alert is stored as it was changed, nothing marked sent
    changed, notices = step(changed, [Condition("stale", "c", "old")], NOW + MIN, 60 * MIN)
    assert [n.kind for n in notices] == ["firing"]
    sent = delivered(notices[0], NOW + MIN)
    changed, notices = step([sent], [], NOW + 2 * MIN, 60 * MIN)
    assert [n.kind for n in notices] == ["resolved"]
    # the resolved message not delivered either: tried again, condition still clear
    changed, notices = step(changed, [], NOW + 3 * MIN, 60 * MIN)
    assert [n.kind for n in notices] == ["resolved"]
    assert step([delivered(notices[0], NOW + 3 * MIN)], [], NOW + 4 * MIN, 60 * MIN)[1] == []


def test_an_alert_never_sent_resolves_silently() -> None:
    changed, _ = step([], [Condition("stale", "c", "old")], NOW, 60 * MIN)
    changed, notices = step(changed, [], NOW + MIN, 60 * MIN)
    assert notices == [] and changed[0].state == "resolved"
