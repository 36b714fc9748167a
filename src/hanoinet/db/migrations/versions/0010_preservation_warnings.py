"""preservation warnings are paged: the nearest warning each request's desk was paged for

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24

The requesting node pages its desk 14, 7 and 1 day(s) before a preservation it asked for ends
(docs/requests.md, section 7.2). ``preservation_warned_days`` remembers the nearest warning sent for the
current end, so that each is sent once; existing requests start with none sent.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch_op:
        batch_op.add_column(sa.Column("preservation_warned_days", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch_op:
        batch_op.drop_column("preservation_warned_days")
