"""The real mempool.space recordings, read through the real path (settings URL,
HttpSource, httpx) from the replay server and parsed; the facts asserted are read off
the recordings themselves.

Recommended fees and the mining pools answer are served byte for byte. The difficulty
adjustment (`da`) and the blocks were recorded inside the websocket init payload:
their sub-objects are served as JSON, and the tip height is the highest block of the
recorded `blocks`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from ohmycoins.settings import SourceSettings
from ohmycoins.sources.mempool import (
    DIFFICULTY_ADJUSTMENT,
    FEES,
    TIP_HEIGHT,
    Mempool,
    parse_network,
)
from tests.support.replay import Reply, replay_server

Recorded = Callable[..., Reply]
NOW = 1_711_850_338_000  # the tip block's time
NOT_COLLECTED = {
    "api_tx_b6a53d8a.json": "/tx/{txid}",
    "ws_live_2h_chart.json": "websocket live-2h-chart",
}


def read(recordings: Path, name: str) -> Any:
    return json.loads((recordings / "mempool" / name).read_bytes(), parse_float=Decimal)


def space(url: str) -> Mempool:
    return Mempool(SourceSettings(url=f"{url}/api", rate_limit=60000))


def test_every_mempool_recording_is_accounted_for(recordings: Path) -> None:
    used = {
        "fees_recommended_from_ws_init.json",
        "ws_init_mainnet_mempoolInfo.json",
        "blocks_from_ws_init.json",
        "api_v1_mining_pools_1w.json",
    }
    names = {path.name for path in (recordings / "mempool").iterdir()}
    assert names == used | set(NOT_COLLECTED)


async def test_recorded_fees_tip_and_block_time(recorded: Recorded, recordings: Path) -> None:
    init = json.loads((recordings / "mempool" / "ws_init_mainnet_mempoolInfo.json").read_text())
    tip = max(block["height"] for block in read(recordings, "blocks_from_ws_init.json"))
    routes = {
        f"/api{FEES}": recorded("mempool/fees_recommended_from_ws_init.json"),
        f"/api{DIFFICULTY_ADJUSTMENT}": Reply(init["da"]),
        f"/api{TIP_HEIGHT}": Reply(str(tip), content_type="text/plain"),
    }
    async with replay_server(routes) as url, space(url) as api:
        raw = {path: await api.fetch(path) for path in (FEES, DIFFICULTY_ADJUSTMENT, TIP_HEIGHT)}
    parsed = parse_network(raw, NOW)
    fees = read(recordings, "fees_recommended_from_ws_init.json")
    (row,) = parsed.records
    assert parsed.violations == []
    assert (row.fee_fast, row.fee_medium, row.fee_slow) == (
        fees["fastestFee"],
        fees["halfHourFee"],
        fees["hourFee"],
    )
    assert row.block_height == tip
    assert row.block_time_s == Decimal(init["da"]["timeAvg"]) / 1000 == Decimal("574.743")
    assert row.hash_rate is None and row.mempool_size is None  # not in these answers


async def test_hash_rates_beyond_two_to_the_53_are_decoded_exactly(recorded: Recorded) -> None:
    """The pools answer carries hash rates near 7.9e20: every digit must survive."""
    reply = recorded("mempool/api_v1_mining_pools_1w.json")
    async with replay_server({"/api/v1/mining/pools/1w": reply}) as url, space(url) as api:
        raw = await api.http.get_json("/v1/mining/pools/1w")
    text = reply.encoded().decode()
    for key in ("lastEstimatedHashrate", "lastEstimatedHashrate3d", "lastEstimatedHashrate1w"):
        digits = re.search(rf'"{key}":\s*(\d+)', text)
        assert digits is not None
        assert raw[key] == int(digits.group(1)) > 2**53
