"""A tiny local Coinbase Exchange REST (`api.exchange.coinbase.com`): products,
currencies and a product's trades, in the formats Coinbase documents; and the `ws-feed`
`match` frame of the same trade, for the websocket stub (`venue_ws`).

`GET /products/{product_id}/trades` answers as Coinbase does: newest first, at most
`limit` (default and most 1000), older than the `after` cursor when given (exclusive),
with `CB-BEFORE` / `CB-AFTER` headers naming the page's newest and oldest trade ids.

    async with coinbase_rest({"BTC-USD": [coinbase_trade(i) for i in range(1, 13)]}) as rest:
        client = ExchangeStream("coinbaseexchange", SourceSettings(url=rest.url, ws_url=...))
        ...
        rest.trade_queries          # the query of every trades request, in order
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.support.replay import serving

T0 = 1_735_689_600_000
"""The time of trade id 0 (a trade's time is T0 plus its id, in ms)."""
MOST_TRADES = 1000
"""The most trades one page holds (Coinbase's `limit` maximum and default)."""


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def maker_side(trade_id: int) -> str:
    """The side Coinbase sends for a trade: the maker's (the taker took the other)."""
    return "sell" if trade_id % 2 == 0 else "buy"


def coinbase_trade(trade_id: int, price: str = "100.00", size: str = "0.5") -> dict[str, Any]:
    """One row of `/products/{product_id}/trades`."""
    return {
        "time": _iso(T0 + trade_id),
        "trade_id": trade_id,
        "price": price,
        "size": size,
        "side": maker_side(trade_id),
    }


def coinbase_match(
    trade_id: int, product: str = "BTC-USD", price: str = "100.00", size: str = "0.5"
) -> dict[str, Any]:
    """The `ws-feed` `matches` frame of the trade `coinbase_trade` describes."""
    return {
        "type": "match",
        "trade_id": trade_id,
        "maker_order_id": f"maker-{trade_id}",
        "taker_order_id": f"taker-{trade_id}",
        "side": maker_side(trade_id),
        "size": size,
        "price": price,
        "product_id": product,
        "sequence": 1_000 + 10 * trade_id,
        "time": _iso(T0 + trade_id),
    }


def coinbase_product(product: str) -> dict[str, Any]:
    """One row of `/products` (the fields Coinbase sends)."""
    base, quote = product.split("-")
    return {
        "id": product,
        "base_currency": base,
        "quote_currency": quote,
        "base_min_size": "0.000016",
        "base_max_size": "1500",
        "quote_increment": "0.01",
        "base_increment": "0.00000001",
        "display_name": f"{base}/{quote}",
        "min_market_funds": "1",
        "max_market_funds": "20000000",
        "margin_enabled": False,
        "fx_stablecoin": False,
        "max_slippage_percentage": "0.02000000",
        "post_only": False,
        "limit_only": False,
        "cancel_only": False,
        "trading_disabled": False,
        "status": "online",
        "status_message": "",
        "auction_mode": False,
    }


@dataclass
class CoinbaseRest:
    """The running server: its base URL and the trades requests it answered."""

    url: str = ""
    trade_queries: list[dict[str, str]] = field(default_factory=list)


def _page(rows: Sequence[Mapping[str, Any]], query: Mapping[str, str]) -> list[Any]:
    """The page of `rows` a trades request asks for: newest first, below `after`."""
    newest_first = sorted(rows, key=lambda row: -int(row["trade_id"]))
    if "after" in query:
        newest_first = [r for r in newest_first if int(r["trade_id"]) < int(query["after"])]
    return newest_first[: int(query.get("limit", MOST_TRADES))]


@asynccontextmanager
async def coinbase_rest(
    trades: Mapping[str, Sequence[Mapping[str, Any]]],
    on_trades_request: Callable[[], None] | None = None,
) -> AsyncIterator[CoinbaseRest]:
    """Serve the products of `trades` (by product id) and their trades on 127.0.0.1;
    `on_trades_request` is called as each trades request comes (a test looks at what
    its client had done by then)."""
    server = CoinbaseRest()

    async def products(_request: web.Request) -> web.Response:
        return web.json_response([coinbase_product(product) for product in trades])

    async def currencies(_request: web.Request) -> web.Response:
        return web.json_response([])

    async def product_trades(request: web.Request) -> web.Response:
        server.trade_queries.append(dict(request.query))
        if on_trades_request is not None:
            on_trades_request()
        product = request.match_info["product_id"]
        if product not in trades:
            return web.json_response({"message": "NotFound"}, status=404)
        limit = request.query.get("limit", str(MOST_TRADES))
        if not limit.isdigit() or not 1 <= int(limit) <= MOST_TRADES:
            return web.json_response({"message": "Invalid limit"}, status=400)
        page = _page(trades[product], request.query)
        headers = (
            {"CB-BEFORE": str(page[0]["trade_id"]), "CB-AFTER": str(page[-1]["trade_id"])}
            if page
            else {}
        )
        return web.json_response(page, headers=headers)

    app = web.Application()
    app.router.add_get("/products", products)
    app.router.add_get("/currencies", currencies)
    app.router.add_get("/products/{product_id}/trades", product_trades)
    async with serving(app, shutdown_timeout=0.5) as url:
        server.url = url
        yield server
