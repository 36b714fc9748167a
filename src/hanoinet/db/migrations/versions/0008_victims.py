"""victims and takedown: cases with hashed secrets, their images, platforms' match reports and their review,
trust per bank entry, takedown status per platform and country

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "victim_cases",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=8), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", _AT, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
    )
    op.create_table(
        "victim_images",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("case_id", _ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("entry_row", _ID, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["victim_cases.id"]),
        sa.ForeignKeyConstraint(["entry_row"], ["hash_entries.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "position"),
        sa.UniqueConstraint("entry_row"),
    )
    op.create_index("ix_victim_images_case_id", "victim_images", ["case_id"])
    op.create_table(
        "match_reports",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("platform_id", _ID, nullable=False),
        sa.Column("entry_row", _ID, nullable=False),
        sa.Column("content_ref", sa.String(length=200), nullable=False),
        sa.Column("distance", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("review", sa.String(length=16), nullable=False),
        sa.Column("reviewed_by", sa.String(length=100), nullable=True),
        sa.Column("reviewed_at", _AT, nullable=True),
        sa.Column("reported_at", _AT, nullable=False),
        sa.Column("updated_at", _AT, nullable=False),
        sa.Column("due_at", _AT, nullable=True),
        sa.Column("escalated_at", _AT, nullable=True),
        sa.Column("resolved_at", _AT, nullable=True),
        sa.ForeignKeyConstraint(["platform_id"], ["platforms.id"]),
        sa.ForeignKeyConstraint(["entry_row"], ["hash_entries.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform_id", "entry_row", "content_ref"),
    )
    op.create_index("ix_match_reports_platform_id", "match_reports", ["platform_id"])
    op.create_index("ix_match_reports_entry_row", "match_reports", ["entry_row"])
    op.create_index("ix_match_reports_review", "match_reports", ["review"])
    op.create_index("ix_match_reports_due_at", "match_reports", ["due_at"])
    op.create_table(
        "hash_trust",
        sa.Column("entry_row", _ID, autoincrement=False, nullable=False),
        sa.Column("confirmed", sa.Integer(), nullable=False),
        sa.Column("false_positives", sa.Integer(), nullable=False),
        sa.Column("window_start", _AT, nullable=False),
        sa.Column("window_reports", sa.Integer(), nullable=False),
        sa.Column("quarantined_at", _AT, nullable=True),
        sa.Column("quarantine_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["entry_row"], ["hash_entries.id"]),
        sa.PrimaryKeyConstraint("entry_row"),
    )
    op.create_table(
        "takedown_status",
        sa.Column("entry_row", _ID, autoincrement=False, nullable=False),
        sa.Column("state", sa.String(length=3), nullable=False),
        sa.Column("platform", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("updated_at", _AT, nullable=False),
        sa.ForeignKeyConstraint(["entry_row"], ["hash_entries.id"]),
        sa.PrimaryKeyConstraint("entry_row", "state", "platform"),
    )


def downgrade() -> None:
    for table in ("takedown_status", "hash_trust", "match_reports", "victim_images", "victim_cases"):
        op.drop_table(table)
