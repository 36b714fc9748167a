"""duty alerts: officers' e-mail, rotas, pages and alerts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("officers") as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(length=254), nullable=True))
    op.create_table(
        "rota_entries",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("desk", sa.String(length=16), nullable=False),
        sa.Column("officer_id", _ID, sa.ForeignKey("officers.id"), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("call_order", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_rota_entries_desk_ends", "rota_entries", ["desk", "ends_at"])
    op.create_table(
        "pages",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("subject_ref", sa.String(length=40), nullable=False),
        sa.Column("desk", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.String(length=12), nullable=False),
        sa.Column("headline", sa.String(length=200), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ack_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("no_one_on_duty", sa.Boolean(), nullable=False),
        sa.Column("next_escalation_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("exhausted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_pages_subject_id", "pages", ["subject_id"])
    op.create_index("ix_pages_due", "pages", ["next_escalation_at"])
    op.create_table(
        "alerts",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("page_id", _ID, sa.ForeignKey("pages.id"), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=500), nullable=False),
        sa.Column("officer_id", _ID, sa.ForeignKey("officers.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alerts_page_id", "alerts", ["page_id"])
    op.create_index("ix_alerts_due", "alerts", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_alerts_due", table_name="alerts")
    op.drop_index("ix_alerts_page_id", table_name="alerts")
    op.drop_table("alerts")
    op.drop_index("ix_pages_due", table_name="pages")
    op.drop_index("ix_pages_subject_id", table_name="pages")
    op.drop_table("pages")
    op.drop_index("ix_rota_entries_desk_ends", table_name="rota_entries")
    op.drop_table("rota_entries")
    with op.batch_alter_table("officers") as batch_op:
        batch_op.drop_column("email")
