"""blockchain.info `/stats` fetched through its real path (settings URL, HttpSource,
httpx) from a local replay server, then parsed.

The fixtures under tests/fixtures/blockchain_info follow the shape of Blockchain.com's
documented `/stats` example (tests/conformance parses that example itself) with
recent values; `stats_shape_changed.json` is the same answer with a number turned
into a string, a word where a count was and a null.
"""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from ohmycoins.errors import PayloadError, SourceError, TemporarySourceError
from ohmycoins.records import OnchainMetric
from ohmycoins.settings import load_settings
from ohmycoins.sources.blockchain_info import BlockchainInfo, parse_stats
from ohmycoins.sources.ratelimit import TokenBucket
from tests.support.replay import Reply, replay_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "blockchain_info"
NOW = 1_732_170_123_456
HOUR = 1_732_168_800_000


def client(url: str) -> BlockchainInfo:
    env = {"OMC_BLOCKCHAIN_INFO_URL": url, "OMC_BLOCKCHAIN_INFO_RATE_LIMIT": "60000"}
    return BlockchainInfo(load_settings(env).source("blockchain_info"), attempts=1)


async def fetch(reply: Reply) -> Any:
    async with replay_server({"/stats": reply}) as url, client(url) as api:
        return await api.fetch_stats()


async def test_stats_become_one_bitcoin_row() -> None:
    parsed = parse_stats(await fetch(Reply.file(FIXTURES / "stats.json")), NOW)
    assert parsed.violations == []
    assert parsed.records == [
        OnchainMetric(
            asset="bitcoin",
            ts=HOUR,
            sources=("blockchain_info",),
            block_height=873210,
            block_time_s=D("591.6660"),
            hash_rate=D("7.91234567890123E20"),  # GH/s x 10^9: H/s
            difficulty=D("102289407543323.8"),
            tx_count=412345,
            tx_volume_usd=D("1.2345678901234E10"),
        )
    ]


async def test_changed_shapes_give_a_partial_row_and_violations() -> None:
    parsed = parse_stats(await fetch(Reply.file(FIXTURES / "stats_shape_changed.json")), NOW)
    (row,) = parsed.records
    assert row.hash_rate == D("791234567890.123E9")  # a numeric string is still a number
    assert row.tx_count is None and row.difficulty is None and row.block_height is None
    assert row.block_time_s == D("591.6660")
    assert [(v.field, v.value) for v in parsed.violations] == [("n_tx", "many")]


def test_only_broken_fields_give_violations_and_no_row() -> None:
    parsed = parse_stats({"n_blocks_total": 1.5, "n_tx": True}, NOW)
    assert parsed.records == []
    assert [v.field for v in parsed.violations] == ["n_blocks_total", "n_tx"]


@pytest.mark.parametrize("raw", [{}, {"error": "not found"}, [], "stats"])
def test_an_answer_without_any_known_field_is_a_payload_error(raw: Any) -> None:
    with pytest.raises(PayloadError):
        parse_stats(raw, NOW)


@pytest.mark.parametrize(
    "reply",
    [
        Reply(b"<!DOCTYPE html><html>Just a moment...</html>", content_type="text/html"),
        Reply(b""),
    ],
)
async def test_html_or_empty_body_is_a_payload_error(reply: Reply) -> None:
    with pytest.raises(PayloadError, match="not JSON"):
        await fetch(reply)


async def test_http_errors_are_translated() -> None:
    with pytest.raises(TemporarySourceError, match="HTTP 503"):
        await fetch(Reply({"error": "down"}, status=503))
    with pytest.raises(SourceError, match="HTTP 404"):
        await fetch(Reply({"error": "gone"}, status=404))


async def test_default_rate_limit_is_one_call_per_ten_seconds() -> None:
    async with BlockchainInfo() as api:
        assert api.http.base_url == "https://api.blockchain.info"
        assert isinstance(api.http.limiter, TokenBucket)
        assert api.http.limiter.rate_per_s == pytest.approx(0.1)
