"""Local exchange simulator speaking Binance's spot REST wire format.

Point ccxt's real ``binance`` class at it by rewriting the host of every URL in
``exchange.urls["api"]`` (``https://api.binance.com/api/v3`` becomes
``<base_url>/api/v3``, likewise ``fapi``/``dapi``/``sapi``); no ccxt option is needed:
``load_markets`` also asks ``/fapi/v1`` and ``/dapi/v1`` for exchange info and gets
empty futures listings.  ``fetch_trades`` uses ``/api/v3/aggTrades`` by default;
ccxt refuses ``historicalTrades`` without an ``apiKey`` (any string works here).

Data is deterministic per seed (see ``market``), weights and bans follow Binance (see
``ratelimit`` and ``endpoints``) and faults are switchable at runtime (see ``faults``).

The same port speaks Binance's spot websocket (see ``websocket`` and ``streams``):

* ``/ws`` and ``/ws/<stream>/<stream>...``: raw frames; ``/stream?streams=a/b``:
  combined frames ``{"stream": ..., "data": ...}``;
* methods ``SUBSCRIBE``, ``UNSUBSCRIBE``, ``LIST_SUBSCRIPTIONS``, ``SET_PROPERTY`` and
  ``GET_PROPERTY`` (``combined``), answered ``{"result": ..., "id": N}`` or with
  Binance's ``{"code": ..., "msg": ...}`` errors; more than 5 messages a second closes
  the connection, as on Binance;
* streams ``<sym>@trade``, ``@aggTrade``, ``@depth`` / ``@depth@100ms``,
  ``@bookTicker``, ``@kline_<interval>``, ``@ticker`` and ``@miniTicker``.

Point ``ccxt.pro.binance`` at it with ``urls["api"]["ws"]["spot"] = <ws_url>`` (see
``SimulatorHandle.ws_url``) besides the REST hosts.  Trades streamed are the ones REST
serves (same consecutive ids), and diff depth ``U``/``u`` continue REST depth's
``lastUpdateId``: one live book per symbol (see ``book``) serves both.  Streams follow
the market clock (``SimulatorConfig.now_ms``; a test can move it by hand), at
``SimulatorConfig.stream_rate`` messages a second per stream.
"""

from ohmycoins.sim.config import DEFAULT_START_MS, DEFAULT_SYMBOLS, SimLimit, SimulatorConfig
from ohmycoins.sim.faults import FaultKind, FaultPlan, FaultRule
from ohmycoins.sim.market import MarketModel
from ohmycoins.sim.server import (
    Received,
    SimStats,
    SimulatorHandle,
    create_app,
    running_simulator,
    serve_forever,
)

__all__ = [
    "DEFAULT_START_MS",
    "DEFAULT_SYMBOLS",
    "FaultKind",
    "FaultPlan",
    "FaultRule",
    "MarketModel",
    "Received",
    "SimLimit",
    "SimStats",
    "SimulatorConfig",
    "SimulatorHandle",
    "create_app",
    "running_simulator",
    "serve_forever",
]
