"""news dates may be unknown: published_ts nullable, and the first fetch time beside it

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 09:00:00.000000

A news item whose date no reader understands was stored with its fetch time as its
publish time, and nothing said so. Now its `published_ts` is NULL (the date is
unknown) and the time it was first fetched has its own column, `fetched_ts`. Rows
stored before keep their `published_ts` (which of them were fetch times cannot be told
afterwards) and have no `fetched_ts`. SQLite changes the column's NULL constraint by
rebuilding the table (`batch_alter_table`). The downgrade gives unknown dates their
first fetch time back, as the earlier code stored them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("news_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fetched_ts", sa.BigInteger(), nullable=True))
        batch_op.alter_column("published_ts", existing_type=sa.BigInteger(), nullable=True)


def downgrade() -> None:
    op.execute(
        "UPDATE news_items SET published_ts = fetched_ts "
        "WHERE published_ts IS NULL AND fetched_ts IS NOT NULL"
    )
    op.execute("DELETE FROM news_items WHERE published_ts IS NULL")
    with op.batch_alter_table("news_items", schema=None) as batch_op:
        batch_op.alter_column("published_ts", existing_type=sa.BigInteger(), nullable=False)
        batch_op.drop_column("fetched_ts")
