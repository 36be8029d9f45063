"""Quality scores of one collection: accuracy, completeness, timeliness and overall.

- accuracy: the share of received records that passed validation;
- completeness: the share of expected records that are stored (candles the exchange
  truly does not have, known holes, are not expected);
- timeliness: 1 when the newest record is as fresh as the source allows, falling
  linearly to 0 at `stale_after_ms` of lag;
- overall: the mean of the three. Every score is in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

_PLACES = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class QualityScore:
    accuracy: Decimal
    completeness: Decimal
    timeliness: Decimal

    @property
    def overall(self) -> Decimal:
        return ((self.accuracy + self.completeness + self.timeliness) / 3).quantize(_PLACES)


def score(
    *, valid: int, invalid: int, present: int, expected: int, lag_ms: int, stale_after_ms: int
) -> QualityScore:
    """The three scores of a collection (see the module docstring)."""
    received = valid + invalid
    accuracy = Decimal(valid) / received if received else Decimal(1)
    completeness = Decimal(min(present, expected)) / expected if expected else Decimal(1)
    lateness = max(0, lag_ms) / stale_after_ms if stale_after_ms > 0 else 0
    timeliness = Decimal(max(0.0, 1 - lateness))
    return QualityScore(
        accuracy.quantize(_PLACES), completeness.quantize(_PLACES), timeliness.quantize(_PLACES)
    )
