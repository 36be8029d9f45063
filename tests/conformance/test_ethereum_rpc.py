"""A real JSON-RPC answer (Etherscan's proxy of `eth_getTransactionReceipt`, every
number a hex string) POSTed through the real path (settings URL, HttpSource, httpx)
from the replay server: the envelope is unwrapped and every hex quantity decoded
exactly; the facts asserted are read off the recording itself."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from ohmycoins.errors import PayloadError
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.ethereum_rpc import EthereumRpc, hex_quantity, unwrap, wei_to_gwei
from ohmycoins.sources.parsing import FieldError
from tests.support.replay import Reply, replay_server

Recorded = Callable[..., Reply]
RECEIPT = "etherscan/proxy_eth_getTransactionReceipt.json"
QUANTITY = re.compile(r"0x[0-9a-f]{1,16}")
"""Hex strings short enough to be quantities (hashes, addresses and blooms are longer)."""


async def test_recorded_receipt_envelope_and_quantities(
    recorded: Recorded, recordings: Path
) -> None:
    async with (
        replay_server({"/v2/api": recorded(RECEIPT)}) as url,
        EthereumRpc(SourceSettings(url=f"{url}/v2/api", rate_limit=60000)) as node,
    ):
        result = await node.call("eth_getTransactionReceipt", ["0x0ca4942007ea1e93"])
    truth = json.loads((recordings / RECEIPT).read_text())["result"]
    assert isinstance(result, dict) and result.keys() == truth.keys()
    quantities = {k: v for k, v in truth.items() if isinstance(v, str) and QUANTITY.fullmatch(v)}
    assert {"blockNumber", "gasUsed", "effectiveGasPrice", "status"} <= quantities.keys()
    for key, text in quantities.items():
        assert hex_quantity(result[key], key) == int(text, 16)
    price = hex_quantity(result["effectiveGasPrice"], "effectiveGasPrice")
    assert wei_to_gwei(price) == Decimal(int(truth["effectiveGasPrice"], 16)) / 10**9


def test_an_etherscan_error_is_not_a_json_rpc_answer(recordings: Path) -> None:
    """Etherscan's own error shape (`status`, `message`, `result` text) has a `result`
    but is not JSON-RPC; reading its result as a quantity fails clearly."""
    body = json.loads(
        (recordings / "etherscan" / "error_NOTOK_free_plan_chain_8453.json").read_text()
    )
    result = unwrap(body, "eth_blockNumber")
    with pytest.raises(FieldError, match="hex quantity"):
        hex_quantity(result, "eth_blockNumber")
    with pytest.raises(PayloadError):
        unwrap([body], "eth_blockNumber")
