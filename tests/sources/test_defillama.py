"""DeFiLlama: every endpoint fetched through its real path (settings URL, HttpSource,
httpx) from a local replay server, then parsed.

No real `/protocols`, fees overview or stablecoins body has been recorded, so the
fixtures under tests/fixtures/defillama are written from DeFiLlama's published API
documentation (api.llama.fi and stablecoins.llama.fi) in those answers' shapes:
`slug` on protocols and fee rows, `defillamaId`, float numbers, `pegType` keys. The
chain list and the TVL history follow the real recordings of tests/conformance.
"""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from ohmycoins.errors import PayloadError, SourceError
from ohmycoins.records import OnchainMetric, ProtocolFundamental
from ohmycoins.settings import SourceSettings, load_settings
from ohmycoins.sources.defillama import (
    DefiLlama,
    DefiLlamaStablecoins,
    parse_chains,
    parse_fees,
    parse_protocol_history,
    parse_protocols,
    parse_stablecoins,
    top_protocols,
)
from ohmycoins.timeframes import floor_ts
from tests.support.replay import Reply, replay_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "defillama"
NOW = 1_732_170_123_456  # 2024-11-21T06:22:03.456Z
TODAY = 1_732_147_200_000  # 2024-11-21T00:00:00Z
HOUR = 1_732_168_800_000  # 2024-11-21T06:00:00Z


def fixture(name: str) -> Reply:
    return Reply.file(FIXTURES / name)


def llama(url: str) -> DefiLlama:
    """A client configured as a user does it: OMC_DEFILLAMA_* variables."""
    env = {"OMC_DEFILLAMA_URL": url, "OMC_DEFILLAMA_RATE_LIMIT": "60000"}
    return DefiLlama(load_settings(env).source("defillama"))


async def fetched(path: str, name: str, call: str, *args: Any) -> Any:
    async with replay_server({path: fixture(name)}) as url, llama(url) as api:
        return await getattr(api, call)(*args)


async def test_protocols_become_todays_rows() -> None:
    parsed = parse_protocols(await fetched("/protocols", "protocols.json", "fetch_protocols"), NOW)
    rows = {row.protocol: row for row in parsed.records}
    assert set(rows) == {"aave-v3", "lido", "uniswap-v3"}
    assert rows["aave-v3"] == ProtocolFundamental(
        protocol="aave-v3",
        day=TODAY,
        ts=NOW,
        source="defillama",
        name="Aave V3",
        category="Lending",
        chain="Multi-Chain",
        tvl=D("21746391232.5188"),
        market_cap=None,
    )
    assert rows["lido"].chain == "Ethereum" and rows["lido"].market_cap == D("1523456789.12")
    broken = {(v.field, v.rule) for v in parsed.violations}
    assert broken == {("tvl", "must be a number"), ("slug", "is missing")}


def test_main_chain_is_derived_when_absent() -> None:
    rows = [
        {"name": "One", "slug": "one", "chains": ["Solana"], "tvl": 1},
        {"name": "Two", "slug": "two", "chains": ["Solana", "Sui"], "tvl": 2},
        {"name": "None", "slug": "none", "tvl": 3},
    ]
    chains = [row.chain for row in parse_protocols(rows, NOW).records]
    assert chains == ["Solana", "Multi-Chain", None]


async def test_chains_without_gecko_id_are_skipped_not_quarantined() -> None:
    parsed = parse_chains(await fetched("/v2/chains", "chains.json", "fetch_chains"), NOW)
    assert [(m.asset, m.ts, m.tvl, m.sources) for m in parsed.records] == [
        ("ethereum", HOUR, D("62320718362.34265"), ("defillama",)),
        ("solana", HOUR, D("9123456789.5"), ("defillama",)),
    ]
    assert parsed.skipped == ["Base"]
    assert [(v.field, v.value) for v in parsed.violations] == [("tvl", "not a number")]


async def test_protocol_history_one_row_per_day() -> None:
    raw = await fetched("/protocol/aave-v3", "protocol_aave-v3.json", "fetch_protocol", "aave-v3")
    parsed = parse_protocol_history(raw, "aave-v3")
    days = [(r.day, r.ts, r.tvl) for r in parsed.records]
    assert days == [
        (1_700_006_400_000, 1_700_006_400_000, D("5012345678.25")),
        (1_700_092_800_000, 1_700_092_800_000, D("5023456789.5")),
        # the string date and the later point of the same day: the later one wins
        (1_700_179_200_000, 1_700_200_000_000, D("5111111111.11")),
    ]
    assert {(r.protocol, r.name, r.category, r.chain) for r in parsed.records} == {
        ("aave-v3", "Aave V3", "Lending", "Multi-Chain")
    }
    assert [(v.field, v.value) for v in parsed.violations] == [("totalLiquidityUSD", "n/a")]


def test_protocol_history_is_incremental_from_a_day() -> None:
    raw = {"name": "X", "tvl": [{"date": d, "totalLiquidityUSD": 1} for d in (0, 86_400, 172_800)]}
    parsed = parse_protocol_history(raw, "x", since_day=86_400_000)
    assert [r.day for r in parsed.records] == [86_400_000, 172_800_000]


def test_history_without_tvl_sums_the_chains_only() -> None:
    raw = {
        "name": "Y",
        "chainTvls": {
            "Ethereum": {"tvl": [{"date": 86_400, "totalLiquidityUSD": D("1.25")}]},
            "Base": {"tvl": [{"date": 86_400, "totalLiquidityUSD": 2}]},
            "Ethereum-staking": {"tvl": [{"date": 86_400, "totalLiquidityUSD": 100}]},
            "borrowed": {"tvl": [{"date": 86_400, "totalLiquidityUSD": 1000}]},
        },
    }
    (row,) = parse_protocol_history(raw, "y").records
    assert row.tvl == D("3.25")


def test_history_body_of_the_wrong_shape_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="tvl or chainTvls"):
        parse_protocol_history({"message": "Protocol not found"}, "nope")
    with pytest.raises(PayloadError, match="an object"):
        parse_protocol_history([], "nope")
    parsed = parse_protocol_history({"tvl": "soon"}, "later")
    assert parsed.records == [] and parsed.violations[0].field == "tvl"


async def test_fees_and_revenue_fill_their_own_fields() -> None:
    async with (
        replay_server(
            {
                "/overview/fees?dataType=dailyFees": fixture("fees_dailyFees.json"),
                "/overview/fees?dataType=dailyRevenue": fixture("fees_dailyRevenue.json"),
            }
        ) as url,
        llama(url) as api,
    ):
        fees = parse_fees(await api.fetch_fees("dailyFees"), "dailyFees", NOW)
        revenue = parse_fees(await api.fetch_fees("dailyRevenue"), "dailyRevenue", NOW)
    assert url.requests[0].query == {
        "excludeTotalDataChart": "true",
        "excludeTotalDataChartBreakdown": "true",
        "dataType": "dailyFees",
    }
    aave = next(r for r in fees.records if r.protocol == "aave-v3")
    assert (aave.day, aave.ts, aave.name, aave.category) == (TODAY, NOW, "Aave V3", "Lending")
    assert (aave.fees_24h, aave.fees_7d, aave.fees_30d) == (
        D("2381452.73"),
        D("16234981.2"),
        D("70012345.61"),
    )
    assert aave.tvl is None and aave.revenue_24h is None
    fee_only = next(r for r in fees.records if r.protocol == "fee-only-dex")
    assert (fee_only.fees_24h, fee_only.fees_30d) == (None, D("5678.25"))
    assert [(v.field, v.rule) for v in fees.violations] == [("total24h", "is missing")]
    lido = next(r for r in revenue.records if r.protocol == "lido")
    assert (lido.revenue_24h, lido.revenue_7d, lido.revenue_30d, lido.fees_24h) == (
        D("301234.55"),
        D("2109876.54"),
        D("9012345.67"),
        None,
    )


async def test_unknown_fee_data_type_is_refused_before_any_call() -> None:
    async with llama("http://127.0.0.1:9") as api:
        with pytest.raises(ValueError, match="dailyFees"):
            await api.fetch_fees("dailyVolume")


def test_fees_envelope_without_protocols_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="protocols list"):
        parse_fees({"message": "internal"}, "dailyFees", NOW)


async def test_stablecoin_supply_by_peg_type() -> None:
    async with (
        replay_server({"/stablecoins": fixture("stablecoins.json")}) as url,
        DefiLlamaStablecoins(SourceSettings(url=url, rate_limit=60000)) as api,
    ):
        parsed = parse_stablecoins(await api.fetch_stablecoins(), NOW)
    assert url.requests[0].query == {"includePrices": "true"}
    assert [(m.asset, m.ts, m.circulating_supply, m.sources) for m in parsed.records] == [
        ("tether", HOUR, D("183456123456.123456"), ("defillama",)),
        ("euro-coin", HOUR, D("212345678.9"), ("defillama",)),
    ]
    assert parsed.skipped == ["NOG"]
    assert [(v.field, v.rule) for v in parsed.violations] == [("peggedUSD", "is missing")]
    with pytest.raises(PayloadError, match="peggedAssets") as error:
        parse_stablecoins([], NOW)
    assert error.value.source == "defillama_stablecoins"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<html><body>502 Bad Gateway</body></html>", "text/html"),
        (b"", "application/json"),
    ],
)
async def test_html_or_empty_body_is_a_clear_payload_error(body: bytes, content_type: str) -> None:
    with pytest.raises(PayloadError, match="not JSON"):
        await fetched_reply("/protocols", Reply(body, content_type=content_type))


async def test_object_where_a_list_was_is_a_payload_error() -> None:
    raw = await fetched_reply("/v2/chains", Reply({"message": "moved"}))
    with pytest.raises(PayloadError, match="expected a list, got dict: moved"):
        parse_chains(raw, NOW)


async def test_unknown_protocol_is_a_source_error() -> None:
    reply = Reply("Protocol is not in our database", status=400, content_type="text/plain")
    with pytest.raises(SourceError, match="HTTP 400: Protocol is not in our database"):
        async with replay_server({"/protocol/nope": reply}) as url, llama(url) as api:
            await api.fetch_protocol("nope")


def test_top_protocols_by_tvl() -> None:
    rows = [
        ProtocolFundamental("a", TODAY, NOW, "defillama", tvl=D("10.5")),
        ProtocolFundamental("b", TODAY, NOW, "defillama", tvl=D(100)),
        ProtocolFundamental("c", TODAY, NOW, "defillama", tvl=None),
        ProtocolFundamental("d", TODAY, NOW, "defillama", tvl=D("10.5")),
    ]
    assert top_protocols(rows, 3) == ["b", "a", "d"]
    assert floor_ts(NOW, "1d") == TODAY


async def fetched_reply(path: str, reply: Reply) -> Any:
    async with replay_server({path: reply}) as url, llama(url) as api:
        return await api.http.get_json(path)


def test_chain_metric_is_an_onchain_metric() -> None:
    (metric,) = parse_chains([{"gecko_id": "x", "tvl": 0}], NOW).records
    assert isinstance(metric, OnchainMetric) and metric.tvl == 0
