"""Prometheus metrics at `GET /metrics`.

Families (each app has its own registry, so several apps in one process never clash):

- `omc_api_request_duration_seconds{method,route}`: request latency histogram, by route
  template (`/api/v1/candles`, `/static/{path:path}`), `unmatched` for paths no route
  serves and requests refused before routing (429 over a budget);
- `omc_api_requests_total{method,route,status}`: requests by status code; WebSocket
  handshakes too (`GET`, 101 when accepted), which have no latency;
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
- `omc_stream_*{stream}`: each live stream's latest report (`stream_reports`): messages
  and `messages_per_second`, `exchange_lag_seconds`, `publish_lag_seconds`,
  `reconnects`, `resyncs`, `stale_seconds`, `queue_depth`, `spilled`, and the times of
  its last message and last report (`last_message_timestamp_seconds`,
  `reported_timestamp_seconds`: a stream that stopped reporting is not running);
- `omc_metrics_database_up`: 0 when the database could not be read for this scrape.

Every label is bounded whatever clients send: a route is a template of this app or
`unmatched`, a method one of `KNOWN_METHODS` or `OTHER`, a status three digits. The
database families are computed at most every `cache_seconds` (a scrape every few
seconds must not scan the tables each time). The route is open unless the app
requires keys or has a metrics token (`deps.metrics_access`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import APIRouter, Depends, Response
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

from ohmycoins.api.deps import ApiContext, metrics_access
from ohmycoins.api.schemas import Message as ErrorMessage
from ohmycoins.api.stream_reports import stream_reports
from ohmycoins.errors import StorageError
from ohmycoins.scheduling.leases import stored_collectors
from ohmycoins.scheduling.quota import usage_of
from ohmycoins.storage.alerts import read_alerts
from ohmycoins.storage.reads import market as market_reads
from ohmycoins.timeframes import now_ms as clock_ms

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}
)
"""Methods labelled as they are; any other is labelled `OTHER`."""
UNMATCHED = "unmatched"


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
            dependencies=[Depends(metrics_access)],
            responses={
                200: {"content": {CONTENT_TYPE_LATEST: {}}},
                401: {
                    "model": ErrorMessage,
                    "description": "Keys are required or a metrics token is set, and the "
                    "request has neither the token nor a valid key.",
                },
            },
            summary="Prometheus metrics",
            description="Prometheus text exposition of the API and collector metrics.",
        )

    def _endpoint(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    def observe(self, method: str, route: str, status: int, seconds: float | None) -> None:
        """Count a request (and time it, unless `seconds` is None: a WebSocket)."""
        method = method if method in KNOWN_METHODS else "OTHER"
        if seconds is not None:
            self.latency.labels(method, route).observe(seconds)
        self.requests.labels(method, route, str(status)).inc()

    def middleware(self, app: ASGIApp) -> ASGIApp:
        return MetricsMiddleware(app, self)


class MetricsMiddleware:
    """Times every HTTP request and counts it by route template and status; counts
    every WebSocket handshake by its answer."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
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

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Counted once, at the handshake's answer: 101 accepted, the status of an HTTP
        refusal, 403 for a close before accepting; 500 if the app failed before any."""
        answered = False

        def count(status: int) -> None:
            nonlocal answered
            answered = True
            self.metrics.observe("GET", route_template(scope), status, None)

        async def send_handshake(message: Message) -> None:
            if not answered:
                kind = message["type"]
                if kind == "websocket.accept":
                    count(101)
                elif kind == "websocket.http.response.start":
                    count(message["status"])
                elif kind == "websocket.close":
                    count(403)
            await send(message)

        try:
            await self.app(scope, receive, send_handshake)
        finally:
            if not answered:
                count(500)


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/api/v1/collectors/{name}/pause`), or
    `unmatched`.

    FastAPI gives the route object without the prefixes of the routers that include
    it; those prefixes are literal, so the template's prefix is the request path up to
    the first `/` from which the route's own pattern matches the rest. That is always
    a prefix of the literal one (which matches), never text a client chose."""
    route = scope.get("route")
    template, pattern = getattr(route, "path", None), getattr(route, "path_regex", None)
    if not isinstance(template, str) or pattern is None:
        return UNMATCHED
    path = str(scope["path"])
    cut = path.find("/")
    while cut != -1:
        if pattern.match(path[cut:]):
            return path[:cut] + template
        cut = path.find("/", cut + 1)
    return UNMATCHED


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
        for summary in market_reads.run_summaries(db):
            for family, attribute in counters:
                family.add_metric([summary.collector], getattr(summary, attribute))
        freshness = GaugeMetricFamily(
            "omc_data_freshness_seconds",
            "Seconds since the newest row of each record table.",
            labels=["table"],
        )
        for table, newest in sorted(market_reads.newest_times(db).items()):
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
        for (table, source), count in sorted(market_reads.conflict_counts(db).items()):
            conflicts.add_metric([table, source], count)
        firing = GaugeMetricFamily(
            "omc_alerts_firing",
            "1 for each alert (rule, subject) firing now (see /api/v1/alerts).",
            labels=["rule", "subject"],
        )
        for alert in read_alerts(db, "firing"):
            firing.add_metric([alert.rule, alert.subject], 1)
        streams = _stream_families(stream_reports(self.context, stored_collectors(db)))
        return [
            *(family for family, _ in counters),
            freshness,
            used,
            limit,
            conflicts,
            firing,
            *streams,
        ]


_STREAM_GAUGES = (
    ("messages_per_second", "omc_stream_messages_per_second", "Messages a second, lately.", 1),
    ("exchange_lag_ms", "omc_stream_exchange_lag_seconds", "Receive minus exchange time.", 1e-3),
    ("publish_lag_ms", "omc_stream_publish_lag_seconds", "Receive to publish of a batch.", 1e-3),
    ("queue_depth", "omc_stream_queue_depth", "Items waiting to be stored.", 1),
    ("last_message_ts", "omc_stream_last_message_timestamp_seconds", "Last message, Unix.", 1e-3),
    ("reported_ts", "omc_stream_reported_timestamp_seconds", "Last report, Unix time.", 1e-3),
)
_STREAM_COUNTERS = (
    ("messages", "omc_stream_messages", "Messages received."),
    ("reconnects", "omc_stream_reconnects", "Sockets recycled and reopened."),
    ("resyncs", "omc_stream_resyncs", "Books discarded and resynced."),
    ("stale_seconds", "omc_stream_stale_seconds", "Seconds on sockets gone quiet."),
    ("spilled", "omc_stream_spilled", "Latest-value records dropped on a full queue."),
)


def _stream_families(reports: Mapping[str, Mapping[str, Any]]) -> list[Metric]:
    """One family per stream measure, a sample per stream that reported it."""
    families: list[Metric] = []
    for key, name, documentation, scale in _STREAM_GAUGES:
        gauge = GaugeMetricFamily(name, documentation, labels=["stream"])
        for stream, report in sorted(reports.items()):
            if report.get(key) is not None:
                gauge.add_metric([stream], float(report[key]) * scale)
        families.append(gauge)
    for key, name, documentation in _STREAM_COUNTERS:
        counter = CounterMetricFamily(name, documentation, labels=["stream"])
        for stream, report in sorted(reports.items()):
            counter.add_metric([stream], float(report.get(key) or 0))
        families.append(counter)
    return families


def _counter(name: str, documentation: str) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, labels=["collector"])
