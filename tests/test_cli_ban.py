"""`omc backfill` against a simulator that bans the IP (418 with Retry-After): one line
saying until when and for how long, then a non-zero exit, or with `--wait-ban` a wait
and the backfill carried to the end."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ohmycoins.cli import app
from ohmycoins.sim import FaultKind, FaultPlan, FaultRule, SimulatorHandle
from tests.collectors.conftest import HOLE, MINUTE, sim_config
from tests.conftest import sqlite_url
from tests.support.threaded import simulator_thread

BAN = FaultRule(FaultKind.BANNED, count=1, path="/api/v3/klines", seconds=1)
"""The first klines request draws a one-second ban."""
SINCE, UNTIL = HOLE[0] - 600 * MINUTE, HOLE[1] + 600 * MINUTE


def _backfill(monkeypatch: pytest.MonkeyPatch, tmp_path, sim: SimulatorHandle, *more: str):
    monkeypatch.setenv("OMC_DATABASE_URL", sqlite_url(tmp_path))
    monkeypatch.setenv("OMC_BINANCE_URL", sim.base_url)
    args = ["backfill", "--exchange", "binance", "--symbol", "BTC/USDT"]
    return CliRunner().invoke(app, [*args, "--since", str(SINCE), "--until", str(UNTIL), *more])


def _sent_during_the_ban(sim: SimulatorHandle) -> list[str]:
    banned = next(r for r in sim.received if r.status == 418)
    return [r.path for r in sim.received if banned.at < r.at < banned.at + BAN.seconds]


def test_a_ban_stops_the_backfill_with_one_clear_line(monkeypatch, tmp_path) -> None:
    with simulator_thread(sim_config(faults=FaultPlan(rules=(BAN,)))) as sim:
        result = _backfill(monkeypatch, tmp_path, sim)
        banned, sent = sim.stats.banned, _sent_during_the_ban(sim)
    assert result.exit_code == 1, result.output
    [line] = [line for line in result.output.splitlines() if "418" in line]
    assert "banned this IP (HTTP 418) until" in line and " UTC, 1 s from now" in line
    assert "--wait-ban" in line
    assert (banned, sent) == (1, [])


def test_wait_ban_waits_it_out_and_finishes(monkeypatch, tmp_path) -> None:
    with simulator_thread(sim_config(faults=FaultPlan(rules=(BAN,)))) as sim:
        result = _backfill(monkeypatch, tmp_path, sim, "--wait-ban")
        banned, sent = sim.stats.banned, _sent_during_the_ban(sim)
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.output.splitlines() if "418" in line]
    assert "banned this IP (HTTP 418) until" in line and "waiting it out (--wait-ban)" in line
    assert "binance:BTC/USDT:1m" in result.output
    assert (banned, sent) == (1, [])
