"""alarms can be dealt with: the desk an alarm concerns, who acknowledged and cleared it, when and why

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

An alarm is open until an officer acknowledges it and then clears it with a reason (docs/operations.md,
section 7). Nothing cleared an alarm before this revision, so every existing alarm stays open, concerning no
particular desk (only supervisors and admins see those).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("alarms") as batch_op:
        batch_op.add_column(sa.Column("desk", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("acknowledged_by", _ID, nullable=True))
        batch_op.add_column(sa.Column("acknowledged_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("cleared_by", _ID, nullable=True))
        batch_op.add_column(sa.Column("cleared_reason", sa.Text(), nullable=True))
        batch_op.create_foreign_key("fk_alarms_acknowledged_by_officers", "officers", ["acknowledged_by"], ["id"])
        batch_op.create_foreign_key("fk_alarms_cleared_by_officers", "officers", ["cleared_by"], ["id"])
        batch_op.create_index("ix_alarms_open", ["cleared_at", "acknowledged_at"])


def downgrade() -> None:
    with op.batch_alter_table("alarms") as batch_op:
        batch_op.drop_index("ix_alarms_open")
        batch_op.drop_constraint("fk_alarms_cleared_by_officers", type_="foreignkey")
        batch_op.drop_constraint("fk_alarms_acknowledged_by_officers", type_="foreignkey")
        for column in ("cleared_reason", "cleared_by", "acknowledged_reason", "acknowledged_by",
                       "acknowledged_at", "desk"):
            batch_op.drop_column(column)
