"""Quarantine: a rejected record is kept with the rule it broke, never silently dropped."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable

from ohmycoins.errors import Violation
from ohmycoins.records import Conflict, QuarantinedRecord

CONFLICTING_DUPLICATE = "conflicting_duplicate"
"""The rule of an immutable record received again with other values."""


def payload_json(payload: object) -> str:
    """JSON text of a raw payload or a record; decimals as their exact text."""
    return json.dumps(_fields(payload), default=str, sort_keys=True, separators=(",", ":"))


def _fields(payload: object) -> object:
    """A record as a dict of its fields (records nested in a dict too); else as it is."""
    if dataclasses.is_dataclass(payload) and not isinstance(payload, type):
        return {f.name: getattr(payload, f.name) for f in dataclasses.fields(payload)}
    if isinstance(payload, dict):
        return {key: _fields(value) for key, value in payload.items()}
    return payload


def conflict_violations(conflicts: Iterable[Conflict]) -> list[Violation]:
    """A `conflicting_duplicate` violation per conflict, naming the first field that
    differs and carrying both versions: `{"stored": …, "received": …}`."""
    violations = []
    for conflict in conflicts:
        differ = conflict.fields() or ("*",)
        value = getattr(conflict.received, differ[0], None)
        both = {"stored": conflict.stored, "received": conflict.received}
        record_type = type(conflict.received).__name__
        violations.append(Violation(record_type, differ[0], value, CONFLICTING_DUPLICATE, both))
    return violations


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
