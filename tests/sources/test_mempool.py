"""mempool.space: the network endpoints fetched through their real path (settings URL,
HttpSource, httpx) from a local replay server, then parsed into one Bitcoin row.

The fixtures under tests/fixtures/mempool follow mempool.space's published REST API
documentation and the shapes of the real recordings of tests/conformance (recommended
fees, difficulty adjustment); the hash rate is an integer beyond 2^53, as real ones are.
"""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from ohmycoins.errors import PayloadError
from ohmycoins.records import OnchainMetric
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.mempool import (
    DIFFICULTY_ADJUSTMENT,
    ENDPOINTS,
    FEES,
    HASHRATE,
    MEMPOOL,
    TIP_HEIGHT,
    Mempool,
    parse_network,
)
from tests.support.replay import Reply, replay_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mempool"
NOW = 1_732_170_123_456
HOUR = 1_732_168_800_000


def routes(**changes: Reply) -> dict[str, Reply]:
    """The five endpoints under the base URL's `/api`, answered from the fixtures unless
    `changes` says otherwise."""
    answers = {
        FEES: Reply.file(FIXTURES / "fees_recommended.json"),
        MEMPOOL: Reply.file(FIXTURES / "mempool.json"),
        TIP_HEIGHT: Reply(b"873210", content_type="text/plain"),
        HASHRATE: Reply.file(FIXTURES / "hashrate_3d.json"),
        DIFFICULTY_ADJUSTMENT: Reply.file(FIXTURES / "difficulty_adjustment.json"),
    }
    by_name = {"fees": FEES, "mempool": MEMPOOL, "tip": TIP_HEIGHT, "hashrate": HASHRATE}
    answers.update({by_name[name]: reply for name, reply in changes.items()})
    return {f"/api{path}": reply for path, reply in answers.items()}


async def reading(**changes: Reply) -> dict[str, Any]:
    async with (
        replay_server(routes(**changes)) as url,
        Mempool(SourceSettings(url=f"{url}/api", rate_limit=60000), attempts=1) as api,
    ):
        raw = await api.fetch_network()
    assert [request.path for request in url.requests] == [f"/api{e}" for e in ENDPOINTS]
    return raw


async def test_one_reading_is_one_bitcoin_row() -> None:
    parsed = parse_network(await reading(), NOW)
    assert parsed.violations == []
    assert parsed.records == [
        OnchainMetric(
            asset="bitcoin",
            ts=HOUR,
            sources=("mempool",),
            block_height=873210,
            block_time_s=D("585.812"),
            hash_rate=D(791234567890123456789),
            difficulty=D("102289407543323.8"),
            mempool_size=56789,
            fee_fast=D(12),
            fee_medium=D(9),
            fee_slow=D(7),
        )
    ]


async def test_hash_rates_beyond_two_to_the_53_stay_exact() -> None:
    raw = await reading()
    assert raw[HASHRATE]["currentHashrate"] == 791234567890123456789
    (row,) = parse_network(raw, NOW).records
    assert row.hash_rate is not None and str(row.hash_rate) == "791234567890123456789"
    assert float(row.hash_rate) == 7.912345678901235e20  # what a float would have kept


async def test_a_changed_field_is_a_violation_and_the_rest_is_kept() -> None:
    fees = Reply({"fastestFee": "fast", "halfHourFee": 9, "hourFee": None})
    parsed = parse_network(await reading(fees=fees), NOW)
    (row,) = parsed.records
    assert (row.fee_fast, row.fee_medium, row.fee_slow) == (None, D(9), None)
    assert row.mempool_size == 56789
    assert [(v.field, v.value) for v in parsed.violations] == [("fastestFee", "fast")]


def test_a_tip_height_that_is_not_a_number_is_a_violation() -> None:
    parsed = parse_network({TIP_HEIGHT: "tip", FEES: {"fastestFee": 3}}, NOW)
    assert parsed.records[0].block_height is None and parsed.records[0].fee_fast == 3
    assert [v.field for v in parsed.violations] == ["height"]


@pytest.mark.parametrize(
    "reply",
    [
        Reply(b"<html><h1>429 Too Many Requests</h1></html>", content_type="text/html"),
        Reply(b""),
    ],
)
async def test_html_or_empty_body_is_a_payload_error(reply: Reply) -> None:
    with pytest.raises(PayloadError, match="not JSON"):
        await reading(mempool=reply)


def test_a_list_where_an_object_was_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="expected an object, got list"):
        parse_network({MEMPOOL: [1, 2]}, NOW)


def test_answers_without_any_known_field_are_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="no known field"):
        parse_network({MEMPOOL: {"vsize": 1}, FEES: {}}, NOW)


async def test_only_known_endpoints_are_fetched() -> None:
    async with Mempool() as api:
        with pytest.raises(ValueError, match="endpoint must be one of"):
            await api.fetch("/v1/lightning/statistics/latest")
