"""Quarantine: a rejected record is kept with the rule it broke, never silently dropped."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable

from ohmycoins.errors import Violation
from ohmycoins.records import QuarantinedRecord


def payload_json(payload: object) -> str:
    """JSON text of a raw payload or a record; decimals as their exact text."""
    if dataclasses.is_dataclass(payload) and not isinstance(payload, type):
        payload = {f.name: getattr(payload, f.name) for f in dataclasses.fields(payload)}
    return json.dumps(payload, default=str, sort_keys=True, separators=(",", ":"))


def quarantine_records(
    violations: Iterable[Violation], source: str, now_ms: int
) -> list[QuarantinedRecord]:
    """One quarantine row per violation; the same violation twice is one row."""
    rows = []
    for violation in violations:
        payload = payload_json(violation.record)
        rule = str(violation)
        digest = hashlib.sha256(f"{violation.record_type}|{rule}|{payload}".encode()).hexdigest()
        rows.append(
            QuarantinedRecord(
                fingerprint=digest[:32],
                record_type=violation.record_type,
                source=source,
                rule=rule,
                payload=payload,
                ts=now_ms,
            )
        )
    return rows
