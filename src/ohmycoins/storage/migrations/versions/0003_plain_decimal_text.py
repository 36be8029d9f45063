"""plain decimal text: SQLite's stored decimals spelt without an exponent

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 10:00:00.000000

SQLite keeps decimals as their text. Until now that was `str(Decimal)`, which writes
`1E-8` for 0.00000001; now it is the plain notation the API serves (`0.00000001`), so
a range read hands the stored text out as it is. This rewrites the values stored with
an exponent, the same numbers in plain notation. PostgreSQL stores NUMERIC and has
nothing to rewrite. The downgrade has nothing to undo: the earlier code reads plain
text as well.
"""

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DECIMAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "candles": ("open", "high", "low", "close", "volume"),
    "collector_runs": ("accuracy", "completeness", "timeliness", "quality"),
    "macro_observations": ("value",),
    "market_snapshots": (
        "price",
        "market_cap",
        "volume_24h",
        "high_24h",
        "low_24h",
        "open_24h",
        "change_pct_24h",
        "circulating_supply",
        "total_supply",
        "max_supply",
    ),
    "news_items": ("sentiment_score", "sentiment_confidence"),
    "onchain_metrics": (
        "block_time_s",
        "hash_rate",
        "difficulty",
        "tx_volume_usd",
        "fee_fast",
        "fee_medium",
        "fee_slow",
        "gas_price_gwei",
        "circulating_supply",
        "total_supply",
        "max_supply",
        "market_cap",
        "realized_cap",
        "mvrv",
        "nvt",
        "exchange_inflow",
        "exchange_outflow",
        "staked_amount",
        "staking_ratio",
        "tvl",
        "quality_score",
    ),
    "orderbooks": (
        "mid",
        "spread",
        "imbalance",
        "bid_liquidity_0_1pct",
        "ask_liquidity_0_1pct",
        "bid_liquidity_1pct",
        "ask_liquidity_1pct",
    ),
    "protocol_fundamentals": (
        "tvl",
        "fees_24h",
        "fees_7d",
        "fees_30d",
        "revenue_24h",
        "revenue_7d",
        "revenue_30d",
        "market_cap",
    ),
    "social_posts": ("sentiment_score", "sentiment_confidence"),
    "tickers": (
        "last",
        "bid",
        "ask",
        "high_24h",
        "low_24h",
        "open_24h",
        "base_volume_24h",
        "quote_volume_24h",
        "change_pct_24h",
    ),
    "trades": ("price", "amount"),
}
"""The decimal columns as of this revision (ExactDecimal in 0001)."""


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    for table, columns in DECIMAL_COLUMNS.items():
        _rewrite_exponents(conn, table, columns)


def downgrade() -> None:
    """Nothing to undo: plain text is what the earlier revisions read too."""


def _rewrite_exponents(conn: sa.Connection, table: str, columns: tuple[str, ...]) -> None:
    """One scan of `table` for values with an exponent, each rewritten in plain notation."""
    listed = ", ".join(f'"{column}"' for column in columns)
    found = " OR ".join(f"instr(upper(\"{column}\"), 'E') > 0" for column in columns)
    rows = conn.exec_driver_sql(f'SELECT rowid, {listed} FROM "{table}" WHERE {found}')
    rewritten = [
        {"rowid": rowid, **dict(zip(columns, map(_plain, values), strict=True))}
        for rowid, *values in rows.fetchall()
    ]
    if rewritten:
        assignments = ", ".join(f'"{column}" = :{column}' for column in columns)
        update = sa.text(f'UPDATE "{table}" SET {assignments} WHERE rowid = :rowid')
        conn.execute(update, rewritten)


def _plain(value: object) -> object:
    """The plain-notation text of a stored decimal; anything else as it is."""
    if not isinstance(value, str) or "E" not in value.upper():
        return value
    try:
        return format(Decimal(value), "f")
    except InvalidOperation:
        return value
