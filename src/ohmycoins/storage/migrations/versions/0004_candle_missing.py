"""candle missing: candles not stored yet are kept apart from the exchange's holes

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 09:00:00.000000

A candle whose fetch failed or whose row was quarantined is not a hole of the exchange:
it goes to `candle_missing`, with its attempts and the time of its next retry, until it
is stored. A hole is what the exchange answered without in well-formed pages; `checks`
counts the syncs that confirmed it, and a recent hole is verified again until it has
four (found, then three re-checks). Earlier versions recorded a candle whose one
refetch failed as a hole, so the holes already stored start one check short of final:
each is verified once more, and a candle found there is stored.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ohmycoins.storage.dialects

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("candle_holes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("checks", sa.Integer(), nullable=False, server_default="3"))
    op.create_table(
        "candle_missing",
        sa.Column("exchange", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("symbol", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("timeframe", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("start_ts", sa.BigInteger(), nullable=False),
        sa.Column("end_ts", sa.BigInteger(), nullable=False),
        sa.Column("candles", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_try_ts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "exchange", "symbol", "timeframe", "start_ts", name="pk_candle_missing"
        ),
    )


def downgrade() -> None:
    op.drop_table("candle_missing")
    with op.batch_alter_table("candle_holes", schema=None) as batch_op:
        batch_op.drop_column("checks")
