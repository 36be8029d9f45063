"""Blockchain.com's documented `/stats` example, served byte for byte and read through
the real path (settings URL, HttpSource, httpx); the facts asserted are read off the
recording itself."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from ohmycoins.settings import SourceSettings
from ohmycoins.sources.blockchain_info import BlockchainInfo, parse_stats
from ohmycoins.timeframes import floor_ts
from tests.support.replay import Reply, replay_server

Recorded = Callable[..., Reply]
NOW = 1_474_035_340_000  # the example's own timestamp
NOT_COLLECTED = {
    "pools_docs_example_2016.json": "/pools",
    "multiaddr_bc1qw508_n100.json": "/multiaddr",
}


def test_every_blockchain_info_recording_is_accounted_for(recordings: Path) -> None:
    names = {path.name for path in (recordings / "blockchain_info").iterdir()}
    assert names == {"stats_docs_example_2016.json"} | set(NOT_COLLECTED)


async def test_documented_stats_example(recorded: Recorded, recordings: Path) -> None:
    async with (
        replay_server({"/stats": recorded("blockchain_info/stats_docs_example_2016.json")}) as url,
        BlockchainInfo(SourceSettings(url=url, rate_limit=60000)) as api,
    ):
        parsed = parse_stats(await api.fetch_stats(), NOW)
    truth = json.loads(
        (recordings / "blockchain_info" / "stats_docs_example_2016.json").read_bytes(),
        parse_float=Decimal,
    )
    (row,) = parsed.records
    assert parsed.violations == []
    assert (row.asset, row.ts, row.sources) == (
        "bitcoin",
        floor_ts(NOW, "1h"),
        ("blockchain_info",),
    )
    assert row.block_height == truth["n_blocks_total"] == 430098
    assert row.block_time_s == truth["minutes_between_blocks"] * 60
    assert row.hash_rate == truth["hash_rate"] * 10**9  # GH/s to H/s
    assert str(row.hash_rate) == "1.8410989266292908E+18"  # no digit lost or invented
    assert row.difficulty == truth["difficulty"]
    assert row.tx_count == truth["n_tx"]
    assert row.tx_volume_usd == truth["estimated_transaction_volume_usd"]
