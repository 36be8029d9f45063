"""Ethereum JSON-RPC: calls POSTed through the real path (settings URL, HttpSource,
httpx) to a local replay server, answers unwrapped and parsed into one Ethereum row.

The fixtures under tests/fixtures/ethereum_rpc are written from the Ethereum JSON-RPC
specification (execution-apis): the 2.0 envelope, hex quantities, `eth_getBlockByNumber`
block objects, and the error objects public nodes answer (-32005 limit exceeded,
-32601 method not found). tests/conformance reads a recorded envelope.
"""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from ohmycoins.errors import PayloadError, RateLimitedError, SourceError, TemporarySourceError
from ohmycoins.records import OnchainMetric
from ohmycoins.settings import load_settings
from ohmycoins.sources.ethereum_rpc import (
    EARLIER_BLOCK,
    GAS_PRICE,
    LATEST_BLOCK,
    EthereumRpc,
    hex_quantity,
    parse_network,
    split_endpoint,
    unwrap,
)
from ohmycoins.sources.parsing import FieldError
from tests.support.replay import Reply, replay_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ethereum_rpc"
NOW = 1_732_170_123_456
HOUR = 1_732_168_800_000
READING = ["block_number.json", "gas_price.json", "block_latest.json", "block_earlier.json"]


def fixture(name: str) -> Reply:
    return Reply.file(FIXTURES / name)


def node(url: str) -> EthereumRpc:
    env = {"OMC_ETHEREUM_RPC_URL": url, "OMC_ETHEREUM_RPC_RATE_LIMIT": "60000"}
    return EthereumRpc(load_settings(env).source("ethereum_rpc"), attempts=1)


async def test_one_reading_is_one_ethereum_row() -> None:
    async with (
        replay_server({"/": [fixture(name) for name in READING]}) as url,
        node(url) as api,
    ):
        raw = await api.fetch_network()
    assert [(r.method, r.path) for r in url.requests] == [("POST", "/")] * 4
    parsed = parse_network(raw, NOW)
    assert parsed.violations == []
    assert parsed.records == [
        OnchainMetric(
            asset="ethereum",
            ts=HOUR,
            sources=("ethereum_rpc",),
            block_height=0x1406F40,
            gas_price_gwei=D("1.000000007"),
            block_time_s=D("11.96"),
        )
    ]


async def test_calls_are_json_posts_to_the_endpoint_itself() -> None:
    async with replay_server({"/": fixture("block_number.json")}) as url, node(url) as api:
        assert await api.call("eth_blockNumber") == "0x1406f40"
    (request,) = url.requests
    assert (request.method, request.path, request.query) == ("POST", "/", {})
    assert request.headers["Content-Type"] == "application/json"


async def test_the_earlier_block_is_the_span_before_the_latest() -> None:
    async with (
        replay_server({"/": [fixture(name) for name in READING]}) as url,
        node(url) as api,
    ):
        raw = await api.fetch_network()
    assert raw[LATEST_BLOCK]["number"] == "0x1406f40"
    assert hex_quantity(raw[EARLIER_BLOCK]["number"], "n") == 0x1406F40 - 100


@pytest.mark.parametrize(
    ("name", "error", "words"),
    [
        ("error_limit_exceeded.json", RateLimitedError, "-32005"),
        ("error_method_not_found.json", SourceError, "-32601"),
    ],
)
async def test_json_rpc_errors_become_source_errors(
    name: str, error: type[SourceError], words: str
) -> None:
    async with replay_server({"/": fixture(name)}) as url, node(url) as api:
        with pytest.raises(error, match=words) as raised:
            await api.call("eth_blockNumber")
    assert raised.value.request == "eth_blockNumber"


def test_server_errors_are_temporary() -> None:
    answer = {"jsonrpc": "2.0", "id": 1, "error": {"code": -32000, "message": "header not found"}}
    with pytest.raises(TemporarySourceError, match="header not found"):
        unwrap(answer, "eth_getBlockByNumber")


@pytest.mark.parametrize("answer", [{"jsonrpc": "2.0", "id": 1}, [], "0x1"])
def test_answers_without_result_are_payload_errors(answer: Any) -> None:
    with pytest.raises(PayloadError):
        unwrap(answer, "eth_gasPrice")


@pytest.mark.parametrize(
    "reply",
    [Reply(b"<html>403 Forbidden</html>", content_type="text/html"), Reply(b"")],
)
async def test_html_or_empty_body_is_a_payload_error(reply: Reply) -> None:
    async with replay_server({"/": reply}) as url, node(url) as api:
        with pytest.raises(PayloadError, match="not JSON"):
            await api.call("eth_gasPrice")


async def test_a_block_number_that_is_not_hex_stops_the_reading() -> None:
    reply = Reply({"jsonrpc": "2.0", "id": 1, "result": 20000000})
    async with replay_server({"/": reply}) as url, node(url) as api:
        with pytest.raises(PayloadError, match="hex quantity"):
            await api.fetch_network()


@pytest.mark.parametrize("value", ["0x", "1b4", 436, None, "0xZZ", "0x1b4 "])
def test_malformed_hex_quantities_are_refused(value: object) -> None:
    with pytest.raises(FieldError, match="hex quantity"):
        hex_quantity(value, "q")


def test_big_hex_quantities_are_exact() -> None:
    assert hex_quantity("0x" + "f" * 40, "q") == 2**160 - 1


def test_a_malformed_field_is_a_violation_and_the_rest_is_kept() -> None:
    raw = {"eth_blockNumber": "0x10", GAS_PRICE: 7, LATEST_BLOCK: {"number": "0x10"}}
    raw[EARLIER_BLOCK] = {"number": "0x0f", "timestamp": "0x1"}
    parsed = parse_network(raw, NOW)
    (row,) = parsed.records
    assert row.block_height == 16 and row.gas_price_gwei is None and row.block_time_s is None
    assert [(v.field, v.value) for v in parsed.violations] == [
        (GAS_PRICE, 7),
        ("timestamp", None),
    ]


def test_the_endpoint_path_and_query_are_kept_exactly() -> None:
    assert split_endpoint("https://mainnet.example.io/v3/abc?x=1") == (
        "https://mainnet.example.io",
        "/v3/abc?x=1",
    )
    assert split_endpoint("https://ethereum-rpc.publicnode.com") == (
        "https://ethereum-rpc.publicnode.com",
        "/",
    )


async def test_calls_go_to_the_path_of_the_configured_url() -> None:
    async with (
        replay_server({"/v3/key": fixture("gas_price.json")}) as url,
        node(f"{url}/v3/key") as api,
    ):
        assert await api.call("eth_gasPrice") == "0x3b9aca07"
    assert [r.path for r in url.requests] == ["/v3/key"]
