"""Stores the measures of an on-chain row that depend on that row alone (`nvt`,
`quality_score`, formulas in `ohmycoins.enrich.derived`), right after it is written."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, select, tuple_, update

from ohmycoins.enrich.derived import EXPECTED_FIELDS, FETCHED_NVT_SOURCES, nvt, quality_score
from ohmycoins.records import Asset, OnchainMetric
from ohmycoins.storage.tables import RECORD_TABLES

__all__ = ["refresh_onchain"]

_INPUTS = ("asset", "ts", "sources", "nvt", "market_cap", "tx_volume_usd", "quality_score")
_KEYS_PER_SELECT = 500


def refresh_onchain(conn: Connection, keys: Iterable[tuple[str, int]]) -> None:
    """Store `nvt` and `quality_score` of the on-chain rows with these (asset, ts) keys.

    Runs on the caller's transaction right after the rows were upserted: one SELECT
    per 500 keys (joined with `assets` for the network type) and one executemany
    UPDATE of the rows whose values changed."""
    wanted = sorted(set(keys))
    for start in range(0, len(wanted), _KEYS_PER_SELECT):
        changes = _refreshed(conn, wanted[start : start + _KEYS_PER_SELECT])
        if changes:
            conn.execute(_UPDATE, changes)


_TABLE = RECORD_TABLES[OnchainMetric]
_ASSETS = RECORD_TABLES[Asset]
_SCORED = sorted({name for fields in EXPECTED_FIELDS.values() for name in fields})
_SELECT = select(
    *(_TABLE.c[name] for name in dict.fromkeys([*_INPUTS, *_SCORED])), _ASSETS.c.network_type
).select_from(_TABLE.outerjoin(_ASSETS, _ASSETS.c.asset_id == _TABLE.c.asset))
_UPDATE = (
    update(_TABLE)
    .where(_TABLE.c.asset == bindparam("key_asset"), _TABLE.c.ts == bindparam("key_ts"))
    .values(
        nvt=bindparam("new_nvt", type_=_TABLE.c.nvt.type),
        quality_score=bindparam("new_score", type_=_TABLE.c.quality_score.type),
    )
)


def _refreshed(conn: Connection, keys: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
    """The UPDATE parameters of the rows among `keys` whose derived values change."""
    query = _SELECT.where(tuple_(_TABLE.c.asset, _TABLE.c.ts).in_(keys))
    changes = []
    for mapping in conn.execute(query).mappings():
        row = dict(mapping)
        new_nvt = _derived_nvt(row)
        new_score = quality_score(row, row["network_type"])
        if new_nvt != row["nvt"] or new_score != row["quality_score"]:
            changes.append(
                {
                    "key_asset": row["asset"],
                    "key_ts": row["ts"],
                    "new_nvt": new_nvt,
                    "new_score": new_score,
                }
            )
    return changes


def _derived_nvt(row: Mapping[str, Any]) -> Decimal | None:
    """The NVT a row should hold: a fetched one kept, otherwise ours when computable."""
    fetched = row["nvt"] is not None and FETCHED_NVT_SOURCES.intersection(row["sources"])
    if fetched:
        stored: Decimal = row["nvt"]
        return stored
    computed = nvt(row["market_cap"], row["tx_volume_usd"])
    return computed if computed is not None else row["nvt"]
