"""Glassnode metrics: fetched through the real path (settings URL, key header,
HttpSource) from a local replay server, then parsed. Fixtures are hand-written in the
shape of the real recordings (`[{"t": seconds, "v": number}]`)."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from ohmycoins.errors import PayloadError, SourceError
from ohmycoins.records import OnchainMetric
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.glassnode import (
    METRICS,
    Glassnode,
    Metric,
    parse_metric_bulk,
    parse_metric_points,
)
from tests.support.replay import Reply, replay_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "glassnode"
ACTIVE = next(m for m in METRICS if m.field == "active_addresses")
MVRV = next(m for m in METRICS if m.field == "mvrv")
APR_30 = 1_714_435_200_000


def glassnode(url: str) -> Glassnode:
    return Glassnode(SourceSettings(url=url, api_key="gn-key", rate_limit=60_000), attempts=1)


async def test_points_become_hourly_partial_rows_with_the_key_in_a_header() -> None:
    routes = {"/v1/metrics/addresses/active_count": Reply.file(FIXTURES / "active_count_btc.json")}
    async with replay_server(routes) as url, glassnode(url) as api:
        raw = await api.fetch_metric(ACTIVE, "BTC", since_s=1_714_400_000)
    seen = url.requests[0]
    assert seen.query == {"a": "BTC", "i": "24h", "s": "1714400000"}
    assert seen.headers["X-Api-Key"] == "gn-key"
    parsed = parse_metric_points(raw, "bitcoin", "active_addresses")
    assert parsed.violations == []
    assert parsed.records == [  # the null point is no data, not a row
        OnchainMetric("bitcoin", APR_30, ("glassnode",), active_addresses=801234),
        OnchainMetric("bitcoin", APR_30 + 86_400_000, ("glassnode",), active_addresses=776543),
    ]


async def test_amounts_asked_in_usd_and_kept_exact() -> None:
    volume = next(m for m in METRICS if m.field == "tx_volume_usd")
    body = b'[{"t": 1714435200, "v": 12345678901.123456789}]'
    routes = {"/v1/metrics/transactions/transfers_volume_sum": body}
    async with replay_server(routes) as url, glassnode(url) as api:
        raw = await api.fetch_metric(volume, "ETH")
    assert url.requests[0].query == {"a": "ETH", "i": "24h", "c": "USD"}
    [record] = parse_metric_points(raw, "ethereum", "tx_volume_usd").records
    assert record.tx_volume_usd == D("12345678901.123456789")


async def test_a_malformed_point_is_a_violation_beside_the_good_ones() -> None:
    routes = {"/v1/metrics/market/mvrv": Reply.file(FIXTURES / "mvrv_btc.json")}
    async with replay_server(routes) as url, glassnode(url) as api:
        parsed = parse_metric_points(await api.fetch_metric(MVRV, "BTC"), "bitcoin", "mvrv")
    assert [r.mvrv for r in parsed.records] == [D("2.1045000000000003"), D("2.0511")]
    [violation] = parsed.violations
    assert (violation.field, violation.value) == ("v", "n/a")


def test_odd_points_and_times() -> None:
    raw = [{"t": 1714435200}, "x", {"t": 1714437000, "v": 5}, {"t": 1714435200, "v": D("1.5")}]
    parsed = parse_metric_points(raw, "bitcoin", "active_addresses")
    assert [r.ts for r in parsed.records] == [APR_30]  # 00:30 floors to the hour
    assert [v.field for v in parsed.violations] == ["v", "t", "v"]  # missing, not a point, 1.5


@pytest.mark.parametrize("body", [b"<html>", b"", b'{"error": "bad"}'])
async def test_unusable_answers_are_payload_errors(body: bytes) -> None:
    async with (
        replay_server({"/v1/metrics/market/mvrv": Reply(body)}) as url,
        glassnode(url) as api,
    ):
        with pytest.raises(PayloadError):
            parse_metric_points(await api.fetch_metric(MVRV, "BTC"), "bitcoin", "mvrv")


async def test_forbidden_metric_is_a_source_error() -> None:
    tier = Metric("nvt", "indicators/nvt", {})
    routes = {"/v1/metrics/indicators/nvt": Reply(b"forbidden", status=403)}
    async with replay_server(routes) as url, glassnode(url) as api:
        with pytest.raises(SourceError, match="403"):
            await api.fetch_metric(tier, "BTC")


def test_bulk_keeps_known_assets_only() -> None:
    raw = {
        "data": [
            {"t": 1714435200, "bulk": [{"a": "BTC", "v": D("1.5")}, {"a": "SOL", "v": 9}]},
            {"t": 1714521600, "bulk": [{"a": "ETH", "v": None}, {"a": "BTC", "v": "x"}]},
            {"bulk": []},
        ]
    }
    parsed = parse_metric_bulk(raw, "mvrv")
    assert parsed.records == [OnchainMetric("bitcoin", APR_30, ("glassnode",), mvrv=D("1.5"))]
    assert [v.field for v in parsed.violations] == ["v", "t"]


def test_a_key_is_required() -> None:
    with pytest.raises(ValueError, match="API key"):
        Glassnode(SourceSettings())
