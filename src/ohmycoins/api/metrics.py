"""Prometheus metrics at `GET /metrics`.

Families (each app has its own registry, so several apps in one process never clash):

- `omc_api_request_duration_seconds{method,route}`: request latency histogram, by route
  template (`/api/v1/candles`), `unmatched` for paths no route serves;
- `omc_api_requests_total{method,route,status}`: requests by status code;
- `omc_collector_runs_total`, `omc_collector_failures_total`,
  `omc_collector_records_written_total`, `omc_collector_records_quarantined_total`
  `{collector}`: totals over the stored `collector_runs`, so they agree across workers
  and survive restarts;
- `omc_data_freshness_seconds{table}`: seconds since the newest row of each non-empty
  record table;
- `omc_conflicting_duplicates_total{table,source}`: immutable rows (trades) received
  again with other values and quarantined as `conflicting_duplicate`, counted from the
  quarantine table;
- `omc_source_quota_used_calls{source}` (this UTC month) and
  `omc_source_quota_limit_calls{source}` (sources with a monthly quota);
- `omc_metrics_database_up`: 0 when the database could not be read for this scrape.

The database families are computed at most every `cache_seconds` (a scrape every few
seconds must not scan the tables each time).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

from fastapi import APIRouter, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ohmycoins.api.deps import ApiContext
from ohmycoins.errors import StorageError
from ohmycoins.scheduling.quota import usage_of
from ohmycoins.storage import reads
from ohmycoins.timeframes import now_ms as clock_ms

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class ApiMetrics:
    """The app's registry, its request instruments and the `/metrics` route."""

    def __init__(self, context: ApiContext, cache_seconds: float = 10.0) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "omc_api_request_duration_seconds",
            "API request latency by route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.requests = Counter(
            "omc_api_requests",
            "API requests by route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.registry.register(DatabaseMetrics(context, cache_seconds))
        self.router = APIRouter(tags=["metrics"])
        self.router.add_api_route(
            "/metrics",
            self._endpoint,
            methods=["GET"],
            response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
            summary="Prometheus metrics",
            description="Prometheus text exposition of the API and collector metrics.",
        )

    def _endpoint(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.latency.labels(method, route).observe(seconds)
        self.requests.labels(method, route, str(status)).inc()

    def middleware(self, app: ASGIApp) -> ASGIApp:
        return MetricsMiddleware(app, self)


class MetricsMiddleware:
    """Times every HTTP request and counts it by route template and status."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.observe(scope["method"], route_template(scope), status, elapsed)


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/api/v1/collectors/{name}/pause`), or
    `unmatched`.

    FastAPI may give the route object without the prefixes of the routers that include
    it; those prefixes are literal here, so they are taken from the request path."""
    template = getattr(scope.get("route"), "path", None)
    if not isinstance(template, str):
        return "unmatched"
    segments = str(scope["path"]).rstrip("/").split("/")
    own = template.strip("/").split("/") if template.strip("/") else []
    prefix = segments[: max(0, len(segments) - len(own))]
    return "/".join(prefix + own) or "/"


class DatabaseMetrics(Collector):
    """Collector, data and quota families read from the database, cached briefly."""

    def __init__(self, context: ApiContext, cache_seconds: float) -> None:
        self.context = context
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._cached: list[Metric] = []
        self._cached_at = float("-inf")

    def describe(self) -> Iterable[Metric]:
        return []  # computed on scrape; nothing to check at registration

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            if time.monotonic() - self._cached_at >= self.cache_seconds:
                self._cached = self._read()
                self._cached_at = time.monotonic()
            return list(self._cached)

    def _read(self) -> list[Metric]:
        up = GaugeMetricFamily(
            "omc_metrics_database_up", "1 when the database was read for these metrics."
        )
        try:
            families = self._families()
        except (SQLAlchemyError, StorageError) as exc:
            log.warning("metrics: database not readable: %s", exc)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [*families, up]

    def _families(self) -> list[Metric]:
        db = self.context.db
        now_ms = clock_ms()
        counters = [
            (_counter("omc_collector_runs", "Stored runs per collector."), "runs"),
            (_counter("omc_collector_failures", "Failed runs per collector."), "failures"),
            (
                _counter("omc_collector_records_written", "Records written per collector."),
                "records_written",
            ),
            (
                _counter("omc_collector_records_quarantined", "Records quarantined per collector."),
                "records_quarantined",
            ),
        ]
        for summary in reads.run_summaries(db):
            for family, attribute in counters:
                family.add_metric([summary.collector], getattr(summary, attribute))
        freshness = GaugeMetricFamily(
            "omc_data_freshness_seconds",
            "Seconds since the newest row of each record table.",
            labels=["table"],
        )
        for table, newest in sorted(reads.newest_times(db).items()):
            if newest is not None:
                freshness.add_metric([table], max(0.0, (now_ms - newest) / 1000))
        used = GaugeMetricFamily(
            "omc_source_quota_used_calls", "Calls per source this UTC month.", labels=["source"]
        )
        for source, calls in sorted(usage_of(db, now_ms).items()):
            used.add_metric([source], calls)
        limit = GaugeMetricFamily(
            "omc_source_quota_limit_calls", "Monthly call quota per source.", labels=["source"]
        )
        for source, source_settings in sorted(self.context.settings.sources.items()):
            if source_settings.monthly_quota is not None:
                limit.add_metric([source], source_settings.monthly_quota)
        conflicts = CounterMetricFamily(
            "omc_conflicting_duplicates",
            "Immutable rows received again with other values, quarantined.",
            labels=["table", "source"],
        )
        for (table, source), count in sorted(reads.conflict_counts(db).items()):
            conflicts.add_metric([table, source], count)
        return [*(family for family, _ in counters), freshness, used, limit, conflicts]


def _counter(name: str, documentation: str) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, labels=["collector"])
