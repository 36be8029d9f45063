"""the feature store, and the first release date of macro values

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 12:00:00.000000

`feature_sets` names each feature set version stored and its columns; `features` holds
one row per closed candle and set version, the values as little-endian float64 in the
set's column order. `macro_observations.released_ts` is when a value was first
published (FRED's first vintage), so features join macro values by release, not by the
date they describe; rows stored before have none until their series is fetched again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ohmycoins.storage.dialects

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feature_sets",
        sa.Column("set_version", ohmycoins.storage.dialects.KEY_TEXT, primary_key=True),
        sa.Column("name", ohmycoins.storage.dialects.LONG_TEXT, nullable=False),
        sa.Column("columns", ohmycoins.storage.dialects.LONG_TEXT, nullable=False),
        sa.Column("definition", ohmycoins.storage.dialects.LONG_TEXT, nullable=False),
        sa.Column("created_ts", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "features",
        sa.Column("exchange", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("symbol", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("timeframe", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("set_version", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("warm_up", sa.Boolean(), nullable=False),
        sa.Column("vals", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint(
            "exchange", "symbol", "timeframe", "set_version", "ts", name="pk_features"
        ),
    )
    with op.batch_alter_table("macro_observations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("released_ts", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("macro_observations", schema=None) as batch_op:
        batch_op.drop_column("released_ts")
    op.drop_table("features")
    op.drop_table("feature_sets")
