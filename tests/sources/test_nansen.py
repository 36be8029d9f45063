"""Nansen exchange flows (`POST /api/v1/tgm/flows`): sent through the real path
(settings URL, `apiKey` header, HttpSource) to a local replay server, then parsed.

No real Nansen answer has been recorded anywhere we can read, so the fixture is written
from Nansen's published API documentation (the v1 Token God Mode flows endpoint: request
body, `data` rows, `pagination`), with the USD amount columns its sort fields name.
"""

from __future__ import annotations

import json
import socket
from decimal import Decimal as D
from pathlib import Path

import pytest
from aiohttp import web

from ohmycoins.errors import PayloadError, SourceError
from ohmycoins.records import OnchainMetric
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.nansen import FLOWS, TOKENS, Nansen, parse_exchange_flows
from tests.support.replay import Reply, replay_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "nansen"
APR_30 = 1_714_435_200_000
DAY = 86_400_000
LINK = TOKENS[0]


def nansen(url: str) -> Nansen:
    return Nansen(SourceSettings(url=url, api_key="n-key", rate_limit=60_000), attempts=1)


async def test_flows_are_summed_per_day_and_rows_without_amounts_quarantined() -> None:
    routes = {FLOWS: Reply.file(FIXTURES / "flows_exchange_link.json")}
    async with replay_server(routes) as url, nansen(url) as api:
        raw = await api.fetch_exchange_flows(LINK, "2024-04-30", "2024-05-01")
    seen = url.requests[0]
    assert seen.method == "POST" and seen.headers["apiKey"] == "n-key"
    parsed = parse_exchange_flows(raw, "chainlink")
    assert parsed.records == [
        OnchainMetric(
            "chainlink",
            APR_30,
            ("nansen",),
            exchange_inflow=D("542000.75"),
            exchange_outflow=D(200400),
        ),
        OnchainMetric(
            "chainlink",
            APR_30 + DAY,
            ("nansen",),
            exchange_inflow=D(51000),
            exchange_outflow=D("333000.75"),
        ),
    ]
    [violation] = parsed.violations
    assert violation.record["date"] == "2024-05-01T01:00:00"


async def test_the_request_body_names_token_dates_and_the_exchange_label() -> None:
    """The replay server does not keep bodies; this small server does."""
    bodies: list[object] = []

    async def flows(request: web.Request) -> web.Response:
        bodies.append(await request.json())
        return web.json_response({"data": [], "pagination": {"page": 1, "is_last_page": True}})

    app = web.Application()
    app.router.add_post(FLOWS, flows)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    port = sock.getsockname()[1]
    try:
        async with nansen(f"http://127.0.0.1:{port}") as api:
            raw = await api.fetch_exchange_flows(LINK, "2024-04-30", "2024-05-01")
    finally:
        await runner.cleanup()
    assert parse_exchange_flows(raw, "chainlink").records == []
    assert bodies == [
        {
            "chain": "ethereum",
            "token_address": LINK.address,
            "date": {"from": "2024-04-30", "to": "2024-05-01"},
            "label": "exchange",
            "pagination": {"page": 1, "per_page": 1000},
            "order_by": [{"field": "date", "direction": "ASC"}],
        }
    ]


def test_one_sided_rows_keep_the_other_side_empty() -> None:
    raw = {"data": [{"date": "2024-05-01", "total_outflows_usd": 7}]}
    [record] = parse_exchange_flows(raw, "uniswap").records
    assert (record.exchange_inflow, record.exchange_outflow) == (None, D(7))


@pytest.mark.parametrize(
    "body", [b"<html>", b"", b"[]", json.dumps({"detail": "Invalid token"}).encode()]
)
async def test_unusable_answers_are_payload_errors(body: bytes) -> None:
    async with replay_server({FLOWS: Reply(body)}) as url, nansen(url) as api:
        with pytest.raises(PayloadError):
            parse_exchange_flows(await api.fetch_exchange_flows(LINK, "a", "b"), "chainlink")


async def test_unauthorised_is_a_source_error() -> None:
    routes = {FLOWS: Reply({"message": "Unauthorized"}, status=401)}
    async with replay_server(routes) as url, nansen(url) as api:
        with pytest.raises(SourceError, match="401"):
            await api.fetch_exchange_flows(LINK, "2024-04-30", "2024-05-01")


def test_a_key_is_required() -> None:
    with pytest.raises(ValueError, match="API key"):
        Nansen(SourceSettings())
