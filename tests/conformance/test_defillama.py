"""The real DeFiLlama recordings of endpoints we collect, fetched through the real path
(settings URL, HttpSource, httpx) from the replay server and parsed; the facts
asserted are read off the recordings themselves."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from ohmycoins.settings import SourceSettings
from ohmycoins.sources.defillama import DefiLlama, parse_chains, parse_protocol_history
from ohmycoins.sources.parsing import seconds_to_ms
from ohmycoins.timeframes import floor_ts
from tests.support.replay import Reply, replay_server

Recorded = Callable[..., Reply]
NOW = 1_663_000_000_000  # 2022-09-12, when the chain list was recorded

SUPPORTED = {"protocol_uniswap_trimmed_2021.json", "v2_chains_2022-09.json"}
NOT_COLLECTED = {
    "coins_prices_current_solana_2tokens.json": "coins.llama.fi prices (CoinGecko has them)",
    "coins_prices_current_unknown_token_empty.json": "coins.llama.fi prices",
    "coins_prices_historical_1604437979_binancecoin.json": "coins.llama.fi prices",
}


def exact(path: Path) -> Any:
    return json.loads(path.read_bytes(), parse_float=Decimal)


async def served(route: str, reply: Reply) -> Any:
    async with (
        replay_server({route: reply}) as url,
        DefiLlama(SourceSettings(url=url, rate_limit=60000)) as api,
    ):
        return await api.http.get_json(route)


def test_every_defillama_recording_is_accounted_for(recordings: Path) -> None:
    names = {path.name for path in (recordings / "defillama").iterdir()}
    assert names == SUPPORTED | set(NOT_COLLECTED)


async def test_chain_list(recorded: Recorded, recordings: Path) -> None:
    raw = await served("/v2/chains", recorded("defillama/v2_chains_2022-09.json"))
    parsed = parse_chains(raw, NOW)
    truth = exact(recordings / "defillama" / "v2_chains_2022-09.json")
    with_id = [row for row in truth if row["gecko_id"] is not None]
    assert parsed.violations == []
    assert [m.asset for m in parsed.records] == [row["gecko_id"] for row in with_id]
    assert [m.tvl for m in parsed.records] == [Decimal(row["tvl"]) for row in with_id]
    assert parsed.skipped == [row["name"] for row in truth if row["gecko_id"] is None]
    assert "Arbitrum" in parsed.skipped  # 2022: no gecko_id for Arbitrum yet
    assert {m.ts for m in parsed.records} == {floor_ts(NOW, "1h")}
    ethereum = next(m for m in parsed.records if m.asset == "ethereum")
    assert str(ethereum.tvl) == "52875523609.47606"  # exactly the recorded digits


async def test_trimmed_protocol_history(recorded: Recorded, recordings: Path) -> None:
    """The recording was trimmed upstream: no top-level `tvl`, one chain series whose
    later points carry only `tokens`. The chain series is the history; the points
    without a USD value are violations, not guesses."""
    name = "defillama/protocol_uniswap_trimmed_2021.json"
    raw = await served("/protocol/uniswap", recorded(name))
    parsed = parse_protocol_history(raw, "uniswap")
    series = exact(recordings / name)["chainTvls"]["Ethereum"]["tvl"]
    priced = [p for p in series if "totalLiquidityUSD" in p]
    assert [(r.day, r.tvl) for r in parsed.records] == [
        (floor_ts(seconds_to_ms(p["date"], "date"), "1d"), p["totalLiquidityUSD"]) for p in priced
    ]
    assert {(r.protocol, r.name, r.category, r.chain) for r in parsed.records} == {
        ("uniswap", "Uniswap", "Dexes", "Ethereum")
    }
    assert len(parsed.violations) == len(series) - len(priced) == 2
    assert {v.field for v in parsed.violations} == {"totalLiquidityUSD"}
