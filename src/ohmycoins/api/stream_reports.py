"""The live streams' latest reports (counters and lags), as each stream publishes them
to the broker (`publish.stream_stats_key`): in-process beside `omc run`, through Redis
from every worker to every API replica.

Read from the sync handlers (health, `/metrics`), which run in anyio's worker threads:
the broker is async, so each read hops to the event loop for its `get_latest`."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import anyio.from_thread

from ohmycoins.api.deps import ApiContext
from ohmycoins.publish import stream_stats_key

log = logging.getLogger(__name__)


def stream_reports(context: ApiContext, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The latest report of each of these tasks that is a stream and has reported."""
    if context.registry is not None:
        names = [n for n in names if (c := context.registry.get(n)) and c.kind == "stream"]
    reports: dict[str, dict[str, Any]] = {}
    for name in names:
        try:
            report = anyio.from_thread.run(context.broker.get_latest, stream_stats_key(name))
        except RuntimeError:  # not called from a worker thread of the app: nothing to show
            return {}
        if report is not None:
            reports[name] = dict(report)
    return reports
