"""features_stale: the series whose stored features are stale from a candle on

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 16:00:00.000000

A new table; nothing existing changes. A candle written late (a backfill filling a gap,
a corrected candle) marks its series here, and the feature job recomputes the rows
from it on. The downgrade drops it: marks pending then are lost, and those rows stay
as they were until `omc features build`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ohmycoins.storage.dialects

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "features_stale",
        sa.Column("exchange", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("symbol", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("timeframe", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("since_ts", sa.BigInteger(), nullable=False),
        sa.Column("marks", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("exchange", "symbol", "timeframe", name="pk_features_stale"),
    )


def downgrade() -> None:
    op.drop_table("features_stale")
