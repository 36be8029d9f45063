"""Ethereum over JSON-RPC 2.0 (any node; no key for public ones): height, gas, block time.

Facts about the source, as data below:
- Default endpoint `https://ethereum-rpc.publicnode.com` (`OMC_ETHEREUM_RPC_URL`
  points at any other node or provider URL, which may carry its key in the path).
- Every call is a `POST` of `{"jsonrpc": "2.0", "id": n, "method": ..., "params": [...]}`
  to the endpoint itself; the answer carries `result`, or `error: {code, message}`.
  Rate-limit errors (code -32005, or a message saying so) become `RateLimitedError`,
  server-side errors (-32603, -32000) `TemporarySourceError`, the others
  `SourceError`; an answer with neither `result` nor `error` is a `PayloadError`.
- Quantities are hex strings (`"0x1b4"`), any size: they are decoded to exact ints.
  Gas prices are in wei and stored in gwei (/ 10^9, exact).
- Public nodes publish no limit; 60 requests per minute is a conservative default
  (`OMC_ETHEREUM_RPC_RATE_LIMIT` overrides it). One reading costs 4 calls.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from ohmycoins.errors import (
    PayloadError,
    RateLimitedError,
    SourceError,
    TemporarySourceError,
    Violation,
)
from ohmycoins.records import OnchainMetric
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.blockchain_info import network_metric
from ohmycoins.sources.http import SourceClient, split_endpoint
from ohmycoins.sources.parsing import EXACT, JSON, FieldError, Parsed, require
from ohmycoins.sources.ratelimit import TokenBucket

NAME = "ethereum_rpc"
BASE_URL = "https://ethereum-rpc.publicnode.com"
RATE_LIMIT = 60.0
"""Requests per minute: conservative, public nodes publish none."""
ASSET = "ethereum"

BLOCK_NUMBER = "eth_blockNumber"
GAS_PRICE = "eth_gasPrice"
BLOCK_BY_NUMBER = "eth_getBlockByNumber"
LATEST_BLOCK = "latest_block"
EARLIER_BLOCK = "earlier_block"
BLOCK_TIME_SPAN = 100
"""Blocks the mean block time is measured over."""
CALLS_PER_READING = 4

RATE_LIMITED_CODES = frozenset({-32005})
SERVER_ERROR_CODES = frozenset({-32603, -32000})
_HEX_QUANTITY = re.compile(r"0x[0-9a-fA-F]+")


def hex_quantity(value: object, field: str) -> int:
    """An int from a JSON-RPC hex quantity (`"0x1b4"`); FieldError for anything else."""
    if not isinstance(value, str) or not _HEX_QUANTITY.fullmatch(value):
        raise FieldError(field, value, "must be a hex quantity like 0x1b4")
    return int(value, 16)


def wei_to_gwei(wei: int) -> Decimal:
    return EXACT.scaleb(Decimal(wei), -9)


class EthereumRpc(SourceClient):
    """JSON-RPC calls to one Ethereum node; `fetch_network` gathers one reading."""

    name = NAME
    default_url = BASE_URL
    default_rate_limit = RATE_LIMIT

    def __init__(
        self,
        settings: SourceSettings | None = None,
        *,
        limiter: TokenBucket | None = None,
        attempts: int = 4,
        redis_url: str | None = None,
    ) -> None:
        """A node URL may carry a path (a provider's key): the client's base is its
        origin and every call posts to that path."""
        settings = settings or SourceSettings()
        origin, self.path = split_endpoint(settings.url or BASE_URL)
        super().__init__(
            settings.model_copy(update={"url": origin}),
            limiter=limiter,
            attempts=attempts,
            redis_url=redis_url,
        )
        self._ids = itertools.count(1)

    async def call(self, method: str, params: Sequence[JSON] = ()) -> JSON:
        """One JSON-RPC call; its `result`, or the error it answered, raised."""
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        return unwrap(await self.http.post_json(self.path, body), method)

    async def fetch_network(self) -> dict[str, JSON]:
        """Height, gas price, and the latest block with the one `BLOCK_TIME_SPAN` before it."""
        height = await self.call(BLOCK_NUMBER)
        try:
            latest = hex_quantity(height, BLOCK_NUMBER)
        except FieldError as error:
            raise PayloadError(NAME, str(error), payload=height, request=BLOCK_NUMBER) from None
        earlier = max(latest - BLOCK_TIME_SPAN, 0)
        return {
            BLOCK_NUMBER: height,
            GAS_PRICE: await self.call(GAS_PRICE),
            LATEST_BLOCK: await self.call(BLOCK_BY_NUMBER, [hex(latest), False]),
            EARLIER_BLOCK: await self.call(BLOCK_BY_NUMBER, [hex(earlier), False]),
        }


def unwrap(answer: JSON, method: str) -> JSON:
    """The `result` of a JSON-RPC answer; its `error` as the matching `SourceError`.

    {"jsonrpc": "2.0", "id": 1, "result": "0x1312d00"}
    {"jsonrpc": "2.0", "id": 1, "error": {"code": -32005, "message": "limit exceeded"}}
    """
    if not isinstance(answer, Mapping):
        message = f"expected a JSON-RPC object, got {type(answer).__name__}"
        raise PayloadError(NAME, message, payload=answer, request=method)
    error = answer.get("error")
    if error is not None:
        raise _rpc_error(error, method)
    if "result" not in answer:
        raise PayloadError(NAME, "answer has neither result nor error", payload=answer)
    return answer["result"]


def parse_network(raw: Mapping[str, JSON], now_ms: int) -> Parsed[OnchainMetric]:
    """One Ethereum row, in the hour of `now_ms`, from the results of `fetch_network`:
    block height, gas price in gwei and the mean block time over the two blocks.

        {"eth_blockNumber": "0x1312d00", "eth_gasPrice": "0x3b9aca00",
         "latest_block": {"number": "0x1312d00", "timestamp": "0x6650a3f7"},
         "earlier_block": {"number": "0x1312c9c", "timestamp": "0x6650a11b"}}
    """
    values: dict[str, Any] = {}
    violations: list[Violation] = []
    readers = (
        ("block_height", _height),
        ("gas_price_gwei", _gas_price),
        ("block_time_s", _block_time),
    )
    for field, convert in readers:
        try:
            value = convert(raw)
        except FieldError as error:
            violations.append(error.violation("OnchainMetric", dict(raw)))
            continue
        if value is not None:
            values[field] = value
    return network_metric(ASSET, now_ms, NAME, values, violations, dict(raw))


def _height(raw: Mapping[str, JSON]) -> int | None:
    value = raw.get(BLOCK_NUMBER)
    return None if value is None else hex_quantity(value, BLOCK_NUMBER)


def _gas_price(raw: Mapping[str, JSON]) -> Decimal | None:
    value = raw.get(GAS_PRICE)
    return None if value is None else wei_to_gwei(hex_quantity(value, GAS_PRICE))


def _block_time(raw: Mapping[str, JSON]) -> Decimal | None:
    """Mean seconds per block between the two blocks; None without both."""
    latest, earlier = raw.get(LATEST_BLOCK), raw.get(EARLIER_BLOCK)
    if latest is None or earlier is None:
        return None
    blocks = _block_field(latest, "number") - _block_field(earlier, "number")
    seconds = _block_field(latest, "timestamp") - _block_field(earlier, "timestamp")
    if blocks <= 0:
        raise FieldError("number", blocks, "blocks must be in increasing order")
    return Decimal(seconds) / blocks  # a measure: 28 significant digits are plenty


def _block_field(block: JSON, key: str) -> int:
    return hex_quantity(require(block, key), key)


def _rpc_error(error: JSON, method: str) -> SourceError:
    code = error.get("code") if isinstance(error, Mapping) else None
    words = error.get("message") if isinstance(error, Mapping) else error
    message = f"JSON-RPC error {code}: {words}"
    if code in RATE_LIMITED_CODES or "rate limit" in str(words).lower():
        return RateLimitedError(NAME, message, retry_after=None, request=method)
    if code in SERVER_ERROR_CODES:
        return TemporarySourceError(NAME, message, request=method)
    return SourceError(NAME, message, request=method)
