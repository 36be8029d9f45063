"""What a candle sync reports: its counts, the holes it found, what is still missing,
and its quality score; and how those become a run's outcome and its `collector_runs`
row (a scheduled run of several series, or a backfill outside the scheduler)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from ohmycoins.collectors.collect import run_outcome
from ohmycoins.quality.gaps import Span, intersect_spans, span_slots
from ohmycoins.quality.scores import QualityScore, score
from ohmycoins.records import CollectorRun
from ohmycoins.scheduling.registry import RunOutcome
from ohmycoins.storage.cursors import Hole, Missing


@dataclass
class SyncReport:
    """What one sync of one series did."""

    series: str
    expected: int = 0
    stored: int = 0
    quarantined: int = 0
    refetched: int = 0
    holes: list[Hole] = field(default_factory=list)
    """Holes of the exchange this sync found."""
    missing: int = 0
    """Candles of the series still missing after this sync, in its range or not."""
    failed_pages: int = 0
    quality: QualityScore | None = None
    started_ts: int = 0
    finished_ts: int = 0

    @property
    def complete(self) -> bool:
        return self.failed_pages == 0

    def finish(self, step: int, asked: Span, missing: Sequence[Missing], times: Span) -> None:
        """Score the sync of the closed candles `asked` (first and last open time) with
        the series' `missing` candles after it; `times`: when it started and ended. A
        missing candle counts against completeness until stored, whether or not this
        sync's range holds it."""
        spans = [(m.start_ts, m.end_ts) for m in missing]
        inside = span_slots(intersect_spans(spans, [asked], step), step)
        self.missing = span_slots(spans, step)
        newest_missing = any(low <= asked[1] <= high for low, high in spans)
        self.quality = score(
            valid=self.stored,
            invalid=self.quarantined,
            present=self.expected - inside,
            expected=self.expected + self.missing - inside,
            lag_ms=step if newest_missing else 0,
            stale_after_ms=10 * step,
        )
        self.started_ts, self.finished_ts = times


def sync_outcome(reports: Sequence[SyncReport], problem: str | None = None) -> RunOutcome:
    """What syncs of several series report as one run: the worst series' quality;
    pages that still failed (kept as missing candles) make it partial, as does
    `problem` (series that failed as a whole)."""
    worst: QualityScore | None = min(
        (r.quality for r in reports if r.quality), key=lambda q: q.overall, default=None
    )
    failed = sum(r.failed_pages for r in reports)
    problems = [problem, f"{failed} page(s) failed" if failed else None]
    return run_outcome(
        sum(r.stored for r in reports),
        sum(r.quarantined for r in reports),
        worst,
        "; ".join(p for p in problems if p) or None,
    )


def run_record(report: SyncReport) -> CollectorRun:
    """The `collector_runs` row of a sync made outside the scheduler (a backfill)."""
    run_id, collector = uuid.uuid4().hex, f"backfill:{report.series}"
    return sync_outcome([report]).run_record(
        run_id, collector, report.started_ts, report.finished_ts
    )
