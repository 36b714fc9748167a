"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("alarms",
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("code", sa.String(length=64), nullable=False),
    sa.Column("severity", sa.String(length=16), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Column("detail", sa.Text(), nullable=False),
    sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint("id")
    )
    op.create_table("directory_versions",
    sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
    sa.Column("compact", sa.Text(), nullable=False),
    sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("source", sa.String(length=500), nullable=False),
    sa.PrimaryKeyConstraint("version")
    )
    op.create_table("inbox",
    sa.Column("message_id", sa.String(length=36), nullable=False),
    sa.Column("kind", sa.String(length=64), nullable=False),
    sa.Column("sender", sa.String(length=32), nullable=False),
    sa.Column("recipient", sa.String(length=32), nullable=False),
    sa.Column("case_ref", sa.String(length=128), nullable=True),
    sa.Column("created", sa.String(length=32), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("payload", sa.Text(), nullable=False),
    sa.Column("jws", sa.Text(), nullable=False),
    sa.Column("jws_sha256", sa.String(length=64), nullable=False),
    sa.Column("jwe_sha256", sa.String(length=64), nullable=False),
    sa.Column("sender_kid", sa.String(length=64), nullable=False),
    sa.Column("receipt", sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint("message_id")
    )
    op.create_table("officers",
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
    sa.Column("name", sa.String(length=200), nullable=False),
    sa.Column("role", sa.String(length=32), nullable=False),
    sa.Column("desk", sa.String(length=16), nullable=False),
    sa.Column("token_sha256", sa.String(length=64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("token_sha256")
    )
    op.create_table("audit_log",
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("officer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
    sa.Column("actor", sa.String(length=100), nullable=False),
    sa.Column("action", sa.String(length=64), nullable=False),
    sa.Column("target", sa.String(length=200), nullable=False),
    sa.Column("detail", sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(["officer_id"], ["officers.id"], ),
    sa.PrimaryKeyConstraint("id")
    )
    op.create_table("outbox",
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
    sa.Column("message_id", sa.String(length=36), nullable=False),
    sa.Column("kind", sa.String(length=64), nullable=False),
    sa.Column("sender", sa.String(length=32), nullable=False),
    sa.Column("recipient", sa.String(length=32), nullable=False),
    sa.Column("case_ref", sa.String(length=128), nullable=True),
    sa.Column("payload", sa.Text(), nullable=False),
    sa.Column("jws", sa.Text(), nullable=False),
    sa.Column("jwe", sa.LargeBinary(), nullable=False),
    sa.Column("jws_sha256", sa.String(length=64), nullable=False),
    sa.Column("jwe_sha256", sa.String(length=64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("officer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("last_error_code", sa.String(length=64), nullable=True),
    sa.Column("claimed_by", sa.String(length=64), nullable=True),
    sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("receipt", sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(["officer_id"], ["officers.id"], ),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("message_id")
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_due", ["status", "next_attempt_at"], unique=False)



def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_due")

    op.drop_table("outbox")
    op.drop_table("audit_log")
    op.drop_table("officers")
    op.drop_table("inbox")
    op.drop_table("directory_versions")
    op.drop_table("alarms")
