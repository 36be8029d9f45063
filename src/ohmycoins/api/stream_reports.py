"""The live streams' latest reports (counters and lags), as each stream publishes them
to the broker (`publish.stream_stats_key`): in-process beside `omc run`, through Redis
from every worker to every API replica.

Read from the sync handlers (health, `/metrics`), which run in anyio's worker threads:
the broker is async, so the reads hop to the event loop, all of them in one hop."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import anyio.from_thread

from ohmycoins.api.deps import ApiContext
from ohmycoins.publish import latest_stream_reports


def stream_reports(context: ApiContext, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The latest report of each of these tasks that is a stream and has reported."""
    if context.registry is not None:
        names = [n for n in names if (c := context.registry.get(n)) and c.kind == "stream"]
    try:
        return anyio.from_thread.run(latest_stream_reports, context.broker, list(names))
    except RuntimeError:  # not called from a worker thread of the app: nothing to show
        return {}
